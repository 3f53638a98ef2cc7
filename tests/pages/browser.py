"""Headless Chromium (Debian's package) driving the app served by a real gunicorn.

Every page the browser opens is watched: a console error, an uncaught exception, or a request to
any host but the app's fails the test. Screenshots (desktop and phone) go to SCREENSHOTS_DIR.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
# `make screenshots` refreshes the README's pictures in docs/screenshots/; a plain test run writes
# under tests/artifacts/ (ignored), so running the tests leaves the work tree clean
SCREENSHOTS = ROOT / os.environ.get("SCREENSHOTS_DIR", "tests/artifacts/screenshots")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# shared/notes/browser-tests.md: without the background-networking flags the closed network
# refuses Chromium's own connections many at a time
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    """The Debian chromium binary; fails the test (never skips) when it is missing."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "browser tests need Debian's `chromium` on PATH and it is missing: run "
            "`sh tests/pages/ensure_chromium.sh` (apt-get install -y chromium) as `make test` "
            "does",
            pytrace=False,
        )
    return path


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(database_url: str, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Serve webapp.wsgi:app with gunicorn on a free port; yields its base URL."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "browser-tests",
           **(extra_env or {})}
    gunicorn_bin = str(Path(sys.executable).with_name("gunicorn"))
    log = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this block, closed in finally
    process = subprocess.Popen(
        [gunicorn_bin, "-c", "python:webapp.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4", "--access-logfile", "-", "webapp.wsgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"gunicorn exited: {log.read().decode(errors='replace')[-3000:]}")
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass  # workers still booting
            if time.monotonic() > deadline:
                pytest.fail("gunicorn did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


class Watch:
    """What went wrong in the browser: console errors, page errors, foreign requests."""

    def __init__(self, base: str) -> None:
        self.host = urlsplit(base).netloc
        self.problems: list[str] = []

    def attach(self, context) -> None:
        """Watch every page of a browser context and refuse requests to other hosts."""

        def route(route) -> None:
            url = route.request.url
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob") or parts.netloc == self.host:
                route.continue_()
            else:
                self.problems.append(f"request to another host: {url}")
                route.abort()

        context.route("**/*", route)
        context.on("page", self._page)

    def _page(self, page) -> None:
        page.on("console", lambda msg: msg.type == "error"
                and self.problems.append(f"console error on {page.url}: {msg.text}"))
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def check(self) -> None:
        """Fail when anything went wrong."""
        assert not self.problems, "\n".join(self.problems)


def screenshot(page, name: str) -> None:
    """Save the page at desktop and at phone width (full page) under SCREENSHOTS."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(size or DESKTOP)
