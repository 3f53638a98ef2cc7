"""Fixtures for the real transport's tests, which run in .venv-neonize (`make test` does that).

The main environment (Dagster, protobuf < 7) cannot hold neonize, so there this folder is not
collected; in .venv-neonize a missing neonize would collect nothing and fail the run (pytest
exits 5). WhatsApp is made unreachable on purpose: every client dials through a SOCKS proxy on a
closed local port, so the tests behave the same on a machine with internet access.
"""

import importlib.util
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from tests.neonize.offline import closed_port
from tests.neonize.web import Web

if importlib.util.find_spec("neonize") is None:
    collect_ignore_glob = ["*"]


@pytest.fixture(scope="session")
def nz_database_url(pg_server_url: str, template_database: str) -> Iterator[str]:
    """One migrated database shared by this folder's tests (its session store included)."""
    from tests.conftest import create_database, drop_database

    url = create_database(pg_server_url, template_database)
    yield url
    drop_database(pg_server_url, url)


@pytest.fixture
def nz_env(nz_database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment of an offline neonize device host on the shared database."""
    env = {
        "DATABASE_URL": nz_database_url,
        "TRANSPORT": "neonize",
        "WHATSAPP_PROXY": f"socks5://127.0.0.1:{closed_port()}",
        "TYPING_SECONDS_PER_CHAR": "0",
        "CHECK_ON_WHATSAPP": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def factory(nz_env: dict[str, str], nz_database_url: str) -> Iterator:
    """A NeonizeFactory on the shared database, closed after the test."""
    from device_host.transports.neonize_transport import NeonizeFactory
    from dripfleet.settings import load_settings

    made = NeonizeFactory(load_settings(), nz_database_url)
    yield made
    made.close()


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local media server (tests/neonize/web.py); its requests are recorded in Web.hits.

    It listens on 127.0.0.1, so media downloads may reach private addresses meanwhile."""
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Web)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Web.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
