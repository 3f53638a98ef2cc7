"""One-off send and message schemas."""

from apiflask import Schema
from apiflask.fields import Integer, List, Nested, String
from apiflask.validators import OneOf, Range, Regexp

from dripfleet.stores.sending import FAILURE_CLASSES
from webapp.schemas.common import MAX_ID, PRIORITIES, Id, Instant, Text
from webapp.schemas.sequences import MESSAGE_TYPES, MediaUrl

STATUSES = ("queued", "held", "sending", "sent", "failed", "cancelled", "expired")
SOURCES = ("campaign", "sequence", "api")
TIMELINE_KINDS = ("queued", "sent", "delivered", "read", "played", "failed", "cancelled",
                  "expired")


class MessageIn(Schema):
    """One message to one lead: by lead_id, or by phone (a new phone becomes a lead)."""

    lead_id = Id(load_default=None, allow_none=True, metadata={"description": "or phone"})
    phone = Text(64, load_default=None, allow_none=True, metadata={
        "description": "or lead_id; normalised to E.164 (region, else DEFAULT_REGION); a phone "
                       "that is none of your leads becomes a lead",
        "example": "+60123456789"})
    region = String(load_default=None, allow_none=True, validate=Regexp(r"^[A-Za-z]{2}$"),
                    metadata={"description": "for a phone without country code"})
    message_type = String(load_default="text", validate=OneOf(MESSAGE_TYPES))
    body = Text(65536, load_default="", metadata={
        "description": "template: {{ first_name }}, lead attributes, spintax {Hi|Hello}"})
    media = MediaUrl(load_default=None, allow_none=True,
                     metadata={"description": "a public http(s) URL, or give media_id"})
    media_id = Id(load_default=None, allow_none=True,
                  metadata={"description": "one of your uploads (POST /api/media)"})
    caption = Text(4096, load_default=None, allow_none=True)
    filename = Text(255, load_default=None, allow_none=True)
    device_id = Id(load_default=None, allow_none=True, metadata={
        "description": "used when the lead has no usable preferred device and this one is "
                       "usable; otherwise the least loaded usable device"})
    priority = String(load_default="normal", validate=OneOf(PRIORITIES), metadata={
        "description": "high: the device sends it before its waiting drip and campaign "
                       "messages (a person's reply, a test); normal: it takes turns with them"})


class IdempotencyIn(Schema):
    """Headers of a send."""

    idempotency_key = String(
        data_key="Idempotency-Key", validate=Regexp(r"^[!-~]{1,255}$"),
        metadata={"description": "the same key from you again returns the first message "
                                 "(200) instead of sending another"})


class TimelineEvent(Schema):
    """One thing that happened to a message."""

    kind = String(required=True, metadata={"enum": list(TIMELINE_KINDS)})
    at = Instant(required=True)
    error = String(allow_none=True)
    failure_class = String(allow_none=True, metadata={"enum": list(FAILURE_CLASSES)})


class MessageItem(Schema):
    """A message in a list."""

    id = Integer(required=True)
    lead_id = Integer(allow_none=True, required=True)
    phone = String(required=True)
    device_id = Integer(allow_none=True, required=True)
    source = String(required=True, metadata={"enum": list(SOURCES)})
    campaign_id = Integer(allow_none=True, required=True)
    sequence_id = Integer(allow_none=True, required=True)
    message_type = String(required=True, metadata={"enum": list(MESSAGE_TYPES)})
    body = String(required=True)
    media_url = String(allow_none=True, required=True)
    media_id = Integer(allow_none=True, required=True)
    caption = String(allow_none=True, required=True)
    filename = String(allow_none=True, required=True)
    status = String(required=True, metadata={"enum": list(STATUSES)})
    attempts = Integer(required=True)
    last_error = String(allow_none=True, required=True)
    failure_class = String(allow_none=True, required=True,
                           metadata={"enum": list(FAILURE_CLASSES)})
    created_at = Instant(required=True)
    sent_at = Instant(allow_none=True, required=True)
    delivered_at = Instant(allow_none=True, required=True,
                           metadata={"description": "WhatsApp's delivery receipt"})
    read_at = Instant(allow_none=True, required=True)
    provider_message_id = String(allow_none=True, required=True)


class Message(MessageItem):
    """A message with its timeline."""

    timeline = List(Nested(TimelineEvent), required=True)


class MessageList(Schema):
    """A page of messages, newest first."""

    items = List(Nested(MessageItem), required=True)
    next_before = Integer(allow_none=True, required=True)


class MessageQuery(Schema):
    """Newest first; pass next_before as `before` for older messages. Filters combine."""

    limit = Integer(load_default=50, validate=Range(min=1, max=500))
    before = Integer(validate=Range(min=1, max=MAX_ID))
    lead_id = Integer(validate=Range(min=1, max=MAX_ID))
    campaign_id = Integer(validate=Range(min=1, max=MAX_ID))
    sequence_id = Integer(validate=Range(min=1, max=MAX_ID))
    status = String(validate=OneOf(STATUSES))
