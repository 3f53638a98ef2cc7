"""The simulated phone network: a deterministic stand-in for WhatsApp, kept in the database.

Pairing shows QR codes and then "scans" itself after SIM_PAIR_SECONDS; each send takes
SIM_LATENCY_SECONDS; SIM_FAILURE_RATE of sends fail transiently. Tables `sim_phones` and
`sim_devices` script single phones (not on WhatsApp, failure modes, replies) and devices (logged
out or banned after N sends, failing starts, error 463 "reach-out timelocked" after N sends).
Every delivered message is written to `sim_deliveries` before the send returns (group commit: one
INSERT per flush for every sender waiting), so the pages and tests can show what each lead
received. The phones answer as real ones do: a delivery receipt SIM_DELIVER_SECONDS after each
send, a read receipt for SIM_READ_RATE of the messages and a reply for SIM_REPLY_RATE of them
(chosen from the provider id, so the same message always gets the same fate), all from one
scheduler thread per network.
"""

import hashlib
import heapq
import logging
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from device_host.transports.base import (
    Banned,
    Connected,
    DeviceFatalError,
    DeviceInfo,
    EventCallback,
    IncomingMessage,
    LoggedOut,
    Paired,
    PairingCode,
    PermanentError,
    QrCode,
    Receipt,
    RestrictedError,
    SendResult,
    TransientError,
    sending_message_id,
)
from dripfleet.database import get_engine
from dripfleet.database_outage import Backoff, is_outage
from dripfleet.listener import Listener
from dripfleet.settings import Settings
from dripfleet.stores import simulated as sim_store

log = logging.getLogger(__name__)

# scripts are re-read at most this often (one small query per process)
SCRIPT_REFRESH_SECONDS = 2.0
# retries of a delivery record while the database is away back off up to this
FLUSH_RETRY_MAX_SECONDS = 2.0
# a simulated lead reads a message this many delivery delays after it arrived, and replies after
READ_AFTER_DELIVERIES = 3.0
REPLY_AFTER_DELIVERIES = 5.0
SIM_REPLY_TEXT = "Thanks, tell me more"


def fate(provider_id: str, salt: str) -> float:
    """A number in [0, 1) fixed by the message: whether it is read / answered is deterministic."""
    digest = hashlib.blake2b(f"{salt}:{provider_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Scheduler:
    """One thread that runs callbacks at their time: receipts and replies of every session
    (a timer thread per message would not scale to thousands of sends a second)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Any]] = []
        self._count = 0
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sim-scheduler", daemon=True)
        self._thread.start()

    def later(self, delay: float, action: Any) -> None:
        """Run action (no arguments) after delay seconds."""
        with self._wake:
            self._count += 1
            heapq.heappush(self._heap, (time.monotonic() + delay, self._count, action))
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (
                        not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(wait)
                if self._closed:
                    return
                _at, _n, action = heapq.heappop(self._heap)
            try:
                action()
            except Exception:  # noqa: BLE001 - one callback must not stop the others
                log.exception("simulated network: a scheduled event failed")

    def close(self) -> None:
        """Drop what is pending and stop the thread."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=5)


class SimulatedNetwork:
    """Process-wide state of the simulated network: scripts, delivery recorder, counters."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self.engine: Engine = get_engine(database_url)
        self._lock = threading.Lock()
        self._scripts_at = 0.0
        self._phones: dict[str, dict[str, Any]] = {}
        self._devices: dict[int, dict[str, Any]] = {}
        self._phone_failures: dict[str, int] = {}
        self._pending: list[tuple[dict[str, Any], threading.Event, list[BaseException]]] = []
        self._wake = threading.Condition()
        self._closed = False
        self._flusher = threading.Thread(target=self._flush_loop, name="sim-flusher", daemon=True)
        self._flusher.start()
        self.scheduler = Scheduler()
        # sessions of this process by device, for what `dripfleet sim-reply` writes to them
        self._sessions: dict[int, SimulatedTransport] = {}
        self._database_url = database_url
        self._inbox: Listener | None = None

    # -- what simulated leads write (`dripfleet sim-reply`) -----------------------------------

    def attach(self, session: "SimulatedTransport") -> None:
        """A session started: messages written to its device reach it."""
        with self._lock:
            self._sessions[session.device.device_id] = session
            if self._inbox is None and not self._closed:
                self._inbox = Listener(self._database_url, self._take_inbox, ("sim_inbox",))
                self._inbox.start()

    def detach(self, session: "SimulatedTransport") -> None:
        """A session stopped."""
        with self._lock:
            if self._sessions.get(session.device.device_id) is session:
                del self._sessions[session.device.device_id]

    def _take_inbox(self, _channel: str, _payload: str) -> None:
        # on the listener's thread, after each notification (and each reconnect)
        with self._lock:
            sessions = dict(self._sessions)
        if not sessions:
            return
        try:
            with self.engine.begin() as conn:
                rows = sim_store.take_inbox(conn, sorted(sessions))
        except Exception as error:
            if not is_outage(error):
                log.exception("simulated network: reading what leads wrote failed")
            return  # the rows stay; the listener's reconnect takes them
        for row in rows:
            session = sessions.get(row["device_id"])
            if session is not None:
                session._emit(IncomingMessage(
                    row["device_id"], row["phone"], row["text"], row["created_at"],
                    provider_message_id="SIMIN" + uuid.uuid4().hex[:16].upper()))

    # -- scripts ---------------------------------------------------------------------------------

    def _refresh(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._scripts_at < SCRIPT_REFRESH_SECONDS:
                return
            self._scripts_at = now
        try:
            with self.engine.begin() as conn:
                phones = sim_store.phone_scripts(conn)
                devices = sim_store.device_scripts(conn)
        except Exception as error:
            if not is_outage(error):
                raise
            return  # the phones do not change while our database is away: keep the scripts
        with self._lock:
            self._phones, self._devices = phones, devices

    def phone_script(self, phone: str) -> dict[str, Any] | None:
        """The script for a phone, if any."""
        self._refresh()
        return self._phones.get(phone)

    def device_script(self, device_id: int) -> dict[str, Any] | None:
        """The script for a device, if any."""
        self._refresh()
        return self._devices.get(device_id)

    def count_phone_failure(self, phone: str) -> int:
        """Count a scripted failure of a phone; returns how many so far (this process)."""
        with self._lock:
            self._phone_failures[phone] = self._phone_failures.get(phone, 0) + 1
            return self._phone_failures[phone]

    # -- deliveries (group commit) ---------------------------------------------------------------

    def deliver(self, record: dict[str, Any]) -> None:
        """Record a delivery durably; returns once it is committed.

        A real network delivers whether or not our database is up: while it is away the record
        waits (and the send with it, like a slow network) and is written once it is back."""
        done = threading.Event()
        errors: list[BaseException] = []
        with self._wake:
            if self._closed:
                raise TransientError("simulated network is shutting down")
            self._pending.append((record, done, errors))
            self._wake.notify()
        done.wait()
        if errors:
            raise TransientError(f"simulated network could not record the delivery: {errors[0]}")

    def _flush_loop(self) -> None:
        retry: list[tuple[dict[str, Any], threading.Event, list[BaseException]]] = []
        backoff = Backoff(first=0.1, most=FLUSH_RETRY_MAX_SECONDS)
        while True:
            with self._wake:
                while not self._pending and not retry and not self._closed:
                    self._wake.wait()
                batch, self._pending = retry + self._pending, []
                closed = self._closed
                if not batch and closed:
                    return
            retry = []
            try:
                with self.engine.begin() as conn:
                    sim_store.record_deliveries(conn, [item[0] for item in batch])
            except Exception as error:  # noqa: BLE001 - reported to every waiting sender
                if is_outage(error) and not closed:
                    retry = batch
                    if backoff.failures == 0:
                        log.warning("simulated network: database away; %d deliveries wait",
                                    len(batch))
                    with self._wake:
                        self._wake.wait(backoff.next_delay())
                    continue
                log.warning("simulated network: recording %d deliveries failed: %s",
                            len(batch), error)
                for _record, _done, errors in batch:
                    errors.append(error)
            backoff.reset()
            for _record, done, _errors in batch:
                done.set()

    def close(self) -> None:
        """Flush what is pending and stop the flusher, the scheduler and the inbox listener."""
        self.scheduler.close()
        with self._lock:
            inbox, self._inbox = self._inbox, None
        if inbox is not None:
            inbox.stop()
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._flusher.join(timeout=10)


class SimulatedTransport:
    """One simulated device session (implements base.Transport)."""

    def __init__(self, network: SimulatedNetwork, device: DeviceInfo) -> None:
        self.network = network
        self.device = device
        self.settings = network.settings
        self._on_event: EventCallback | None = None
        self._stopped = threading.Event()
        self._timers: list[threading.Timer] = []
        self._sends = 0
        self._random = random.Random(device.device_id)
        self._phone = device.phone or f"+6010{device.device_id:08d}"
        self._timelock_until: datetime | None = None

    def _emit(self, event: Any) -> None:
        if self._on_event is not None and not self._stopped.is_set():
            self._on_event(event)

    def _later(self, delay: float, fn: Any) -> None:
        timer = threading.Timer(delay, fn)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def start(self, on_event: EventCallback) -> None:
        """Open the session; Connected follows at once unless the device must pair."""
        script = self.network.device_script(self.device.device_id)
        if script and script["start_fails"]:
            raise TransientError("simulated: the session could not connect")
        self._on_event = on_event
        self.network.attach(self)
        if self.device.pairing_mode is None:
            self._emit(Connected(self.device.device_id))

    def pair_qr(self) -> None:
        """Show a few QR codes, then pair by itself after SIM_PAIR_SECONDS."""
        wait = self.settings.sim_pair_seconds
        codes = 3
        for n in range(codes):
            self._later(wait * n / codes, lambda n=n: self._emit(QrCode(
                self.device.device_id, f"2@sim-{self.device.device_id}-{n}-{uuid.uuid4().hex}",
                datetime.now(UTC) + timedelta(seconds=max(wait / codes, 20)))))
        self._later(wait, self._paired)

    def pair_code(self, phone: str) -> None:
        """Show a pairing code, then pair by itself after SIM_PAIR_SECONDS."""
        self._phone = phone
        code = uuid.uuid4().hex[:8].upper()
        self._emit(PairingCode(self.device.device_id, f"{code[:4]}-{code[4:]}",
                               datetime.now(UTC) + timedelta(seconds=160)))
        self._later(self.settings.sim_pair_seconds, self._paired)

    def _paired(self) -> None:
        digits = self._phone.lstrip("+")
        self._emit(Paired(self.device.device_id, f"{digits}@s.whatsapp.net", self._phone))
        self._emit(Connected(self.device.device_id))

    def send_text(self, to: str, text: str) -> SendResult:
        """Send a text."""
        return self._send(to, "text", text, None)

    def send_image(self, to: str, data: bytes, caption: str | None = None) -> SendResult:
        """Send an image."""
        return self._send(to, "image", caption or "", len(data))

    def send_video(self, to: str, data: bytes, caption: str | None = None) -> SendResult:
        """Send a video."""
        return self._send(to, "video", caption or "", len(data))

    def send_document(
        self, to: str, data: bytes, filename: str, caption: str | None = None,
        mimetype: str | None = None,
    ) -> SendResult:
        """Send a document."""
        return self._send(to, "document", caption or filename, len(data))

    def is_on_whatsapp(self, phone: str) -> bool:
        """False only for phones scripted as not on WhatsApp."""
        script = self.network.phone_script(phone)
        return not (script and not script["on_whatsapp"])

    def _fatal(self, status: str) -> DeviceFatalError:
        if status == "banned":
            self._emit(Banned(self.device.device_id, None, "simulated ban"))
            return DeviceFatalError("WhatsApp banned this number (simulated)", "banned")
        self._emit(LoggedOut(self.device.device_id, "simulated logout"))
        return DeviceFatalError("the phone logged this device out (simulated)", "logged_out")

    def _timelock(self, script: dict[str, Any]) -> None:
        """Answer 463 "reach-out timelocked" once the script's sends are spent, for its seconds
        (once per session, as WhatsApp lifts it at the stated end)."""
        if script["timelock_after"] is None or self._sends < script["timelock_after"]:
            return
        now = datetime.now(UTC)
        if self._timelock_until is None:
            self._timelock_until = now + timedelta(seconds=script["timelock_seconds"])
        if now < self._timelock_until:
            raise RestrictedError(
                "WhatsApp refused the send: 463 reach-out timelocked (simulated) until "
                f"{self._timelock_until:%H:%M:%S} UTC", self._timelock_until, "timelock", 463)

    def _send(self, to: str, kind: str, content: str, media_bytes: int | None) -> SendResult:
        if self._stopped.is_set():
            raise TransientError("simulated session is stopped")
        started = datetime.now(UTC)
        if self.settings.sim_latency_seconds > 0:
            time.sleep(self.settings.sim_latency_seconds)
        device_script = self.network.device_script(self.device.device_id)
        if device_script:
            for key, status in (("logout_after", "logged_out"), ("ban_after", "banned")):
                if device_script[key] is not None and self._sends >= device_script[key]:
                    raise self._fatal(status)
            self._timelock(device_script)
        script = self.network.phone_script(to)
        if script:
            if not script["on_whatsapp"]:
                raise PermanentError(f"{to} is not on WhatsApp")
            mode = script["fail_mode"]
            if mode and (script["fail_count"] is None
                         or self.network.count_phone_failure(to) <= script["fail_count"]):
                if mode == "transient":
                    raise TransientError("simulated network timeout")
                if mode == "permanent":
                    raise PermanentError(f"WhatsApp rejected the message to {to} (simulated)")
                raise self._fatal(mode)
        rate = self.settings.sim_failure_rate
        if rate > 0 and self._random.random() < rate:
            raise TransientError("simulated network timeout (random)")
        provider_id = "SIM" + uuid.uuid4().hex[:20].upper()
        self.network.deliver({
            "device_id": self.device.device_id, "message_id": sending_message_id.get(),
            "phone": to, "message_type": kind, "content": content, "media_bytes": media_bytes,
            "provider_message_id": provider_id, "started_at": started,
            "delivered_at": datetime.now(UTC),
        })
        self._sends += 1
        if script and script["reply_text"]:
            reply = script["reply_text"]
            self._later(float(script["reply_delay_s"]), lambda: self._emit(IncomingMessage(
                self.device.device_id, to, reply, datetime.now(UTC),
                provider_message_id="SIMIN" + uuid.uuid4().hex[:16].upper())))
        self._answer(to, provider_id)
        return SendResult(provider_id, datetime.now(UTC))

    def _answer(self, to: str, provider_id: str) -> None:
        """What the lead's phone does with the message: receipts, and sometimes a reply."""
        settings, later = self.settings, self.network.scheduler.later
        delay = settings.sim_deliver_seconds
        device = self.device.device_id

        def receipt(kind: str) -> None:
            self._emit(Receipt(device, (provider_id,), kind, datetime.now(UTC)))

        later(delay, lambda: receipt("delivered"))
        if fate(provider_id, "read") < settings.sim_read_rate:
            later(delay * READ_AFTER_DELIVERIES, lambda: receipt("read"))
        if fate(provider_id, "reply") < settings.sim_reply_rate:
            later(delay * REPLY_AFTER_DELIVERIES, lambda: self._emit(IncomingMessage(
                device, to, SIM_REPLY_TEXT, datetime.now(UTC),
                provider_message_id="SIMIN" + uuid.uuid4().hex[:16].upper(),
                quoted_provider_id=provider_id)))

    def stop(self) -> None:
        """Close the session."""
        self._stopped.set()
        self.network.detach(self)
        for timer in self._timers:
            timer.cancel()

    def logout(self) -> None:
        """Forget the session (nothing to unlink in the simulation)."""
        self.stop()


class SimulatedFactory:
    """Makes simulated sessions that share one process-wide network."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.network = SimulatedNetwork(settings, database_url)

    def open(self, device: DeviceInfo) -> SimulatedTransport:
        """A new session object for device."""
        return SimulatedTransport(self.network, device)

    def close(self) -> None:
        """Stop the network's flusher."""
        self.network.close()
