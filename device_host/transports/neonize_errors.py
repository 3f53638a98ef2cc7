"""neonize's exceptions → the transport's error classes (transient, permanent, device-fatal,
restricted) and failure classes (device, recipient, content).

whatsmeow reports most failures as a `NeonizeError` subclass carrying Go's error text; the class
says which call failed and the text says why. Unknown failures are transient: a message is
retried (at most MAX_ATTEMPTS) rather than failed for a reason nobody recognised. Importing
neonize here is deferred to the first call, like everywhere in device_host.
"""

import re
from datetime import UTC, datetime, timedelta

from device_host.transports.base import (
    ContentError,
    DeviceFatalError,
    PermanentError,
    RestrictedError,
    TransientError,
    TransportError,
)


class OfflineError(TransientError):
    """WhatsApp cannot be reached from this host (no network, DNS, proxy): the device is offline."""

    device_status = "offline"


# Go error texts, matched case-insensitively, most specific first
_OFFLINE = re.compile(
    r"failed to dial|websocket dial|no such host|network is unreachable|connection refused"
    r"|i/o timeout|handshake",
    re.IGNORECASE,
)
_NOT_CONNECTED = re.compile(
    r"websocket not connected|not connected|doesn't contain a device jid|not logged in"
    r"|context canceled|client is nil|client not found",
    re.IGNORECASE,
)
_LOGGED_OUT = re.compile(
    r"logged out|401|not-authorized|unauthorized|device removed|main device gone", re.IGNORECASE
)
_BANNED = re.compile(r"banned|\b403\b", re.IGNORECASE)
# 463 "reach-out timelocked": WhatsApp's cap on messages to people who have not replied
_TIMELOCK = re.compile(r"\b463\b|reach-?out[ _-]?time-?locked", re.IGNORECASE)
# how long a timelocked device waits. whatsmeow's send error carries no end; the event that has one
# (NotifyAccountReachoutTimelock, TimeEnforcementEnds) is not exposed by neonize 0.5.x. A person
# may lift it sooner (POST /api/devices/{id}/lift-restriction, or the device page).
TIMELOCK_WAIT_SECONDS = 24 * 3600
_RECIPIENT = re.compile(
    r"not on whatsapp|no such user|invalid jid|item-not-found|\b404\b|\b406\b|not-acceptable",
    re.IGNORECASE,
)
_TRANSIENT = re.compile(
    r"timed out|timeout|deadline exceeded|connection reset|broken pipe|\beof\b|rate|429"
    r"|\b5\d\d\b|server error|service unavailable|try again",
    re.IGNORECASE,
)


def _text(error: BaseException) -> str:
    text = str(error).strip()
    return text or type(error).__name__


def is_offline(error: BaseException) -> bool:
    """Whether a connect failure means WhatsApp is unreachable from this host."""
    return bool(_OFFLINE.search(_text(error)))


def offline_error(error: BaseException) -> OfflineError:
    """The readable 'offline' error for a failed connect."""
    text = _text(error)
    if "no such host" in text.lower():
        why = "the name web.whatsapp.com does not resolve (no network or DNS)"
    elif "refused" in text.lower():
        why = "the connection was refused (proxy or firewall)"
    else:
        why = "the WhatsApp websocket could not be opened"
    return OfflineError(f"offline: WhatsApp is unreachable from this host: {why} ({text})")


def classify(error: BaseException, action: str = "send") -> TransportError:
    """The transport error for an exception a neonize call raised while doing action."""
    if isinstance(error, TransportError):
        return error
    text = _text(error)
    if isinstance(error, FileNotFoundError) and "ff" in text.lower():
        return ContentError(
            f"{action} failed: ffmpeg/ffprobe is not installed on this host (needed for video)"
        )
    name = type(error).__name__
    if name == "FFProbeError":
        return ContentError(f"{action} failed: ffprobe could not read the video ({text})")
    if name == "UnidentifiedImageError":
        return ContentError(f"{action} failed: the image could not be read ({text})")
    if not _is_neonize_error(error):
        return TransientError(f"{action} failed unexpectedly: {name}: {text}")
    if _TIMELOCK.search(text):
        until = datetime.now(UTC) + timedelta(seconds=TIMELOCK_WAIT_SECONDS)
        return RestrictedError(
            f"{action} refused: WhatsApp timelocked messages to new contacts (463); the device "
            f"waits until {until:%Y-%m-%d %H:%M} UTC ({text})", until, "timelock", 463)
    if _OFFLINE.search(text):
        return offline_error(error)
    if _NOT_CONNECTED.search(text):
        return TransientError(f"{action} failed: the WhatsApp session is not connected ({text})")
    if _BANNED.search(text):
        return DeviceFatalError(f"WhatsApp banned this number ({text})", "banned")
    if _LOGGED_OUT.search(text):
        return DeviceFatalError(f"WhatsApp logged this device out ({text})", "logged_out")
    if _RECIPIENT.search(text):
        return PermanentError(f"{action} failed: WhatsApp rejected the recipient ({text})")
    if name == "UploadError" or _TRANSIENT.search(text):
        return TransientError(f"{action} failed, will retry: {text}")
    return TransientError(f"{action} failed: {name}: {text}")


def _is_neonize_error(error: BaseException) -> bool:
    from neonize.exc import NeonizeError

    return isinstance(error, NeonizeError)
