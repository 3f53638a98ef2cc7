"""Crash matrix, web app row: kill -9 of gunicorn in the middle of a large CSV import.

The import runs in one transaction (the request's), merged in chunks by a writer thread on that
same connection, and commits only when the request's transaction ends. A SIGKILL of the worker
and the master while rows are being written must leave no lead behind (PostgreSQL rolls the open
transaction back when the connection dies), the database must serve on, and a fresh gunicorn
must import the retried file completely.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import requests
from sqlalchemy import Engine

from dripfleet.csv_import import FIRST_CHUNK_ROWS
from dripfleet.stores import users
from tests.conftest import scalar

ROOT = Path(__file__).resolve().parents[2]
ROWS = 200_000
GROWN_BYTES = 1 << 20  # the leads heap grew by 1 MB: thousands of rows written, none committed
assert ROWS > FIRST_CHUNK_ROWS  # the file is merged in at least two chunks
# when the running data-changing statement of another session began: one such statement merges
# each chunk (pg_stat_activity keeps only the start of a long query, so only its first word)
MERGE_STARTED = """
SELECT array_agg(query_start) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND state = 'active' AND query ~* '^\\s*(WITH|INSERT|UPDATE)'
"""


class Gunicorn:
    """`gunicorn -c python:webapp.gunicorn_conf webapp.wsgi:app` on a free port, one worker."""

    def __init__(self, database_url: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "crash-tests"}
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "-c", "python:webapp.gunicorn_conf",
             "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "webapp.wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        """Until /healthz answers 200 (the worker booted and reached the database)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if requests.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass  # still booting
            time.sleep(0.2)
        pytest.fail(f"gunicorn did not answer /healthz within 60 s: {self.output()}")

    def kill_9(self) -> list[int]:
        """SIGKILL every worker, then the master: nothing gets to clean up. Returns the pids."""
        master = psutil.Process(self.process.pid)
        pids = [child.pid for child in master.children(recursive=True)] + [master.pid]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        return pids

    def output(self) -> str:
        """What gunicorn printed so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self) -> None:
        """Terminate if still running; close the log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(database_url: str) -> Iterator[Gunicorn]:
    """A started, ready gunicorn; stopped at the end whatever happened to it."""
    server = Gunicorn(database_url)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _csv(rows: int) -> bytes:
    lines = ["phone,name,city"]
    lines += [f"+6012{1_000_000 + i},Lead {i},Kuala Lumpur" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _post_import(base: str, token: str, data: bytes) -> requests.Response:
    return requests.post(f"{base}/api/leads/import", headers={"Authorization": f"Bearer {token}"},
                         files={"file": ("leads.csv", data, "text/csv")},
                         data={"niche": "crash"}, timeout=300)


def test_kill_9_of_the_web_app_mid_import_leaves_all_or_nothing(database_url: str,
                                                                 engine: Engine) -> None:
    with engine.begin() as conn:
        user = users.create_user(conn, "importer@example.com", "correct horse battery")
        token, _ = users.create_token(conn, user["id"], "import")
    data = _csv(ROWS)
    heap = "SELECT pg_relation_size('leads')"
    empty_heap = int(scalar(engine, heap))
    outcome: dict[str, object] = {}

    with gunicorn(database_url) as server:
        def upload() -> None:
            try:
                outcome["response"] = _post_import(server.base, token, data)
            except requests.RequestException as error:
                outcome["error"] = error

        client = threading.Thread(target=upload)
        client.start()
        # mid-import, seen from the database: the first chunk is merged (its rows are in the
        # heap) and the second chunk's merge is running, and still no lead is visible: had a
        # chunk been committed on its own, its leads would be counted here
        merges: set[object] = set()
        deadline = time.monotonic() + 180
        while len(merges) < 2 or int(scalar(engine, heap)) < empty_heap + GROWN_BYTES:
            assert "response" not in outcome and "error" not in outcome, outcome
            assert time.monotonic() < deadline, f"no second merge seen: {server.output()}"
            merges.update(scalar(engine, MERGE_STARTED) or [])
            time.sleep(0.05)
        assert scalar(engine, "SELECT count(*) FROM leads WHERE user_id = :u", u=user["id"]) == 0
        killed = server.kill_9()
        client.join(timeout=60)
        assert len(killed) >= 2  # the worker that held the request, and the master

    leads = "SELECT count(*) FROM leads WHERE user_id = :u"
    if "response" in outcome:  # the import had finished between the look and the kill
        assert outcome["response"].status_code == 200  # type: ignore[union-attr]
        assert scalar(engine, leads, u=user["id"]) == ROWS
    else:
        # never half-applied: the dead connection's transaction was rolled back as a whole
        assert scalar(engine, leads, u=user["id"]) == 0

    # the database serves on, and a fresh web app imports the retried file completely (it waits
    # for the dead request's backend to notice its client is gone and release the import lock)
    assert scalar(engine, "SELECT 1") == 1
    with gunicorn(database_url) as server:
        retry = _post_import(server.base, token, data)
        assert retry.status_code == 200, retry.text[:2000]
        report = retry.json()
    assert report["rejected_count"] == 0
    assert report["inserted"] + report["unchanged"] + report["updated"] == ROWS
    assert scalar(engine, leads, u=user["id"]) == ROWS
    assert scalar(engine, "SELECT count(DISTINCT phone) FROM leads WHERE user_id = :u",
                  u=user["id"]) == ROWS
    assert scalar(engine, "SELECT count(*) FROM leads WHERE user_id = :u AND "
                          "niches = ARRAY['crash'] AND attributes ->> 'city' = 'Kuala Lumpur'",
                  u=user["id"]) == ROWS
