"""Fixtures for the webhooks tests: endpoints, events through the outbox, dispatcher processes."""

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.webhooks.receiver import Answer, Receiver, ok

# a quick retry schedule (first retry after 0.2 s) and a short safety poll
FAST = {
    "WEBHOOK_RETRY_FIRST_SECONDS": "0.2",
    "WEBHOOK_POLL_SECONDS": "0.5",
    "ALLOW_PRIVATE_URLS": "true",
    "LOG_LEVEL": "INFO",
    # /healthz and /metrics on a free port: several dispatchers run at once here
    "WEBHOOKS_PORT": "0",
}


def new_secret() -> str:
    """A Standard Webhooks secret, as the API makes them."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def add_endpoint(engine: Engine, user_id: int, url: str, secret: str | None = None,
                 **columns) -> tuple[int, str]:
    """An enabled endpoint taking every event; returns (id, secret)."""
    secret = secret or new_secret()
    names = ["user_id", "url", "secret", *columns]
    with engine.begin() as conn:
        endpoint_id = conn.execute(
            text(f"INSERT INTO webhook_endpoints ({', '.join(names)})"
                 f" VALUES ({', '.join(':' + n for n in names)}) RETURNING id"),
            {"user_id": user_id, "url": url, "secret": secret, **columns}).scalar_one()
    return endpoint_id, secret


def emit(engine: Engine, user_id: int, count: int, event_type: str = "message.sent",
         start: int = 0) -> int:
    """Write count events through the outbox function (webhook_emit), in one statement."""
    data = [json.dumps({"id": start + i, "status": "sent"}) for i in range(count)]
    with engine.begin() as conn:
        return conn.execute(
            text("SELECT webhook_emit(:users, :types, :ats, CAST(:data AS jsonb[]))"),
            {"users": [user_id] * count, "types": [event_type] * count,
             "ats": [datetime.now(UTC)] * count, "data": data}).scalar_one()


def deliveries(engine: Engine) -> list[dict]:
    """Every delivery, oldest first."""
    with engine.begin() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT id, event_id, status, attempts, last_status_code, last_error, endpoint_id"
            " FROM webhook_deliveries ORDER BY id")).mappings()]


def wait_for(condition: Callable[[], bool], timeout: float, what: str,
             check: Callable[[], None] | None = None) -> None:
    """Poll condition until true; fail naming what was awaited (no timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if check:
            check()
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class DispatcherProcess:
    """One real `dripfleet webhooks` process with its log file."""

    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        self.log_path = log_path
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop() / kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dripfleet.cli", "webhooks"],
            env={**os.environ, **FAST, "DATABASE_URL": database_url, **env},
            stdout=self.log, stderr=subprocess.STDOUT)

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"dispatcher exited with {self.proc.returncode}:\n{self.tail()}")

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self.log.close()
        return code

    def kill(self) -> None:
        """kill -9."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])


@pytest.fixture
def dispatchers(tmp_path: Path) -> Iterator[Callable[..., DispatcherProcess]]:
    """Factory of dispatcher processes; whatever still runs at the end is killed."""
    started: list[DispatcherProcess] = []

    def start(database_url: str, **env: str) -> DispatcherProcess:
        process = DispatcherProcess(database_url, tmp_path / f"dispatcher{len(started)}.log",
                                    **env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    """Factory of receivers (secrets to verify with, how to answer); closed at the end."""
    made: list[Receiver] = []

    def make(secrets_: list[str], answer: Answer = ok) -> Receiver:
        made.append(Receiver(secrets_, answer))
        return made[-1]

    yield make
    for server in made:
        server.close()
