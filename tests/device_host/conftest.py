"""Fixtures for the device host: a fleet builder and in-process workers on the simulated network."""

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from sqlalchemy import Engine, text

from device_host.transports.simulated import SimulatedFactory
from device_host.worker import Worker
from dripfleet.settings import Settings, load_settings

_phones = itertools.count(1000)

# fast timings so the suite stays quick
FAST_ENV = {
    "HEALTH_CHECK_SECONDS": "0.3",
    "SIM_LATENCY_SECONDS": "0.02",
    "SIM_PAIR_SECONDS": "0.3",
    "RETRY_BACKOFF_SECONDS": "0.1",
    "MIN_DELAY_SECONDS": "0",
    "MAX_DELAY_SECONDS": "0",
}


class Fleet:
    """Builds users' devices, leads and queued messages straight in the test database."""

    def __init__(self, engine: Engine, make_user: Callable[..., dict]) -> None:
        self.engine = engine
        self.make_user = make_user

    def sql(self, sql: str, **params) -> list:
        with self.engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return result.all() if result.returns_rows else []

    def user(self, **kw) -> int:
        return self.make_user(**kw)["id"]

    def device(self, user_id: int, min_delay: float = 0.0, max_delay: float = 0.0,
               status: str = "online", **columns) -> int:
        cols = {"user_id": user_id, "name": f"dev{next(_phones)}", "status": status,
                "min_delay_s": min_delay, "max_delay_s": max_delay, **columns}
        names = ", ".join(cols)
        values = ", ".join(f":{c}" for c in cols)
        sql = f"INSERT INTO devices ({names}) VALUES ({values}) RETURNING id"
        return self.sql(sql, **cols)[0][0]

    def lead(self, user_id: int, phone: str | None = None) -> tuple[int, str]:
        phone = phone or f"+6012{next(_phones):07d}"
        lead_id = self.sql(
            "INSERT INTO leads (user_id, phone) VALUES (:u, :p) RETURNING id", u=user_id, p=phone
        )[0][0]
        return lead_id, phone

    def queue(self, user_id: int, device_id: int, count: int = 1, *, lead: tuple | None = None,
              pinned: bool = False, status: str = "queued", body: str = "hello") -> list[int]:
        job = self.sql(
            "INSERT INTO broadcast_jobs (user_id, source, total_count) VALUES (:u, 'api', :n)"
            " RETURNING id", u=user_id, n=count)[0][0]
        ids = []
        for n in range(count):
            lead_id, phone = lead or self.lead(user_id)
            ids.append(self.sql(
                "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source,"
                " dedupe_key, pinned, status, broadcast_job_id) VALUES (:u, :d, :l, :p, :b, 'api',"
                " :k, :pin, :s, :j) RETURNING id",
                u=user_id, d=device_id, l=lead_id, p=phone, b=f"{body} {n}",
                k=f"api:{time.time_ns()}:{n}:{device_id}", pin=pinned, s=status, j=job)[0][0])
        return ids

    def statuses(self) -> dict[str, int]:
        return dict(self.sql("SELECT status, count(*) FROM message_queue GROUP BY status"))

    def deliveries(self, device_id: int | None = None) -> list:
        return self.sql(
            "SELECT device_id, message_id, phone, started_at, delivered_at FROM sim_deliveries"
            " WHERE CAST(:d AS bigint) IS NULL OR device_id = :d ORDER BY device_id, id",
            d=device_id)

    def wait_until(self, check: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                errors = self.sql("SELECT DISTINCT status, last_error FROM message_queue")
                raise AssertionError(f"timed out after {timeout}s; {self.statuses()} {errors}")
            time.sleep(0.05)

    def settled(self) -> bool:
        left = self.sql("SELECT count(*) FROM message_queue WHERE status IN ('queued','sending')")
        return left[0][0] == 0


@pytest.fixture
def fast_settings(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Settings:
    for key, value in FAST_ENV.items():
        monkeypatch.setenv(key, value)
    return load_settings()


@pytest.fixture
def fleet(engine: Engine, make_user) -> Fleet:
    return Fleet(engine, make_user)


@pytest.fixture
def run_worker(database_url: str, fast_settings: Settings) -> Iterator[Callable[..., Worker]]:
    """Start in-process workers on threads; every one is stopped gracefully at the end."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(owner: str = "test/w0", max_devices: int = 50, pool_size: int = 20,
              **overrides) -> Worker:
        settings = replace(fast_settings, **overrides)
        worker = Worker(settings, database_url, owner, max_devices, pool_size,
                        factory=SimulatedFactory(settings, database_url))
        thread = threading.Thread(target=worker.run, name=owner, daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, _thread in started:
        worker.request_stop()
    for _worker, thread in started:
        thread.join(timeout=30)
