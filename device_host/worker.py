"""A worker process: leases devices, keeps one transport session each, and sends their queues.

The main loop is the only code that touches the database for the devices (one connection at a
time, short transactions); sends, session starts and stops run on thread pools because a real
transport blocks. Per device strictly one message is in flight. Claims and outcomes are batched:
one statement claims the next message of every ready device, one records every finished send.

This module owns the loop, its wake-ups, database outages and the shutdown. The rest of the Worker
comes from one mixin per thing it owns: leases.py (device leases), sessions.py (sessions and
pairing), sending.py (claims, sends, outcomes), inbound.py (transport events) and guard.py (the
ban-risk guard). Mixins, not collaborator objects: all the state is read by several parts, so it
lives once, on the Worker, set in __init__ below, and a part calls another by its method name on
self.
"""

import logging
import math
import os
import queue
import signal
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from device_host.device_state import STARTABLE, DeviceState
from device_host.fair_share import WorkerShare
from device_host.guard import Guard
from device_host.inbound import Inbound
from device_host.leases import Leases
from device_host.metrics import LEASES, SESSIONS
from device_host.sending import MEDIA_TIMEOUT_SECONDS, Sending
from device_host.sessions import OFFLINE_RETRY_MAX_SECONDS, PAIRING_TIMEOUT_SECONDS, Sessions
from device_host.transports import open_factory
from device_host.transports.base import TransportFactory
from dripfleet.database import get_engine
from dripfleet.database_outage import Backoff, is_outage
from dripfleet.listener import Listener
from dripfleet.metrics import DATABASE_ERRORS
from dripfleet.public_urls import UrlPolicy
from dripfleet.settings import Settings
from dripfleet.stores import sending as sending_store
from dripfleet.stores.sending import Outcome

__all__ = [
    "DRAIN_SECONDS", "LEASE_PASS_MIN_SECONDS", "MEDIA_TIMEOUT_SECONDS", "OFFLINE_RETRY_MAX_SECONDS",
    "OUTAGE_RETRY_MAX_SECONDS", "PAIRING_TIMEOUT_SECONDS", "STARTABLE", "DeviceState", "Worker",
    "pool_share", "run_worker",
]

log = logging.getLogger(__name__)

# how long a stopping worker lets in-flight sends finish before handing them back
DRAIN_SECONDS = 15.0
# a device-status notification triggers a lease pass at most this often
LEASE_PASS_MIN_SECONDS = 0.5
# while the database is away the loop retries this often at most (with jitter)
OUTAGE_RETRY_MAX_SECONDS = 5.0


class Worker(Leases, Sessions, Sending, Inbound, Guard):
    """One worker process's device loop; its state, which every part reads, is set here."""

    def __init__(
        self, settings: Settings, database_url: str, owner: str, max_devices: int,
        pool_size: int, factory: TransportFactory | None = None,
        share: WorkerShare | None = None,
    ) -> None:
        self.settings = settings
        # the supervisor's fair share and move budget (device_host/fair_share.py); None: no limit
        self.share = share
        self.database_url = database_url
        self.owner = owner
        self.max_devices = max_devices
        self.pool_size = max(1, pool_size)
        self.health_s = settings.health_check_seconds
        self.lease_s = max(3 * self.health_s, 1.0)
        self.engine: Engine = get_engine(database_url, pool_size=3)
        self.factory = factory or open_factory(settings, database_url)
        self.devices: dict[int, DeviceState] = {}
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.outcomes: queue.SimpleQueue = queue.SimpleQueue()
        self.sender = ThreadPoolExecutor(self.pool_size, thread_name_prefix="send")
        self.control = ThreadPoolExecutor(4, thread_name_prefix="session")
        self.in_flight: dict[int, Future] = {}  # message id -> future
        self.sending_device: dict[int, DeviceState] = {}  # message id -> its device
        self._notified: set[int] = set()
        self._notified_all = False
        self._lease_due = True
        self._notify_lock = threading.Lock()
        self._next_lease = 0.0
        self._last_lease = 0.0
        self._next_guard = 0.0  # the ban-risk guard's next scoring (device_host/guard.py)
        self._running = False  # run() is driving the loop (the guard scores only then)
        self._guard_thread: threading.Thread | None = None  # the scoring under way, if any
        self._guard_connection: Any = None  # its database connection, cancelled on stop
        # the lease keeper (device_host/leases.py): renews the messages in flight from its own
        # thread while the loop keeps coming round (_loop_at: when it last did)
        self._keeper: threading.Thread | None = None
        self._keeper_stop = threading.Event()
        self._keeper_gave_up = False
        self._loop_at = time.monotonic()
        self._keywords = tuple(k.upper() for k in settings.opt_out_keywords)
        # queued messages per device, and device status changes
        self.listener = Listener(database_url, self._on_notify, ("message_queue", "devices"))
        self.media_policy = UrlPolicy(allow_private=settings.allow_private_urls)
        # outcomes and events whose database write failed: kept, in order, until it succeeds
        self._unrecorded: list[tuple[Outcome, str | None]] = []
        self._event_backlog: deque = deque()
        # receipts gathered while the events drain, written together (device_host/inbound.py)
        self._receipts: list = []
        self._inbound: list = []  # incoming messages of this pass, stored together
        self._receipt_timer: threading.Timer | None = None
        self._outage = Backoff(first=0.2, most=OUTAGE_RETRY_MAX_SECONDS)
        # a worker whose supervisor died (kill -9) is re-parented: it stops instead of sending on
        self._parent_pid = os.getppid()
        self._session_states: set[str] = set()  # labels of the sessions gauge set so far

    # -- wake-ups ------------------------------------------------------------------------------

    def _on_notify(self, channel: str, payload: str) -> None:
        with self._notify_lock:
            if channel == "devices" or channel == "*":
                self._lease_due = True
            if channel == "*" or payload == "*":
                self._notified_all = True
            elif channel == "message_queue":
                self._notified.update(int(p) for p in payload.split(",") if p)
        self.wake.set()

    def request_stop(self, *_: Any) -> None:
        """Ask the loop to stop gracefully (signal handler)."""
        self.stop_event.set()
        self.wake.set()

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        """Drive devices until asked to stop, then hand everything back."""
        try:
            self._retrying("startup", self._rescue_previous_run)
            self._start_lease_keeper()
            self._running = True
            self.listener.start()
            safety_at = time.monotonic() + self.health_s
            while not self.stop_event.is_set():
                self._loop_at = time.monotonic()
                self.wake.clear()
                if os.getppid() != self._parent_pid:
                    log.warning("%s: the supervisor is gone; stopping", self.owner)
                    self.stop_event.set()
                    break
                try:
                    safety_at = self._step(safety_at)
                except Exception as error:
                    if is_deadlock(error):
                        # this loop and another writer of the same rows (the guard's scoring,
                        # a supervisor's rescue) locked them in opposite orders and PostgreSQL
                        # rolled this side back: not an outage, what it had not written (kept
                        # outcomes included) is written by the next pass, now
                        log.info("%s: a deadlock rolled a statement back; retrying", self.owner)
                        continue
                    if not is_outage(error):
                        raise
                    self._wait_out(error)
                    continue
                if self._outage.reset():
                    log.warning("%s: the database is back", self.owner)
                    # notifications sent meanwhile were lost: look at every device again
                    self._on_notify("*", "*")
                self.wake.wait(self._sleep_seconds(safety_at))
        finally:
            self._shutdown()

    def _rescue_previous_run(self) -> None:
        with self.engine.begin() as conn:
            # a previous incarnation of this worker id is dead (the supervisor saw it exit)
            rescued = sending_store.rescue_messages(conn, [self.owner])
        if rescued["queued"] or rescued["failed"]:
            log.info("%s: returned %s messages of a previous run", self.owner, rescued)

    def _retrying(self, what: str, action: Any) -> None:
        """Run action until it gets through a database outage (or the worker is stopped)."""
        while not self.stop_event.is_set():
            if os.getppid() != self._parent_pid:
                # the supervisor died while this waited for the database (the loop's own check
                # is not reached yet): stop, or retry for ever as an orphan
                log.warning("%s: the supervisor is gone; stopping", self.owner)
                self.stop_event.set()
                return
            try:
                action()
            except Exception as error:
                if not is_outage(error):
                    raise
                self._wait_out(error, what)
            else:
                self._outage.reset()
                return

    def _wait_out(self, error: BaseException, what: str = "loop") -> None:
        delay = self._outage.next_delay()
        DATABASE_ERRORS.labels("device-host").inc()
        if self._outage.failures == 1 or self._outage.failures % 20 == 0:
            log.warning("%s: database unavailable (%s: %s); %d outcomes kept; retrying",
                        self.owner, what, type(error).__name__, len(self._unrecorded))
        self.stop_event.wait(delay)

    def _step(self, safety_at: float) -> float:
        """One pass of the loop; any database error leaves what it had not written for later."""
        now = time.monotonic()
        self._drain_events()
        self._record_outcomes()
        self._record_receipts()
        self._record_inbound()
        if now >= self._next_lease or (
            self._lease_due and now - self._last_lease >= LEASE_PASS_MIN_SECONDS
        ):
            self._lease_pass()
            self._count_sessions()
        if now >= safety_at:
            # safety poll: a lost notification costs at most one health interval
            safety_at = now + self.health_s
            self._probe(list(self.devices))
        self._take_notifications()
        self._check_pairing_deadlines(now)
        self._claim_and_send()
        return safety_at

    def _count_sessions(self) -> None:
        """The /metrics gauges of leases and session states, after each lease pass."""
        LEASES.set(len(self.devices))
        counts = Counter(state.session_state for state in self.devices.values())
        for name in set(counts) | self._session_states:
            SESSIONS.labels(name).set(counts.get(name, 0))
        self._session_states |= set(counts)

    def _sleep_seconds(self, safety_at: float) -> float:
        now = time.monotonic()
        until = min(self._next_lease, safety_at)
        if len(self.in_flight) < self.pool_size:
            for state in self.devices.values():
                if (state.has_work and state.in_flight is None
                        and state.session_state == "connected"):
                    until = min(until, max(state.ready_at, state.poll_at))
        return min(max(until - now, 0.0), self.health_s)

    def _take_notifications(self) -> None:
        with self._notify_lock:
            everyone, ids = self._notified_all, self._notified
            self._notified_all, self._notified = False, set()
        if everyone:
            self._probe(list(self.devices))
            return
        for device_id in ids:
            state = self.devices.get(device_id)
            if state is not None:
                state.has_work = True
                state.poll_at = 0.0

    # -- shutdown -------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        log.info("%s: stopping (%d sends in flight)", self.owner, len(self.in_flight))
        deadline = time.monotonic() + DRAIN_SECONDS
        quiet = False
        while (self.in_flight or self._unrecorded) and time.monotonic() < deadline:
            self._loop_at = time.monotonic()  # draining: the keeper keeps the leases meanwhile
            self.wake.wait(0.05)
            self.wake.clear()
            if not self._try_database("recording outcomes", self._record_outcomes, quiet):
                quiet = True  # said once; the database is away, try again a little later
                time.sleep(0.5)
        if self.in_flight:
            # sends that did not finish in time go back to the queue (possible duplicate)
            unfinished = [mid for mid in self.in_flight
                          if mid not in {o.message_id for o, _ in self._unrecorded}]
            self._try_database("handing back unfinished sends", lambda: self._hand_back(
                unfinished))
        if self._unrecorded:
            # the database stayed away for the whole drain: these messages stay 'sending' and
            # are rescued when their lease runs out (a sent one may then be sent again)
            log.error("%s: could not record %d outcomes before stopping: messages %s",
                      self.owner, len(self._unrecorded),
                      [o.message_id for o, _ in self._unrecorded])
        self._stop_guard()  # device_host/guard.py
        for state in self.devices.values():
            self._stop_session(state)
        self.control.shutdown(wait=True, cancel_futures=False)
        self.sender.shutdown(wait=False, cancel_futures=True)
        self._try_database("releasing leases", self._release_all)
        self._stop_lease_keeper()  # what was in flight is recorded or handed back by now
        self.listener.stop()
        self.factory.close()
        log.info("%s: stopped", self.owner)

    def _try_database(self, what: str, action: Any, quiet: bool = False) -> bool:
        """Best effort while stopping: an outage is logged (leases expire by themselves)."""
        try:
            action()
        except Exception as error:  # noqa: BLE001 - stopping must finish
            if not quiet:
                log.warning("%s: %s failed while stopping: %s", self.owner, what,
                            type(error).__name__ if is_outage(error) else error)
            return False
        return True


def is_deadlock(error: BaseException) -> bool:
    """Whether error (or what caused it) is PostgreSQL's deadlock_detected (40P01)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) == "40P01":
            return True
        current = current.__cause__ or current.__context__
    return False


def run_worker(
    database_url: str, owner: str, max_devices: int, pool_size: int, log_level: str = "INFO",
    share: WorkerShare | None = None,
) -> None:
    """Entry point of a worker process (spawned by the supervisor)."""
    from dripfleet.log_setup import configure_logging
    from dripfleet.settings import load_settings

    settings = load_settings()
    configure_logging("device-host", log_level, settings.log_format, owner=owner)
    worker = Worker(settings, database_url, owner, max_devices, pool_size, share=share)
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    worker.run()


def pool_share(pool_size: int, workers: int) -> int:
    """Each worker's share of the host's WORKER_POOL_SIZE sends in flight."""
    return max(1, math.ceil(pool_size / max(workers, 1)))
