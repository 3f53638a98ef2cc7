"""The Transport interface: one WhatsApp session per device, typed events, classified errors.

A worker process holds one `TransportFactory` and asks it for a `Transport` per device it drives.
Every method may block (the worker calls them from its own threads, never from its main loop);
events may arrive on any thread, so the callback given to `start` must only enqueue. The worker
calls at most one `send_*` at a time per session.
"""

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from dripfleet.stores.sending import FAILURE_CLASSES

# ---- device description handed to the factory ----------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    """What a transport needs to know about the device it drives."""

    device_id: int
    user_id: int
    name: str
    jid: str | None = None
    phone: str | None = None
    # 'qr' or 'code' when the device must pair first, else None (resume the stored session)
    pairing_mode: str | None = None
    pairing_phone: str | None = None


# ---- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Base of every event; device_id says which session it came from."""

    device_id: int


@dataclass(frozen=True)
class QrCode(Event):
    """A new QR payload to show (the raw `2@...` string); valid until expires_at."""

    payload: str
    expires_at: datetime


@dataclass(frozen=True)
class PairingCode(Event):
    """An 8-character code to type on the phone (phone-number pairing)."""

    code: str
    expires_at: datetime


@dataclass(frozen=True)
class Paired(Event):
    """Pairing succeeded: the device's WhatsApp identity."""

    jid: str
    phone: str


@dataclass(frozen=True)
class Connected(Event):
    """The session is connected and may send."""


@dataclass(frozen=True)
class Disconnected(Event):
    """The connection dropped; the transport reconnects by itself (Connected follows)."""

    reason: str = ""


@dataclass(frozen=True)
class LoggedOut(Event):
    """The phone removed this companion device (or the session was replaced): final."""

    reason: str = ""


@dataclass(frozen=True)
class Banned(Event):
    """WhatsApp banned the number; until is None for a permanent ban: final."""

    until: datetime | None = None
    reason: str = ""


INBOUND_TYPES = ("text", "image", "video", "document", "audio", "sticker", "other")


@dataclass(frozen=True)
class IncomingMessage(Event):
    """A message a lead sent to this device: its text (or a media caption), its type, the
    provider id WhatsApp gave it and, when it quotes a message, the quoted one's provider id."""

    from_phone: str
    text: str
    received_at: datetime | None = None
    message_type: str = "text"
    provider_message_id: str | None = None
    quoted_provider_id: str | None = None


RECEIPT_KINDS = ("delivered", "read", "played")


@dataclass(frozen=True)
class Receipt(Event):
    """The recipient's phone reports messages (by the provider ids their sends returned) as
    delivered, read or played (a voice or video message), at `at`."""

    provider_message_ids: tuple[str, ...]
    kind: str
    at: datetime

    def __post_init__(self) -> None:
        if self.kind not in RECEIPT_KINDS:
            raise ValueError(f"receipt kind must be one of {RECEIPT_KINDS}, not {self.kind!r}")


EventCallback = Callable[[Event], None]

# ---- errors ------------------------------------------------------------------------------------


# Why a send failed (FAILURE_CLASSES, stored on the message): only 'device' failures count
# towards DEVICE_FAILURE_PAUSE_AFTER and move a device's messages elsewhere; 'content' failures
# pause the campaign or sequence the message came from; 'recipient' failures are a per-device
# rate (a ban-risk signal) and never disable a device.


class TransportError(Exception):
    """Base of every transport error; the message is shown to users, keep it readable.

    failure_class says whose fault it is (FAILURE_CLASSES); each subclass has a default and a
    raiser may name another (a media server that is down is transient but 'content')."""

    failure_class = "device"

    def __init__(self, message: str = "", failure_class: str | None = None) -> None:
        super().__init__(message)
        if failure_class is not None:
            if failure_class not in FAILURE_CLASSES:
                raise ValueError(f"unknown failure class {failure_class!r}")
            self.failure_class = failure_class


class TransientError(TransportError):
    """Worth retrying later (timeout, connection drop, rate limit); 'device' unless named."""


class PermanentError(TransportError):
    """This message can never be sent (number not on WhatsApp): fail it now; 'recipient'."""

    failure_class = "recipient"


class ContentError(PermanentError):
    """The message itself cannot be sent (media unreachable / wrong type / too large, template
    problem): fail it now; 'content'."""

    failure_class = "content"


class DeviceFatalError(TransportError):
    """The session is over (logged out, banned): the device stops; the message is not at fault."""

    def __init__(self, message: str, status: str = "logged_out") -> None:
        super().__init__(message, "device")
        if status not in ("logged_out", "banned"):
            raise ValueError(f"device-fatal status must be logged_out or banned, not {status!r}")
        self.status = status


RESTRICTION_KINDS = ("timelock", "temporary_ban")


class RestrictedError(TransportError):
    """WhatsApp refuses sends from this number until `until` (error 463 "reach-out timelocked",
    or a temporary ban): the device waits until then and the message, not at fault, is queued
    again with its attempt refunded."""

    def __init__(self, message: str, until: datetime, kind: str = "timelock",
                 code: int | None = None) -> None:
        super().__init__(message, "device")
        if kind not in RESTRICTION_KINDS:
            raise ValueError(f"restriction kind must be one of {RESTRICTION_KINDS}, not {kind!r}")
        self.until = until
        self.kind = kind
        self.code = code


# ---- sending -------------------------------------------------------------------------------------

# The message_queue id being sent, set by the worker around each send_* call (for logs and the
# simulated network's delivery records; a transport must not depend on it).
sending_message_id: ContextVar[int | None] = ContextVar("sending_message_id", default=None)


@dataclass(frozen=True)
class SendResult:
    """What WhatsApp answered to a send."""

    provider_message_id: str
    timestamp: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Transport(Protocol):
    """One device's WhatsApp session. All methods may block; none is called on the main loop."""

    def start(self, on_event: EventCallback) -> None:
        """Open the session (resume it, or begin pairing when the device asked to pair).

        Returns once the session is starting; Connected / QrCode / Paired events follow through
        on_event. Raises TransientError when it cannot start now (counted as a start failure).
        """

    def pair_qr(self) -> None:
        """Begin QR pairing: QrCode events follow, then Paired (or nothing, on timeout)."""

    def pair_code(self, phone: str) -> None:
        """Begin phone-number pairing: a PairingCode event follows, then Paired."""

    def send_text(self, to: str, text: str) -> SendResult:
        """Send a text message to an E.164 phone."""

    def send_image(self, to: str, data: bytes, caption: str | None = None) -> SendResult:
        """Send an image (bytes already downloaded by the caller)."""

    def send_video(self, to: str, data: bytes, caption: str | None = None) -> SendResult:
        """Send a video."""

    def send_document(
        self, to: str, data: bytes, filename: str, caption: str | None = None,
        mimetype: str | None = None,
    ) -> SendResult:
        """Send a document."""

    def is_on_whatsapp(self, phone: str) -> bool:
        """Whether the phone number has a WhatsApp account."""

    def stop(self) -> None:
        """Close the session, keeping its credentials (it may resume on another host)."""

    def logout(self) -> None:
        """Unlink this companion device from the phone and forget the session."""


class TransportFactory(Protocol):
    """Per worker process: makes one Transport per device, and is closed at process exit."""

    def open(self, device: DeviceInfo) -> Transport:
        """A new, not yet started session object for device."""

    def close(self) -> None:
        """Release process-wide resources (threads, connections)."""
