"""A worker process: leases devices, keeps one transport session each, and sends their queues.

The main loop is the only code that touches the database for the devices (one connection at a
time, short transactions); sends, session starts and stops run on thread pools because a real
transport blocks. Per device strictly one message is in flight. Claims and outcomes are batched:
one statement claims the next message of every ready device, one records every finished send.
"""

import logging
import math
import os
import queue
import re
import signal
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock_time
from typing import Any

from sqlalchemy import Engine

from device_host import pacing
from device_host.listener import Listener
from device_host.transports import open_factory
from device_host.transports.base import (
    Banned,
    Connected,
    DeviceFatalError,
    DeviceInfo,
    Disconnected,
    Event,
    IncomingMessage,
    LoggedOut,
    Paired,
    PairingCode,
    PermanentError,
    QrCode,
    TransientError,
    Transport,
    TransportError,
    TransportFactory,
    sending_message_id,
)
from device_host.transports.media_fetch import DOWNLOAD_TIMEOUT_SECONDS, load_media
from dripfleet.database import get_engine
from dripfleet.database_outage import Backoff, is_outage
from dripfleet.public_urls import UrlPolicy
from dripfleet.settings import Settings
from dripfleet.stores import hosts, sending
from dripfleet.stores.sending import Outcome

log = logging.getLogger(__name__)

STARTABLE = ("pairing", "online", "offline")
# whatsmeow offers about 160 s of QR codes (notes/neonize.md)
PAIRING_TIMEOUT_SECONDS = 170.0
# how long a stopping worker lets in-flight sends finish before handing them back
DRAIN_SECONDS = 15.0
# a device-status notification triggers a lease pass at most this often
LEASE_PASS_MIN_SECONDS = 0.5
# connect/read timeout of a media download
MEDIA_TIMEOUT_SECONDS = DOWNLOAD_TIMEOUT_SECONDS
# offline (WhatsApp unreachable) retries back off up to this, without counting as start failures
OFFLINE_RETRY_MAX_SECONDS = 60.0
# while the database is away the loop retries this often at most (with jitter)
OUTAGE_RETRY_MAX_SECONDS = 5.0


@dataclass
class DeviceState:
    """What the loop knows about one leased device."""

    id: int
    user_id: int
    name: str = ""
    status: str = "online"
    jid: str | None = None
    phone: str | None = None
    pairing_mode: str | None = None
    pairing_phone: str | None = None
    hourly_cap: int | None = None
    daily_cap: int | None = None
    quiet_start: clock_time | None = None
    quiet_end: clock_time | None = None
    timezone: str | None = None
    session: Transport | None = None
    session_state: str = "stopped"  # stopped, starting, pairing, connected, disconnected
    ready_at: float = 0.0  # monotonic: device delay over
    poll_at: float = 0.0  # monotonic: look for work again
    has_work: bool = True
    in_flight: int | None = None
    start_failures: int = 0
    start_retry_at: float = 0.0
    offline_retries: int = 0
    pairing_deadline: float | None = None
    sends: deque = field(default_factory=deque)
    releasing: bool = False

    def update(self, row: dict[str, Any]) -> None:
        """Take the device's current settings from a renew_devices row."""
        for key in ("user_id", "name", "status", "jid", "phone", "pairing_mode", "pairing_phone",
                    "hourly_cap", "daily_cap", "quiet_start", "quiet_end", "timezone",
                    "start_failures"):
            setattr(self, key, row[key])


class Worker:
    """One worker process's device loop."""

    def __init__(
        self, settings: Settings, database_url: str, owner: str, max_devices: int,
        pool_size: int, factory: TransportFactory | None = None,
    ) -> None:
        self.settings = settings
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
        self._keywords = tuple(k.upper() for k in settings.opt_out_keywords)
        self.listener = Listener(database_url, self._on_notify)
        self.media_policy = UrlPolicy(allow_private=settings.allow_private_urls)
        # outcomes and events whose database write failed: kept, in order, until it succeeds
        self._unrecorded: list[tuple[Outcome, str | None]] = []
        self._event_backlog: deque = deque()
        self._outage = Backoff(first=0.2, most=OUTAGE_RETRY_MAX_SECONDS)
        # a worker whose supervisor died (kill -9) is re-parented: it stops instead of sending on
        self._parent_pid = os.getppid()

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

    def _on_event(self, event: Event) -> None:
        # called on transport threads: only enqueue
        self.events.put(event)
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
            self.listener.start()
            safety_at = time.monotonic() + self.health_s
            while not self.stop_event.is_set():
                self.wake.clear()
                if os.getppid() != self._parent_pid:
                    log.warning("%s: the supervisor is gone; stopping", self.owner)
                    self.stop_event.set()
                    break
                try:
                    safety_at = self._step(safety_at)
                except Exception as error:
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
            rescued = sending.rescue_messages(conn, [self.owner])
        if rescued["queued"] or rescued["failed"]:
            log.info("%s: returned %s messages of a previous run", self.owner, rescued)

    def _retrying(self, what: str, action: Any) -> None:
        """Run action until it gets through a database outage (or the worker is stopped)."""
        while not self.stop_event.is_set():
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
        if self._outage.failures == 1 or self._outage.failures % 20 == 0:
            log.warning("%s: database unavailable (%s: %s); %d outcomes kept; retrying",
                        self.owner, what, type(error).__name__, len(self._unrecorded))
        self.stop_event.wait(delay)

    def _step(self, safety_at: float) -> float:
        """One pass of the loop; any database error leaves what it had not written for later."""
        now = time.monotonic()
        self._drain_events()
        self._record_outcomes()
        if now >= self._next_lease or (
            self._lease_due and now - self._last_lease >= LEASE_PASS_MIN_SECONDS
        ):
            self._lease_pass()
        if now >= safety_at:
            # safety poll: a lost notification costs at most one health interval
            safety_at = now + self.health_s
            self._probe(list(self.devices))
        self._take_notifications()
        self._check_pairing_deadlines(now)
        self._claim_and_send()
        return safety_at

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

    def _probe(self, device_ids: list[int]) -> None:
        """One statement: which devices have queued messages at all; only those are claimed."""
        if not device_ids:
            return
        with self.engine.begin() as conn:
            busy = sending.devices_with_queued(conn, device_ids)
        for device_id in device_ids:
            state = self.devices.get(device_id)
            if state is not None and device_id in busy and not state.has_work:
                state.has_work, state.poll_at = True, 0.0
            elif state is not None and device_id not in busy and state.in_flight is None:
                state.has_work = False

    # -- leases and sessions ---------------------------------------------------------------------

    def _lease_pass(self) -> None:
        now = time.monotonic()
        self._lease_due = False
        self._last_lease = now
        self._next_lease = now + self.health_s
        with self.engine.begin() as conn:
            rows = hosts.renew_devices(conn, self.owner, self.lease_s)
            sending.renew_message_leases(conn, self.owner, self.lease_s, list(self.in_flight))
            room = self.max_devices - sum(1 for r in rows if r["status"] in STARTABLE)
            if (room > 0 and not self.stop_event.is_set()
                    and hosts.acquire_devices(conn, self.owner, room, self.lease_s)):
                rows = hosts.renew_devices(conn, self.owner, self.lease_s)
        seen = {row["id"] for row in rows}
        for device_id in [d for d in self.devices if d not in seen]:
            log.warning("%s: lost the lease of device %s", self.owner, device_id)
            self._stop_session(self.devices.pop(device_id))
        new_capped: list[DeviceState] = []
        new_ids: list[int] = []
        for row in rows:
            state = self.devices.get(row["id"])
            if state is None:
                state = DeviceState(id=row["id"], user_id=row["user_id"], has_work=False)
                new_ids.append(row["id"])
                state.ready_at = now + max(row["wait_s"], 0.0)
                self.devices[row["id"]] = state
                state.update(row)
                if state.hourly_cap or state.daily_cap:
                    new_capped.append(state)
            else:
                was = state.status
                state.update(row)
                if was != "pairing" and state.status == "pairing" and state.session is not None:
                    self._stop_session(state)  # asked to pair again: restart in pairing mode
            self._reconcile(state, now)
        if new_capped:
            self._load_recent_sends(new_capped)
        self._probe(new_ids)
        released = [s.id for s in self.devices.values() if s.releasing and s.in_flight is None]
        if released:
            with self.engine.begin() as conn:
                hosts.release_devices(conn, self.owner, released)
            for device_id in released:
                self.devices.pop(device_id, None)

    def _load_recent_sends(self, states: list[DeviceState]) -> None:
        with self.engine.begin() as conn:
            ages = sending.recent_sends(
                conn, sorted({s.user_id for s in states}), [s.id for s in states]
            )
        now = time.monotonic()
        for device_id, age in sorted(ages, key=lambda item: -item[1]):
            self.devices[device_id].sends.append(now - age)

    def _reconcile(self, state: DeviceState, now: float) -> None:
        if state.status not in STARTABLE:
            if state.session is not None or state.session_state != "stopped":
                self._stop_session(state, logout=state.status == "logged_out")
            state.releasing = True
            return
        if state.session_state == "stopped" and now >= state.start_retry_at:
            state.session_state = "starting"
            info = DeviceInfo(
                device_id=state.id, user_id=state.user_id, name=state.name, jid=state.jid,
                phone=state.phone,
                pairing_mode=(state.pairing_mode or "qr") if state.status == "pairing" else None,
                pairing_phone=state.pairing_phone,
            )
            self.control.submit(self._start_session, info)

    def _start_session(self, info: DeviceInfo) -> None:
        # runs on a control thread; results come back through the event queue
        try:
            session = self.factory.open(info)
            session.start(self._on_event)
            if info.pairing_mode == "code" and info.pairing_phone:
                session.pair_code(info.pairing_phone)
            elif info.pairing_mode is not None:
                session.pair_qr()
        except TransportError as error:
            # "offline" (WhatsApp unreachable) is the network's fault, not the device's: it must
            # not count towards DEVICE_START_FAILURE_LIMIT, or an outage would fail every device
            kind = "start_offline" if getattr(error, "device_status", None) == "offline" else (
                "start_failed")
            self.events.put((kind, info.device_id, str(error) or repr(error)))
        except Exception as error:  # noqa: BLE001 - any start failure counts against the device
            log.exception("%s: device %s failed to start", self.owner, info.device_id)
            self.events.put(("start_failed", info.device_id, f"unexpected error: {error}"))
        else:
            self.events.put(("started", info.device_id, session))
        self.wake.set()

    def _stop_session(self, state: DeviceState, logout: bool = False) -> None:
        session, state.session = state.session, None
        state.session_state = "stopped"
        state.pairing_deadline = None
        if session is not None:
            self.control.submit(self._close_session, session, logout)

    @staticmethod
    def _close_session(session: Transport, logout: bool) -> None:
        try:
            session.logout() if logout else session.stop()
        except Exception:  # noqa: BLE001 - a failing stop must not kill the worker
            log.exception("stopping a session failed")

    def _check_pairing_deadlines(self, now: float) -> None:
        for state in list(self.devices.values()):
            if state.pairing_deadline is not None and now > state.pairing_deadline:
                # written first: should the database be away, the deadline is checked again
                with self.engine.begin() as conn:
                    hosts.device_pairing_timeout(
                        conn, self.owner, state.id, "pairing timed out: nobody scanned the code"
                    )
                self._stop_session(state)
                state.status = "new"
                state.releasing = True
                self._lease_due = True

    # -- events -----------------------------------------------------------------------------------

    def _drain_events(self) -> None:
        while True:
            if self._event_backlog:
                item = self._event_backlog.popleft()
            else:
                try:
                    item = self.events.get_nowait()
                except queue.Empty:
                    return
            try:
                self._handle(item)
            except Exception as error:
                if is_outage(error):
                    # kept, first in line: a pairing or an opt-out is not lost with the database
                    self._event_backlog.appendleft(item)
                    raise
                # one bad event must not stop every device
                log.exception("%s: handling %r failed", self.owner, item)

    def _handle(self, item: Any) -> None:
        if isinstance(item, tuple):
            kind, device_id, value = item
            state = self.devices.get(device_id)
            if kind == "started":
                if state is None or state.session is not None or state.session_state == "stopped":
                    self.control.submit(self._close_session, value, False)
                    return
                state.session = value
                if state.status == "pairing":
                    state.session_state = "pairing"
                    state.pairing_deadline = time.monotonic() + PAIRING_TIMEOUT_SECONDS
                elif state.session_state == "starting":
                    state.session_state = "disconnected"  # until Connected arrives
            elif kind == "start_offline" and state is not None:
                state.session_state = "stopped"
                state.offline_retries += 1
                # a pairing device keeps pairing (and retries); any other one shows 'offline'
                status = "pairing" if state.status == "pairing" else "offline"
                with self.engine.begin() as conn:
                    hosts.set_device_status(conn, self.owner, state.id, status, value)
                state.status = status
                state.start_retry_at = time.monotonic() + min(
                    OFFLINE_RETRY_MAX_SECONDS, 0.5 * 2 ** min(state.offline_retries, 8)
                )
            elif kind == "start_failed" and state is not None:
                state.session_state = "stopped"
                with self.engine.begin() as conn:
                    row = hosts.device_start_failed(
                        conn, self.owner, device_id, value,
                        self.settings.device_start_failure_limit,
                    )
                if row:
                    state.start_failures = row["start_failures"]
                    state.status = row["status"]
                state.start_retry_at = time.monotonic() + min(
                    30.0, 0.2 * 2 ** min(state.start_failures, 10)
                )
                if state.status == "failed":
                    state.releasing = True
            return
        state = self.devices.get(item.device_id)
        if state is None:
            return
        with self.engine.begin() as conn:
            if isinstance(item, QrCode):
                hosts.device_pairing_qr(conn, self.owner, state.id, item.payload, item.expires_at)
            elif isinstance(item, PairingCode):
                hosts.device_pairing_code(conn, self.owner, state.id, item.code, item.expires_at)
            elif isinstance(item, Paired):
                if hosts.device_paired(conn, self.owner, state.id, item.jid, item.phone):
                    state.status, state.jid, state.phone = "online", item.jid, item.phone
                    state.pairing_mode = state.pairing_phone = None
                    state.pairing_deadline = None
            elif isinstance(item, Connected):
                state.offline_retries = 0
                if state.session is not None or state.session_state == "starting":
                    if state.status != "pairing":
                        hosts.device_connected(conn, self.owner, state.id)
                        state.status = "online"
                    state.session_state = "connected"
                    state.poll_at = 0.0
            elif isinstance(item, Disconnected):
                if state.session_state == "connected":
                    state.session_state = "disconnected"
                    hosts.set_device_status(conn, self.owner, state.id, "offline", item.reason)
                    state.status = "offline"
            elif isinstance(item, LoggedOut | Banned):
                status = "banned" if isinstance(item, Banned) else "logged_out"
                until = item.until if isinstance(item, Banned) else None
                self._device_fatal(conn, state, status, item.reason or status, until)
            elif isinstance(item, IncomingMessage) and self._is_opt_out(item.text):
                counts = sending.opt_out_lead(conn, state.user_id, item.from_phone)
                log.info("%s: %s opted out (%s)", self.owner, item.from_phone, counts)

    def _is_opt_out(self, text: str) -> bool:
        words = re.findall(r"[^\W\d_]+", text.upper())
        return bool(words) and words[0] in self._keywords and len(words) <= 3

    def _device_fatal(
        self, conn: Any, state: DeviceState, status: str, reason: str,
        until: datetime | None = None,
    ) -> None:
        """The session is over: record it, move unpinned messages, stop, and release later."""
        if state.status == status and state.releasing:
            return
        hosts.set_device_status(conn, self.owner, state.id, status, reason, until)
        moved = sending.failover_messages(conn, self.settings.queue_buffer_size, state.id)
        log.warning("%s: device %s %s (%s); moved %d messages", self.owner, state.id, status,
                    reason, moved)
        state.status = status
        self._stop_session(state, logout=False)
        state.releasing = True
        self._lease_due = True

    # -- sending ----------------------------------------------------------------------------------

    def _claimable(self, state: DeviceState, now: float, wall: datetime) -> bool:
        if not (state.has_work and state.in_flight is None and state.session_state == "connected"
                and state.session is not None
                and state.status == "online" and not state.releasing
                and now >= state.ready_at and now >= state.poll_at):
            return False
        if state.quiet_start is not None or state.hourly_cap or state.daily_cap:
            wait = max(
                pacing.quiet_wait_seconds(wall, state.quiet_start, state.quiet_end,
                                          state.timezone),
                pacing.cap_wait_seconds(state.sends, now, state.hourly_cap, state.daily_cap),
            )
            if wait > 0:
                state.poll_at = now + wait
                return False
        return True

    def _claim_and_send(self) -> None:
        if self.stop_event.is_set():
            return
        room = self.pool_size - len(self.in_flight)
        if room <= 0:
            return
        now, wall = time.monotonic(), datetime.now(UTC)
        ready = [s.id for s in self.devices.values() if self._claimable(s, now, wall)][:room]
        if not ready:
            return
        with self.engine.begin() as conn:
            rows = sending.claim_messages(conn, self.owner, ready, self.lease_s)
        claimed = set()
        for row in rows:
            claimed.add(row["device_id"])
            if row["status"] != "sending":
                continue  # stopped (cancelled or held): the device looks again at once
            state = self.devices[row["device_id"]]
            state.in_flight = row["id"]
            self.sending_device[row["id"]] = state
            future = self.sender.submit(self._send, state.session, row)
            self.in_flight[row["id"]] = future
            future.add_done_callback(self._sent)
        missed = [d for d in ready if d not in claimed]
        if missed:
            with self.engine.begin() as conn:
                misses = sending.claim_misses(conn, self.owner, missed)
            now = time.monotonic()
            for miss in misses:
                state = self.devices.get(miss["id"])
                if state is None:
                    continue
                if not miss["mine"] or miss["status"] != "online":
                    self._lease_due = True
                    continue
                device_wait = max(miss["device_wait_s"] or 0.0, 0.0)
                state.ready_at = now + device_wait
                if miss["message_wait_s"] is None:
                    state.has_work = False
                else:
                    # nothing due yet, or its row was locked by someone else: look again later
                    state.poll_at = now + max(miss["message_wait_s"], device_wait, 0.05)

    def _sent(self, future: Future) -> None:
        self.outcomes.put(future.result())
        self.wake.set()

    def _send(self, session: Transport | None, row: dict[str, Any]) -> tuple[Outcome, str | None]:
        """Send one message on a sender thread; never raises."""
        token = sending_message_id.set(row["id"])
        try:
            if session is None:
                raise TransientError("the device's session is not running")
            result = self._deliver(session, row)
            return Outcome(row["id"], "sent", provider_message_id=result.provider_message_id,
                           finished_at=time.monotonic()), None
        except DeviceFatalError as error:
            return Outcome(row["id"], "requeue", error=str(error)), error.status
        except PermanentError as error:
            return Outcome(row["id"], "permanent", error=str(error),
                           finished_at=time.monotonic(),
                           failure_class=error.failure_class), None
        except TransientError as error:
            return Outcome(row["id"], "transient", error=str(error),
                           backoff_s=self._backoff(row["attempts"]),
                           finished_at=time.monotonic(),
                           failure_class=error.failure_class), None
        except Exception as error:  # noqa: BLE001 - an unknown failure is retried, not lost
            log.exception("%s: sending message %s failed", self.owner, row["id"])
            return Outcome(row["id"], "transient", error=f"unexpected error: {error}",
                           backoff_s=self._backoff(row["attempts"]),
                           finished_at=time.monotonic()), None
        finally:
            sending_message_id.reset(token)

    def _backoff(self, attempts: int) -> float:
        return self.settings.retry_backoff_seconds * 2 ** max(attempts - 1, 0)

    def _deliver(self, session: Transport, row: dict[str, Any]) -> Any:
        kind, to = row["message_type"], row["phone"]
        if kind == "text":
            return session.send_text(to, row["body"])
        data, filename, mimetype = self._media(row)
        caption = row["caption"] or (row["body"] or None)
        if kind == "image":
            return session.send_image(to, data, caption)
        if kind == "video":
            return session.send_video(to, data, caption)
        return session.send_document(to, data, row["filename"] or filename, caption, mimetype)

    def _media(self, row: dict[str, Any]) -> tuple[bytes, str, str | None]:
        """The message's media bytes: uploaded (media_id), or downloaded with a timeout and the
        size limit, and checked to be what the message says it is (an image is an image)."""
        media = load_media(self.engine, row, self.settings.max_media_bytes, MEDIA_TIMEOUT_SECONDS,
                           self.media_policy)
        return media.data, media.filename, media.mimetype

    def _record_outcomes(self) -> None:
        batch = self._unrecorded
        while True:
            try:
                batch.append(self.outcomes.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return
        # taken before the statement: wait_s counts from the statement's now(), which is later,
        # so this is when the device is ready to within the margin below
        now = time.monotonic() + 0.002
        try:
            with self.engine.begin() as conn:
                recorded = sending.record_outcomes(
                    conn, self.owner, [o for o, _ in batch],
                    self.settings.device_failure_pause_after,
                    self.settings.content_failure_pause_after,
                )
        except Exception as error:
            # the messages did leave (or fail): their outcomes are kept and written once the
            # database answers, so a sent message is never queued again for want of a record
            if not is_outage(error):
                log.exception("%s: recording %d outcomes failed; keeping them",
                              self.owner, len(batch))
            raise
        self._unrecorded = []
        for user_id, campaign_id in recorded.paused_campaigns:
            log.warning("%s: campaign %s (user %s) paused after content failures",
                        self.owner, campaign_id, user_id)
        for user_id, sequence_id in recorded.paused_sequences:
            log.warning("%s: sequence %s (user %s) paused after content failures",
                        self.owner, sequence_id, user_id)
        by_message = {row["id"]: row for row in recorded.messages}
        fatal: list[tuple[DeviceState, str, str]] = []
        failover: list[DeviceState] = []
        for outcome, fatal_status in batch:
            self.in_flight.pop(outcome.message_id, None)
            state = self.sending_device.pop(outcome.message_id, None)
            if state is None:
                continue
            state.in_flight = None
            state.has_work, state.poll_at = True, 0.0
            row = by_message.get(outcome.message_id)
            if row is not None and row["wait_s"] is not None:
                state.ready_at = now + max(row["wait_s"], 0.0)
            if row is not None and row["status"] == "sent":
                state.sends.append(now)
            if row is not None and row["device_status"] not in (None, "online"):
                state.status = row["device_status"]  # auto-paused after repeated failures
                self._stop_session(state)
                state.releasing = True
                failover.append(state)
            if fatal_status is not None:
                fatal.append((state, fatal_status, outcome.error or fatal_status))
        # the outcomes are safe; what follows is redone by the supervisor's sweep if it fails
        for state in failover:
            with self.engine.begin() as conn:
                sending.failover_messages(conn, self.settings.queue_buffer_size, state.id)
        for state, status, reason in fatal:
            with self.engine.begin() as conn:
                self._device_fatal(conn, state, status, reason)

    # -- shutdown -------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        log.info("%s: stopping (%d sends in flight)", self.owner, len(self.in_flight))
        deadline = time.monotonic() + DRAIN_SECONDS
        quiet = False
        while (self.in_flight or self._unrecorded) and time.monotonic() < deadline:
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
        for state in self.devices.values():
            self._stop_session(state)
        self.control.shutdown(wait=True, cancel_futures=False)
        self.sender.shutdown(wait=False, cancel_futures=True)
        self._try_database("releasing leases", self._release_all)
        self.listener.stop()
        self.factory.close()
        log.info("%s: stopped", self.owner)

    def _hand_back(self, message_ids: list[int]) -> None:
        with self.engine.begin() as conn:
            sending.record_outcomes(
                conn, self.owner,
                [Outcome(mid, "requeue", error="the host stopped mid-send")
                 for mid in message_ids],
                self.settings.device_failure_pause_after,
            )

    def _release_all(self) -> None:
        with self.engine.begin() as conn:
            hosts.release_devices(conn, self.owner, None)

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


def run_worker(
    database_url: str, owner: str, max_devices: int, pool_size: int, log_level: str = "INFO"
) -> None:
    """Entry point of a worker process (spawned by the supervisor)."""
    from dripfleet.settings import load_settings

    logging.basicConfig(
        level=log_level, format=f"%(asctime)s %(levelname)s {owner} %(name)s: %(message)s"
    )
    settings = load_settings()
    worker = Worker(settings, database_url, owner, max_devices, pool_size)
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    worker.run()


def pool_share(pool_size: int, workers: int) -> int:
    """Each worker's share of the host's WORKER_POOL_SIZE sends in flight."""
    return max(1, math.ceil(pool_size / max(workers, 1)))
