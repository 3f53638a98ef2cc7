"""neonize (whatsmeow) events → the transport's typed events, and the device status each implies.

`translate(device_id, event)` takes the protobuf object neonize hands to a handler and returns the
transport events to emit (often none). The device host turns those into device statuses
(`DEVICE_STATUS`): whatsmeow reconnects by itself after ordinary drops, so Disconnected means
`offline` until Connected follows; LoggedOut, StreamReplaced and TemporaryBan end the session.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from device_host.transports.base import (
    Banned,
    Connected,
    Disconnected,
    Event,
    IncomingMessage,
    LoggedOut,
    Paired,
    Receipt,
)

log = logging.getLogger(__name__)

# transport event type → the device status the device host records for it
DEVICE_STATUS: dict[type[Event], str] = {
    Connected: "online",
    Paired: "online",
    Disconnected: "offline",
    LoggedOut: "logged_out",
    Banned: "banned",
}

# the event classes a transport registers, by neonize.events name
HANDLED = (
    "ConnectedEv", "DisconnectedEv", "PairStatusEv", "LoggedOutEv", "TemporaryBanEv",
    "StreamReplacedEv", "ConnectFailureEv", "KeepAliveTimeoutEv", "MessageEv", "ReceiptEv",
)

# receipt types from the recipient that move a message on; the rest (our own other devices'
# read-self / played-self, sender, retry, server-error, ...) are not about the recipient, and
# upstream 0.5.x maps played-self to SERVER_ERROR: none of them may reach our data
_RECEIPT_KINDS = {"DELIVERED": "delivered", "READ": "read", "PLAYED": "played"}

_PHONE_SERVER = "s.whatsapp.net"
_LOGOUT_REASONS = ("LOGGED_OUT", "MAIN_DEVICE_GONE", "UNKNOWN_LOGOUT")
_BAN_WHY = {
    "SEND_TO_TOO_MANY_PEOPLE": "sent to too many people",
    "BLOCKED_BY_USERS": "blocked by too many users",
    "CREATED_TOO_MANY_GROUPS": "created too many groups",
    "SENT_TOO_MANY_SAME_MESSAGE": "sent the same message too many times",
    "BROADCAST_LIST": "broadcast list abuse",
}


def jid_text(jid: Any) -> str:
    """A JID as text: `user@server` (the device part is dropped)."""
    return f"{jid.User}@{jid.Server}"


def phone_of(jid: Any) -> str:
    """The E.164 phone of a phone-number JID."""
    return "+" + jid.User


def _enum_name(message: Any, field: str) -> str:
    value = getattr(message, field)
    enum = message.DESCRIPTOR.fields_by_name[field].enum_type
    item = enum.values_by_number.get(value)
    return item.name if item is not None else str(value)


def _sender_phone(source: Any) -> str | None:
    # with LID addressing the sender is a lid and its phone JID rides in SenderAlt
    for jid in (source.Sender, source.SenderAlt, source.Chat):
        if jid.User and jid.Server == _PHONE_SERVER:
            return phone_of(jid)
    return None


def message_text(message: Any) -> str:
    """The text of an incoming WhatsApp message (plain, extended, or a media caption)."""
    if message.conversation:
        return message.conversation
    if message.extendedTextMessage.text:
        return message.extendedTextMessage.text
    for field in ("imageMessage", "videoMessage", "documentMessage"):
        caption = getattr(message, field).caption
        if caption:
            return caption
    return ""


def translate(device_id: int, event: Any, now: datetime | None = None) -> list[Event]:
    """The transport events for one neonize event object (empty when it changes nothing)."""
    now = now or datetime.now(UTC)
    kind = type(event).__name__
    if kind == "Connected":
        return [Connected(device_id)]
    if kind == "Disconnected":
        return [Disconnected(device_id, "the connection to WhatsApp dropped; reconnecting")]
    if kind == "KeepAliveTimeout":
        return [Disconnected(
            device_id, f"WhatsApp stopped answering keep-alives ({event.ErrorCount} missed);"
            " reconnecting")]
    if kind == "PairStatus":
        status = _enum_name(event, "Status")
        if status == "SUCCESS" and event.ID.User:
            return [Paired(device_id, jid_text(event.ID), phone_of(event.ID))]
        log.warning("device %s: pairing failed: %s", device_id, event.Error or status)
        return []
    if kind == "LoggedOut":
        reason = _enum_name(event, "Reason")
        when = "while connecting" if event.OnConnect else "while connected"
        return [LoggedOut(device_id, f"WhatsApp logged this device out {when} ({reason})")]
    if kind == "StreamReplaced":
        return [LoggedOut(
            device_id, "stream replaced: another client opened this session elsewhere")]
    if kind == "TemporaryBan":
        code = _enum_name(event, "Code")
        until = now + timedelta(seconds=max(int(event.Expire), 0))
        why = _BAN_WHY.get(code, code)
        return [Banned(device_id, until,
                       f"temporary ban ({why}) until {until:%Y-%m-%d %H:%M} UTC")]
    if kind == "ConnectFailure":
        reason = _enum_name(event, "Reason")
        detail = f" {event.Message}" if event.Message else ""
        if reason in _LOGOUT_REASONS:
            return [LoggedOut(device_id, f"connect refused: {reason}{detail}")]
        if reason == "TEMP_BANNED":
            return [Banned(device_id, None, f"connect refused: temporarily banned{detail}")]
        if reason == "CLIENT_OUTDATED":
            return [Disconnected(
                device_id, "WhatsApp refused this client as outdated (405): upgrade neonize")]
        return [Disconnected(device_id, f"connect failed: {reason}{detail}")]
    if kind == "Message":
        return _incoming(device_id, event)
    if kind == "Receipt":
        return _receipt(device_id, event, now)
    return []


def _timestamp(stamp: int, default: datetime | None) -> datetime | None:
    if stamp > 10**12:  # milliseconds
        stamp //= 1000
    return datetime.fromtimestamp(stamp, UTC) if stamp else default


def _receipt(device_id: int, event: Any, now: datetime) -> list[Event]:
    receipt_kind = _RECEIPT_KINDS.get(_enum_name(event, "Type"))
    source = event.MessageSource
    if receipt_kind is None or source.IsFromMe or source.IsGroup or not event.MessageIDs:
        return []
    return [Receipt(device_id, tuple(event.MessageIDs), receipt_kind,
                    _timestamp(event.Timestamp, now))]


# incoming message fields → our type (the first present wins); protocol messages (edits,
# revokes), reactions and the like are not messages a lead wrote
_MEDIA_TYPES = (("imageMessage", "image"), ("videoMessage", "video"),
                ("documentMessage", "document"), ("audioMessage", "audio"),
                ("stickerMessage", "sticker"))


def message_type(message: Any) -> str | None:
    """Our type of an incoming WhatsApp message, or None when it is no message a lead wrote."""
    if message.conversation or message.HasField("extendedTextMessage"):
        return "text"
    for field, kind in _MEDIA_TYPES:
        if message.HasField(field):
            return kind
    return None


def _quoted_id(message: Any) -> str | None:
    for field in ("extendedTextMessage", "imageMessage", "videoMessage", "documentMessage"):
        if message.HasField(field):
            stanza = getattr(message, field).contextInfo.stanzaID
            if stanza:
                return stanza
    return None


def _incoming(device_id: int, event: Any) -> list[Event]:
    source = event.Info.MessageSource
    if source.IsFromMe or source.IsGroup:
        return []
    phone = _sender_phone(source)
    kind = message_type(event.Message)
    if phone is None or kind is None:
        return []
    return [IncomingMessage(
        device_id, phone, message_text(event.Message), _timestamp(event.Info.Timestamp, None),
        message_type=kind, provider_message_id=event.Info.ID or None,
        quoted_provider_id=_quoted_id(event.Message))]
