"""Crash drills: a real device host sends a queue while a fault hits it, on a PostgreSQL of its own.

Each drill queues messages on a few simulated devices, starts `dripfleet device-host`, waits until
sending is under way, applies one fault (kill -9 of a worker or of the supervisor, a PostgreSQL
restart, PostgreSQL down for a while), lets the host finish with no hand on it, and measures:
messages lost, messages delivered twice, sends in flight at the fault, seconds from the end of the
fault to the next delivery, and whether the host is still running. The tests in
test_crash_matrix.py assert on these figures; bench/faults.py prints them.
"""

import itertools
import json
import os
import signal
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import text

from dripfleet.database import dispose_engines, get_engine
from dripfleet.stores import users
from tests.device_host.hostproc import HostProcess
from tests.own_postgres import OwnPostgres

FAULTS = ("worker_kill9", "supervisor_kill9", "postgres_restart", "postgres_down")
_emails = itertools.count(1)


@dataclass
class DrillResult:
    """What one fault cost."""

    fault: str
    messages: int
    lost: int
    duplicates: int
    in_flight_at_fault: int
    recovery_s: float  # end of the fault → first delivery after it
    host_running: bool
    outage_s: float = 0.0

    def line(self) -> str:
        """One JSON line for logs and the benchmark."""
        return json.dumps(asdict(self))


class _Drill:
    def __init__(self, folder: Path, devices: int, per_device: int) -> None:
        self.folder = folder
        self.pg = OwnPostgres()
        self.url = self.pg.migrated()
        self.engine = get_engine(self.url)
        with self.engine.begin() as conn:
            user = users.create_user(conn, f"drill{next(_emails)}@example.com", "drill pw 1")
        self.user = user["id"]
        self.messages = self._queue(devices, per_device)
        self.hosts: list[HostProcess] = []

    def sql(self, statement: str, **params) -> list:
        with self.engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return result.all() if result.returns_rows else []

    def _queue(self, devices: int, per_device: int) -> int:
        for n in range(devices):
            device = self.sql(
                "INSERT INTO devices (user_id, name, status, min_delay_s, max_delay_s)"
                " VALUES (:u, :n, 'online', 0.02, 0.05) RETURNING id",
                u=self.user, n=f"drill {n}")[0][0]
            # one lead and one message each, pinned to the device (api messages)
            self.sql(
                "WITH l AS (INSERT INTO leads (user_id, phone)"
                "           SELECT :u, '+6015' || lpad((:base + g)::text, 8, '0')"
                "           FROM generate_series(1, :per) g RETURNING id, phone)"
                " INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source,"
                "                            dedupe_key, pinned)"
                " SELECT :u, :d, l.id, l.phone, 'drill ' || l.phone, 'api', 'drill:' || l.phone,"
                "        true FROM l",
                u=self.user, d=device, per=per_device, base=(n + 1) * 100_000)
        return devices * per_device

    def start_host(self, **env: str) -> HostProcess:
        host = HostProcess(self.url, self.folder / f"host{len(self.hosts)}.log",
                           SIM_LATENCY_SECONDS="0.1", DEVICES_PER_WORKER="2", **env)
        self.hosts.append(host)
        host.wait_info(self.engine, timeout=60)
        return host

    def count(self, statement: str) -> int:
        return int(self.sql(statement)[0][0])

    def wait(self, done, what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if done():
                    return
            except Exception:  # noqa: BLE001, S110 - the database may still be coming back
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout}s\n"
                                     + "\n".join(h.tail() for h in self.hosts))
            time.sleep(0.05)

    def deliveries(self) -> int:
        return self.count("SELECT count(*) FROM sim_deliveries")

    def close(self) -> None:
        for host in self.hosts:
            host.kill()
        dispose_engines()
        self.pg.close()


def run_drill(fault: str, devices: int = 4, per_device: int = 60,
              outage_s: float = 30.0) -> DrillResult:
    """Run one drill (FAULTS) and return its figures."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}")
    folder = Path(tempfile.mkdtemp(prefix=f"dripfleet-drill-{fault}-"))
    drill = _Drill(folder, devices, per_device)
    try:
        host = drill.start_host()
        drill.wait(lambda: drill.deliveries() >= drill.messages // 5, "sending under way")
        in_flight = drill.count("SELECT count(*) FROM message_queue WHERE status = 'sending'")
        outage = 0.0
        if fault == "worker_kill9":
            victim = host.info(drill.engine)["workers"][0]["pid"]
            os.kill(victim, signal.SIGKILL)
        elif fault == "supervisor_kill9":
            workers = [w["pid"] for w in host.info(drill.engine)["workers"]]
            host.proc.send_signal(signal.SIGKILL)
            host.proc.wait(10)
            # orphaned workers notice and stop by themselves, handing their sends back
            drill.wait(lambda: not any(_alive(pid) for pid in workers), "orphans stopped", 30)
            # the platform restarts the service (Railway, honcho): a new host takes over
            host = drill.start_host()
        elif fault == "postgres_restart":
            drill.pg.restart()
        else:
            drill.pg.stop()
            started = time.monotonic()
            time.sleep(outage_s)
            drill.pg.start()
            outage = time.monotonic() - started
        fault_over = time.monotonic()
        before = _safe(drill.deliveries)
        drill.wait(lambda: drill.deliveries() > before, "a delivery after the fault")
        recovery = time.monotonic() - fault_over
        drill.wait(lambda: drill.count(
            "SELECT count(*) FROM message_queue WHERE status IN ('queued', 'sending')") == 0,
            "every message sent")
        lost = drill.count(
            "SELECT count(*) FROM message_queue q WHERE NOT EXISTS"
            " (SELECT 1 FROM sim_deliveries d WHERE d.message_id = q.id)")
        duplicates = drill.count(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM sim_deliveries"
            " GROUP BY message_id) x")
        return DrillResult(fault, drill.messages, lost, duplicates, in_flight,
                           round(recovery, 2), host.proc.poll() is None, round(outage, 1))
    finally:
        drill.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its new parent) counts as stopped
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _safe(count) -> int:
    while True:
        try:
            return count()
        except Exception:  # noqa: BLE001 - the database is coming back
            time.sleep(0.1)
