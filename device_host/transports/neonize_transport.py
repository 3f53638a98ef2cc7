"""The real WhatsApp transport: one neonize (whatsmeow) client per device, sessions in PostgreSQL.

Facts that shape it (notes/neonize.md): neonize is imported only here and only when this transport
is chosen; `NewClient(dsn, jid=..., uuid=..., new_device=...)` keeps sessions in the `whatsmeow`
schema of the application database (migration 0040), so a device can move between hosts; each
client object gets a fresh uuid (a collected old object would otherwise stop a new one); connect()
blocks until stop(), so it runs on its own thread; every call into the Go library holds the
process-wide readers/writer lock (neonize_lock) because the Go side's maps are unsynchronised.
"""

import io
import logging
import os
import shlex
import shutil
import subprocess
import threading
import time
import uuid
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

from device_host.transports import neonize_errors, neonize_events
from device_host.transports.base import (
    DeviceFatalError,
    DeviceInfo,
    Disconnected,
    Event,
    EventCallback,
    LoggedOut,
    PairingCode,
    PermanentError,
    QrCode,
    SendResult,
    TransientError,
)
from device_host.transports.media_fetch import Media, check_kind, sniff_mimetype
from device_host.transports.neonize_lock import NEONIZE_LOCK, WriteHold
from dripfleet.database import get_engine, libpq_url
from dripfleet.settings import Settings
from dripfleet.stores import whatsmeow_sessions

log = logging.getLogger(__name__)

SESSION_SCHEMA = "whatsmeow"
# the write lock covers a connect's start-up (the Go side registers the client) for at most this
STARTUP_HOLD_SECONDS = 1.0
# start() waits this long for the first connect to fail or to produce an event
START_WAIT_SECONDS = 15.0
# whatsmeow offers about 160 s of QR codes and then goes silent (notes/neonize.md)
PAIRING_SECONDS = 160.0
FIRST_QR_SECONDS = 60.0
NEXT_QR_SECONDS = 20.0
PAIR_CODE_WAIT_SECONDS = 30.0
# reconnect backoff after a connect that failed once the session had started
RECONNECT_MIN_SECONDS = 2.0
RECONNECT_MAX_SECONDS = 300.0
ON_WHATSAPP_CACHE_SECONDS = 7 * 24 * 3600.0
_PHONE_SERVER = "s.whatsapp.net"
_SESSION_GONE = "this device has no stored WhatsApp session: pair it again"


def load_neonize() -> Any:
    """Import neonize (once) and give logging back to the application."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    # neonize's platform probe runs `os.popen("uname -a").read()` at import and never closes the
    # pipe nor reaps the child (ResourceWarnings later, errors under pytest): run it properly
    popen, os.popen = os.popen, _popen_read
    try:
        import neonize.client  # noqa: F401 - the import itself loads the Go library
        import neonize.events  # noqa: F401
        import neonize.utils  # noqa: F401
    finally:
        os.popen = popen

    # neonize calls logging.basicConfig(level=INFO) at import: undo what it added
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    return neonize


def _popen_read(command: str, mode: str = "r", buffering: int = -1) -> io.StringIO:
    """os.popen for reading, finished at once: the command's output as a file."""
    run = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False)
    return io.StringIO(run.stdout)


def session_store_dsn(database_url: str, schema: str = SESSION_SCHEMA) -> str:
    """The PostgreSQL DSN neonize takes as its session store, confined to schema."""
    url = libpq_url(database_url)
    params = []
    if "sslmode=" not in url:
        params.append("sslmode=prefer")  # Go's lib/pq defaults to require; libpq to prefer
    params.append(f"search_path={schema}")
    return url + ("&" if "?" in url else "?") + "&".join(params)


def ffmpeg_missing() -> list[str]:
    """The video tools neonize needs that are not on PATH."""
    return [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]


def phone_jid(phone: str) -> Any:
    """The WhatsApp JID of an E.164 phone."""
    from neonize.utils import build_jid

    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits:
        raise PermanentError(f"not a phone number: {phone!r}")
    return build_jid(digits, _PHONE_SERVER)


def _stored_jid(text: str) -> Any:
    from neonize.proto.Neonize_pb2 import JID

    user, _, server = text.partition("@")
    user = user.split(":", 1)[0].split(".", 1)[0]
    return JID(User=user, Server=server or _PHONE_SERVER, RawAgent=0, Device=0, Integrator=0,
               IsEmpty=False)


class NeonizeFactory:
    """Per worker process: the session store, the is-on-WhatsApp cache, the live sessions."""

    def __init__(self, settings: Settings, database_url: str, store: str | None = None) -> None:
        self.settings = settings
        # store: another neonize session store (a SQLite path) for experiments; default PostgreSQL
        self.store_dsn = store or session_store_dsn(database_url)
        self.engine = get_engine(database_url, pool_size=1)
        load_neonize()
        missing = ffmpeg_missing()
        self.video_problem = (
            f"{' and '.join(missing)} not installed on this host: video messages cannot be sent"
            " (install ffmpeg)" if missing else None
        )
        if self.video_problem:
            log.warning("neonize transport: %s", self.video_problem)
        self._on_whatsapp: dict[str, tuple[bool, float]] = {}
        self._cache_lock = threading.Lock()
        self._sessions: weakref.WeakSet[NeonizeTransport] = weakref.WeakSet()

    def open(self, device: DeviceInfo) -> "NeonizeTransport":
        """A new, not yet started session for device."""
        session = NeonizeTransport(self, device)
        self._sessions.add(session)
        return session

    def has_session(self, jid: str) -> bool:
        """Whether the session store holds jid's session."""
        with self.engine.begin() as conn:
            return whatsmeow_sessions.session_exists(conn, jid)

    def cached_on_whatsapp(self, phone: str) -> bool | None:
        """A remembered is-on-WhatsApp answer, or None."""
        with self._cache_lock:
            entry = self._on_whatsapp.get(phone)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def remember_on_whatsapp(self, phone: str, on_whatsapp: bool) -> None:
        """Remember an is-on-WhatsApp answer for a while."""
        with self._cache_lock:
            self._on_whatsapp[phone] = (on_whatsapp, time.monotonic() + ON_WHATSAPP_CACHE_SECONDS)

    def close(self) -> None:
        """Stop every session still running."""
        for session in list(self._sessions):
            session.stop()


class NeonizeTransport:
    """One device's whatsmeow session (implements base.Transport)."""

    def __init__(self, factory: NeonizeFactory, device: DeviceInfo) -> None:
        self.factory = factory
        self.settings = factory.settings
        self.device = device
        self.client: Any = None
        self.client_uuid: str | None = None
        self._on_event: EventCallback | None = None
        self._stopped = threading.Event()
        self._first_signal = threading.Event()  # an event arrived or the connect returned
        self._first_qr = threading.Event()
        self._connected = threading.Event()
        self._paired = threading.Event()
        self._start_error: BaseException | None = None
        self._start_returned = False  # start() gave up waiting: later failures reconnect
        self._hold: WriteHold | None = None
        self._thread: threading.Thread | None = None
        self._qr_count = 0
        self._pairing = device.pairing_mode is not None
        self._jid = None if self._pairing else device.jid  # the session to resume
        self._final = False  # logged out / banned: never reconnect
        self._show_qr = device.pairing_mode == "qr"
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()

    # -- events (called on Go's threads: only translate and enqueue) ---------------------------

    def _emit(self, event: Event) -> None:
        if self._on_event is not None and not self._stopped.is_set():
            self._on_event(event)

    def handle(self, _client: Any, event: Any) -> None:
        """Handler registered for every neonize event type the transport maps."""
        self._end_startup()
        try:
            events = neonize_events.translate(self.device.device_id, event)
        except Exception:  # noqa: BLE001 - a malformed event must not reach Go's thread
            log.exception("device %s: could not read a %s event", self.device.device_id,
                          type(event).__name__)
            return
        for item in events:
            name = type(item).__name__
            if name == "Paired":
                self._jid = item.jid  # a reconnect resumes this session, not a new pairing
                self._paired.set()
                self._pairing = False
            elif name in ("LoggedOut", "Banned"):
                self._final = True
                self._connected.clear()
            elif name == "Connected":
                self._connected.set()
            elif name == "Disconnected":
                self._connected.clear()
            self._emit(item)

    def handle_qr(self, _client: Any, data: bytes) -> None:
        """QR payloads (`2@...`) while pairing."""
        self._end_startup()
        self._qr_count += 1
        self._first_qr.set()
        if not self._show_qr or self._paired.is_set():
            return
        payload = data.decode() if isinstance(data, bytes) else str(data)
        valid = FIRST_QR_SECONDS if self._qr_count == 1 else NEXT_QR_SECONDS
        self._emit(QrCode(self.device.device_id, payload,
                          datetime.now(UTC) + timedelta(seconds=valid)))

    def _end_startup(self) -> None:
        self._first_signal.set()
        hold = self._hold
        if hold is not None:
            hold.release()

    # -- the session -----------------------------------------------------------------------------

    def _new_client(self) -> Any:
        """A client object with a fresh uuid and our handlers (registered before connect)."""
        from neonize import events as nz_events
        from neonize.client import NewClient

        fresh = uuid.uuid4().hex
        resume = None if self._pairing else self._jid
        client = NewClient(
            self.factory.store_dsn, jid=_stored_jid(resume) if resume else None, uuid=fresh,
            new_device=resume is None,
        )
        # neonize keys a client resumed by jid on jid.User; the garbage-collection finaliser
        # would then stop a newer client of the same device: use our uuid, stop explicitly
        client._stop_finalizer.detach()
        client.uuid = fresh.encode()
        client.contact.uuid = client.uuid
        client.chat_settings.uuid = client.uuid
        for name in neonize_events.HANDLED:
            client.event(getattr(nz_events, name))(self.handle)
        client.event.qr(self.handle_qr)
        self.client_uuid = fresh
        return client

    def start(self, on_event: EventCallback) -> None:
        """Connect on a thread of its own; raise OfflineError when WhatsApp is unreachable."""
        self._on_event = on_event
        if not self._session_stored():
            raise DeviceFatalError(_SESSION_GONE, "logged_out")
        self.client = self._new_client()
        self._thread = threading.Thread(
            target=self._run, name=f"neonize-{self.device.device_id}", daemon=True
        )
        self._thread.start()
        self._first_signal.wait(START_WAIT_SECONDS)
        with self._lock:
            self._start_returned = True
        if self._start_error is not None:
            self._stopped.set()
            raise self._start_error
        if self._pairing:
            self._later(PAIRING_SECONDS, self._pairing_timed_out)

    def _session_stored(self) -> bool:
        """False (and LoggedOut emitted) when the session to resume is missing from the store."""
        if self._pairing or (self._jid is not None and self.factory.has_session(self._jid)):
            return True
        # no jid: nothing to resume (only pairing makes a session); a jid the store does not hold
        # would crash the Go side when resumed: either way the device must be paired again
        self._final = True
        if self._on_event is not None:
            self._on_event(LoggedOut(self.device.device_id, _SESSION_GONE))
        return False

    def _connect_once(self, client: Any) -> BaseException | None:
        """Run one connect() to its end (a stop, or an error); None when stopped cleanly."""
        self._hold = WriteHold(NEONIZE_LOCK)
        timer = threading.Timer(STARTUP_HOLD_SECONDS, self._hold.release)
        timer.daemon = True
        timer.start()
        try:
            client.connect(self._proxy())
        except Exception as error:  # noqa: BLE001 - reported, never raised on this thread
            return error
        finally:
            timer.cancel()
            self._hold.release()
        return None

    def _run(self) -> None:
        client, started, backoff = self.client, False, RECONNECT_MIN_SECONDS
        while True:
            error = self._connect_once(client)
            if not started:
                started = True
                with self._lock:
                    failed_start = error is not None and not self._start_returned and not (
                        self._first_signal.is_set())
                    if failed_start:
                        self._start_error = self._connect_error(error)
                    self._first_signal.set()
                if failed_start:
                    self._stop_client(client)
                    return
            if self._stopped.is_set():
                return  # stop() stopped the client
            if self._final:
                self._stop_client(client)
                return
            reason = self._connect_error(error) if error else TransientError(
                "the WhatsApp connection ended")
            self._connected.clear()
            self._emit(Disconnected(self.device.device_id, str(reason)))
            self._stop_client(client)
            log.warning("device %s: %s; reconnecting in %.0f s", self.device.device_id, reason,
                        backoff)
            if self._stopped.wait(backoff):
                return
            backoff = min(backoff * 2, RECONNECT_MAX_SECONDS)
            with self._lock:
                if self._stopped.is_set() or self._final or not self._session_stored():
                    return
                client = self.client = self._new_client()

    def _proxy(self) -> Any:
        address = self.settings.whatsapp_proxy
        if not address:
            return None
        from neonize.client import ProxySettings

        return ProxySettings(proxy_address=address)

    @staticmethod
    def _connect_error(error: BaseException) -> BaseException:
        if neonize_errors.is_offline(error):
            return neonize_errors.offline_error(error)
        return neonize_errors.classify(error, "connect")

    @staticmethod
    def _stop_client(client: Any) -> None:
        with NEONIZE_LOCK.writing():
            try:
                client.stop()
            except Exception:  # noqa: BLE001 - stopping must always finish
                log.exception("stopping a neonize client failed")

    def _later(self, delay: float, fn: Any) -> None:
        timer = threading.Timer(delay, fn)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _pairing_timed_out(self) -> None:
        if self._paired.is_set() or self._stopped.is_set():
            return
        log.warning("device %s: pairing timed out: nobody scanned the code in %.0f s",
                    self.device.device_id, PAIRING_SECONDS)
        self._emit(Disconnected(self.device.device_id, "pairing timed out"))
        self.stop()

    def pair_qr(self) -> None:
        """QR codes follow as QrCode events (they started with the connect)."""
        self._show_qr = True

    def pair_code(self, phone: str) -> None:
        """Ask WhatsApp for an 8-character code for phone once the session shows its first QR."""
        self._show_qr = False
        threading.Thread(target=self._request_pair_code, args=(phone,), daemon=True,
                         name=f"neonize-pair-{self.device.device_id}").start()

    def _request_pair_code(self, phone: str) -> None:
        if not self._first_qr.wait(PAIR_CODE_WAIT_SECONDS) or self._stopped.is_set():
            log.warning("device %s: no pairing session to ask a code from", self.device.device_id)
            return
        digits = "".join(ch for ch in phone if ch.isdigit())
        try:
            with NEONIZE_LOCK.reading():
                code = self.client.PairPhone(digits, True)
        except Exception as error:  # noqa: BLE001 - reported as a readable pairing problem
            log.warning("device %s: pair code request failed: %s", self.device.device_id,
                        neonize_errors.classify(error, "pair by phone"))
            return
        shown = f"{code[:4]}-{code[4:]}" if len(code) == 8 else code
        self._emit(PairingCode(self.device.device_id, shown,
                               datetime.now(UTC) + timedelta(seconds=PAIRING_SECONDS)))

    # -- sending ---------------------------------------------------------------------------------

    def _call(self, action: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One neonize call under the read lock, its exceptions classified."""
        client = self.client
        if client is None or self._stopped.is_set():
            raise TransientError(f"{action} failed: the WhatsApp session is not running")
        try:
            with NEONIZE_LOCK.reading():
                return fn(client, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 - every failure becomes a transport error
            raise neonize_errors.classify(error, action) from error

    def typing_seconds(self, text: str) -> float:
        """How long "typing…" shows before a message of this text."""
        per_char = self.settings.typing_seconds_per_char
        return min(len(text) * per_char, self.settings.typing_max_seconds)

    def _typing(self, jid: Any, text: str) -> None:
        seconds = self.typing_seconds(text)
        if seconds <= 0:
            return
        from neonize.utils.enum import ChatPresence, ChatPresenceMedia

        try:
            self._call("typing", lambda c: c.send_chat_presence(
                jid, ChatPresence.CHAT_PRESENCE_COMPOSING,
                ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT))
        except TransientError as error:
            log.debug("device %s: typing presence failed: %s", self.device.device_id, error)
            return  # cosmetic: the send itself reports a real problem
        self._stopped.wait(seconds)

    def _recipient(self, to: str) -> Any:
        jid = phone_jid(to)
        if self.settings.check_on_whatsapp and not self.is_on_whatsapp(to):
            raise PermanentError(f"{to} is not on WhatsApp")
        return jid

    def _result(self, response: Any) -> SendResult:
        stamp = int(getattr(response, "Timestamp", 0) or 0)
        if stamp > 10**12:
            stamp //= 1000
        when = datetime.fromtimestamp(stamp, UTC) if stamp else datetime.now(UTC)
        return SendResult(response.ID, when)

    def send_text(self, to: str, text: str) -> SendResult:
        """Send a text after a "typing…" moment scaled to its length."""
        jid = self._recipient(to)
        self._typing(jid, text)
        return self._result(self._call("send", lambda c: c.send_message(jid, text)))

    def send_image(self, to: str, data: bytes, caption: str | None = None) -> SendResult:
        """Send an image (bytes; their type is checked first)."""
        check_kind("image", Media(data, "image", sniff_mimetype(data)))
        jid = self._recipient(to)
        self._typing(jid, caption or "")
        return self._result(self._call(
            "send image", lambda c: c.send_image(jid, data, caption=caption or None)))

    def send_video(self, to: str, data: bytes, caption: str | None = None) -> SendResult:
        """Send a video (needs ffmpeg/ffprobe on the host)."""
        if self.factory.video_problem:
            raise PermanentError(self.factory.video_problem)
        check_kind("video", Media(data, "video", sniff_mimetype(data)))
        jid = self._recipient(to)
        self._typing(jid, caption or "")
        return self._result(self._call(
            "send video", lambda c: c.send_video(jid, data, caption=caption or None)))

    def send_document(
        self, to: str, data: bytes, filename: str, caption: str | None = None,
        mimetype: str | None = None,
    ) -> SendResult:
        """Send a document under filename."""
        kind = sniff_mimetype(data, filename, mimetype)
        jid = self._recipient(to)
        self._typing(jid, caption or "")
        return self._result(self._call(
            "send document", lambda c: c.send_document(
                jid, data, caption=caption or None, filename=filename, mimetype=kind)))

    def is_on_whatsapp(self, phone: str) -> bool:
        """Whether phone has a WhatsApp account (cached per phone for a week)."""
        cached = self.factory.cached_on_whatsapp(phone)
        if cached is not None:
            return cached
        digits = "+" + "".join(ch for ch in phone if ch.isdigit())
        answers = self._call("is-on-WhatsApp check", lambda c: c.is_on_whatsapp(digits))
        found = any(answer.IsIn for answer in answers)
        self.factory.remember_on_whatsapp(phone, found)
        return found

    # -- ending ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Close the session, keeping its credentials in the store."""
        with self._lock:
            if self._stopped.is_set() and self.client is None:
                return
            self._stopped.set()
            client, self.client = self.client, None
        for timer in self._timers:
            timer.cancel()
        if client is not None:
            self._stop_client(client)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def logout(self) -> None:
        """Unlink this companion device from the phone, then stop."""
        if self.client is not None and self._connected.is_set():
            try:
                self._call("logout", lambda c: c.logout())
            except Exception as error:  # noqa: BLE001 - the session ends either way
                log.warning("device %s: logout failed: %s", self.device.device_id, error)
        self.stop()
