"""The supervisor (`dripfleet device-host`): a pool of worker processes, restarted with backoff.

It spawns workers (multiprocessing, spawn start method: no inherited threads or connections, and
never a worker's stdout as a channel), grows the pool as devices appear, restarts any worker that
exits or dies, and on each health tick heartbeats its `device_hosts` row, rescues messages whose
lease expired and moves messages off unusable devices. SIGTERM / SIGINT stop everything within
30 s: workers finish or hand back their sends and release their leases; whatever a stuck worker
held is handed back after it is killed.
"""

import logging
import math
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_for
from multiprocessing.process import BaseProcess
from typing import Any

from device_host.fair_share import (
    LIVE_HEALTH_INTERVALS,
    WorkerShare,
    host_share,
    moves_per_second,
    refill,
    share_slack,
    worker_quotas,
)
from device_host.health_http import serve_health
from device_host.worker import pool_share, run_worker
from dripfleet import metrics, metrics_dir
from dripfleet.database import get_engine
from dripfleet.database_outage import Backoff, is_outage
from dripfleet.settings import Settings
from dripfleet.stores import hosts, risk, sending

log = logging.getLogger(__name__)

# the whole stop must fit in 30 s: workers get this long, then are killed
STOP_GRACE_SECONDS = 25.0
# restart backoff: first restart after RESTART_MIN_SECONDS, doubling up to RESTART_MAX_SECONDS;
# a worker that lived RESTART_RESET_SECONDS counts as healthy again
RESTART_MIN_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0
RESTART_RESET_SECONDS = 60.0


@dataclass
class WorkerSlot:
    """One worker position in the pool: the current process and its restart history."""

    index: int
    owner: str
    process: BaseProcess | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures_in_row: int = 0
    restart_at: float | None = None
    exit_codes: list[int] = field(default_factory=list)
    share: WorkerShare | None = None  # its quota of the host's fair share, in shared memory


class Supervisor:
    """Runs and watches one host's worker processes."""

    def __init__(self, settings: Settings, database_url: str, port: int | None = None) -> None:
        self.settings = settings
        self.database_url = database_url
        self.port = settings.device_host_port if port is None else port
        self.hostname = socket.gethostname()
        self.host_id = f"{self.hostname}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.engine = get_engine(database_url, pool_size=2)
        self.context = multiprocessing.get_context("spawn")
        self.slots: list[WorkerSlot] = []
        self.stopping = threading.Event()
        self.server: Any = None
        self.started_at = time.time()
        # workers that died while the database was away: their messages are rescued later
        self._dead_owners: set[str] = set()
        self.database_up = True
        self._outage = Backoff(first=0.5, most=10.0)
        # the workers' metric files (dripfleet/metrics_dir.py), made when the host runs
        self.metrics_dir: Any = None
        # the fair share (device_host/fair_share.py): recomputed each health tick
        self.startable = 0
        self.live_hosts = 1
        self.share = 0
        self.held = 0
        self.move_budget = self.context.Value("d", 0.0)
        self._refilled_at = time.monotonic()

    # -- pool -------------------------------------------------------------------------------------

    def _rebalance(self) -> None:
        """Recompute this host's fair share from the live hosts, grow the pool to drive it and
        tell each worker its part (and whether to give devices up)."""
        fresh_s = LIVE_HEALTH_INTERVALS * self.settings.health_check_seconds
        with self.engine.begin() as conn:
            counts = hosts.fair_share_counts(conn, self.host_id, fresh_s)
        self.startable, self.held = counts["startable"], counts["held"]
        self.live_hosts = max(counts["live_hosts"], 1)  # it counts even if its heartbeat was late
        self.share = host_share(self.startable, self.live_hosts)
        per_worker = self.settings.devices_per_worker
        over = self.held > self.share + share_slack(self.share)
        wanted = max(1, min(math.ceil(self.share / per_worker),
                            self.settings.device_host_max_workers))
        quotas = worker_quotas(self.share, max(wanted, len(self.slots)), per_worker)
        for slot, quota in zip(self.slots, quotas, strict=False):
            assert slot.share is not None
            slot.share.quota.value = quota
            slot.share.keep.value = quota if over else per_worker
        self._grow(wanted, quotas, over)

    def _grow(self, wanted: int, quotas: list[int], over: bool) -> None:
        while len(self.slots) < wanted:
            index = len(self.slots)
            keep = quotas[index] if over else self.settings.devices_per_worker
            share = WorkerShare.create(self.context, quotas[index], keep, self.move_budget)
            slot = WorkerSlot(index, f"{self.host_id}/w{index}", share=share)
            self.slots.append(slot)
            self._spawn(slot)

    def _refill_moves(self) -> None:
        now = time.monotonic()
        per_second = moves_per_second(self.settings.device_moves_per_minute, self.live_hosts)
        refill(self.move_budget, per_second, now - self._refilled_at,
               self.settings.health_check_seconds)
        self._refilled_at = now

    def _spawn(self, slot: WorkerSlot) -> None:
        share = pool_share(self.settings.worker_pool_size, len(self.slots))
        process = self.context.Process(
            target=run_worker, name=f"device-worker-{slot.index}",
            args=(self.database_url, slot.owner, self.settings.devices_per_worker, share,
                  self.settings.log_level, slot.share),
        )
        with metrics_dir.exported(self.metrics_dir):
            process.start()
        slot.process, slot.started_at, slot.restart_at = process, time.monotonic(), None
        log.info("worker %s started (pid %s)", slot.owner, process.pid)

    def _reap(self, slot: WorkerSlot) -> None:
        process = slot.process
        assert process is not None
        process.join(timeout=0)
        code = process.exitcode if process.exitcode is not None else -1
        slot.exit_codes = (slot.exit_codes + [code])[-10:]
        lived = time.monotonic() - slot.started_at
        slot.failures_in_row = 0 if lived >= RESTART_RESET_SECONDS else slot.failures_in_row + 1
        delay = min(RESTART_MAX_SECONDS, RESTART_MIN_SECONDS * 2 ** (slot.failures_in_row - 1))
        slot.restart_at = time.monotonic() + (0 if slot.failures_in_row == 0 else delay)
        slot.process = None
        if self.metrics_dir is not None and process.pid:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(process.pid, str(self.metrics_dir))
        log.warning("worker %s exited with %s after %.1fs; restarting in %.1fs",
                    slot.owner, code, lived, slot.restart_at - time.monotonic())
        # it is dead: hand back what it was sending now instead of waiting for the lease
        # (while the database is away, on the next health tick that reaches it)
        self._dead_owners.add(slot.owner)
        self._database("rescuing a dead worker's messages", self._rescue_dead)

    def _rescue_dead(self) -> None:
        owners = sorted(self._dead_owners)
        with self.engine.begin() as conn:
            sending.rescue_messages(conn, owners)
        self._dead_owners.difference_update(owners)

    def _database(self, what: str, action: Any) -> bool:
        """Run a database action; an outage is logged once and reported by /healthz."""
        try:
            action()
        except Exception as error:
            if not is_outage(error):
                raise
            if self.database_up:
                log.warning("database unavailable (%s: %s); retrying", what,
                            type(error).__name__)
            self.database_up = False
            return False
        if not self.database_up:
            log.warning("the database is back")
        self.database_up = True
        return True

    # -- health ---------------------------------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "pid": os.getpid(),
            "port": self.server.server_address[1] if self.server else None,
            "fair_share": {"share": self.share, "held": self.held, "startable": self.startable,
                           "live_hosts": self.live_hosts},
            "workers": [
                {"index": s.index, "owner": s.owner,
                 "pid": s.process.pid if s.process else None,
                 "alive": bool(s.process and s.process.is_alive()),
                 "restarts": s.restarts, "exit_codes": s.exit_codes}
                for s in self.slots
            ],
        }

    def health_report(self) -> tuple[int, dict[str, Any]]:
        """The /healthz answer: 200 when every worker is alive and the database answers, else
        503. Device counts by status only: per-user details are behind the web app's auth."""
        info = self._info()
        devices: dict[str, int] = {}

        def count() -> None:
            with self.engine.begin() as conn:
                rows = hosts.host_devices(conn, [s.owner for s in self.slots])
            devices.update({row["status"]: int(row["devices"]) for row in rows})

        database = "up" if self._database("health check", count) else "down"
        alive = all(w["alive"] for w in info["workers"]) and not self.stopping.is_set()
        ok = alive and database == "up"
        body = {"status": "ok" if ok else "degraded", "database": database,
                "host_id": self.host_id,
                "uptime_s": round(time.time() - self.started_at, 1), **info,
                "devices": devices}
        return (200 if ok else 503), body

    def _health_tick(self) -> None:
        with self.engine.begin() as conn:
            hosts.heartbeat_host(conn, self.host_id, self._info())
        if self._dead_owners:
            self._rescue_dead()
        with self.engine.begin() as conn:
            rescued = sending.rescue_messages(conn)
        with self.engine.begin() as conn:
            moved = sending.failover_messages(conn, self.settings.queue_buffer_size)
        if rescued["queued"] or rescued["failed"] or moved:
            log.info("rescued %s expired messages, moved %d off unusable devices", rescued, moved)
        with self.engine.begin() as conn:
            lifted = risk.lift_temporary_bans(conn)  # the ban-risk guard: over, so reconnect
        if lifted:
            log.info("temporary bans over: devices %s reconnect", lifted)
        self._rebalance()

    # -- run --------------------------------------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        """Signal handler: stop gracefully."""
        self.stopping.set()

    def run(self) -> int:
        """Run until SIGTERM / SIGINT; returns the exit status."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self.metrics_dir = metrics_dir.make_dir("device-host")
        if self.port >= 0:
            self.server = serve_health(
                self.port, self.health_report, metrics_token=self.settings.metrics_token,
                metrics_body=lambda: metrics.render(self.metrics_dir))
            log.info("device host %s: /healthz and /metrics on port %s", self.host_id,
                     self.server.server_address[1])
        # a host may start while the database is still coming up (a deploy racing a restart)
        while not self.stopping.is_set() and not self._database("starting", self._register):
            self.stopping.wait(self._outage.next_delay())
        self._outage.reset()
        next_tick = time.monotonic() + self.settings.health_check_seconds
        try:
            while not self.stopping.is_set():
                sentinels = [s.process.sentinel for s in self.slots if s.process]
                wait_for(sentinels, timeout=0.25)
                self._refill_moves()
                now = time.monotonic()
                for slot in self.slots:
                    if slot.process is not None and not slot.process.is_alive():
                        self._reap(slot)
                    if (slot.process is None and slot.restart_at is not None
                            and now >= slot.restart_at and not self.stopping.is_set()):
                        slot.restarts += 1
                        self._spawn(slot)
                if now >= next_tick:
                    if self._database("health tick", self._health_tick):
                        self._outage.reset()
                        next_tick = now + self.settings.health_check_seconds
                    else:
                        next_tick = now + min(self._outage.next_delay(),
                                              self.settings.health_check_seconds)
        finally:
            self._stop_workers()
        return 0

    def _register(self) -> None:
        with self.engine.begin() as conn:
            hosts.upsert_host(conn, self.host_id, self.hostname, os.getpid(), {})
        self._rebalance()

    def _stop_workers(self) -> None:
        log.info("device host %s stopping", self.host_id)
        live = [s.process for s in self.slots if s.process and s.process.is_alive()]
        for process in live:
            if process.pid:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in live:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        for process in live:
            if process.is_alive():
                log.error("worker pid %s did not stop in time; killing it", process.pid)
                process.kill()
                process.join(timeout=2)
        owners = [s.owner for s in self.slots]

        def hand_back() -> None:
            with self.engine.begin() as conn:
                sending.rescue_messages(conn, owners)
                hosts.release_owners(conn, owners)
                hosts.stop_host(conn, self.host_id)

        try:
            # with the database away, the leases expire and another host rescues them
            self._database("handing back on stop", hand_back)
        finally:
            if self.server is not None:
                self.server.shutdown()
            metrics_dir.remove_dir(self.metrics_dir)
        log.info("device host %s stopped", self.host_id)


def run_device_host(settings: Settings, database_url: str) -> int:
    """Entry point of `dripfleet device-host`."""
    return Supervisor(settings, database_url).run()
