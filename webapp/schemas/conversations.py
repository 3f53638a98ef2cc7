"""Conversation, inbox and mark-read schemas."""

from apiflask import Schema
from apiflask.fields import Integer, List, Nested, String
from apiflask.validators import Range, Regexp

from dripfleet.stores.sending import FAILURE_CLASSES
from webapp.schemas.common import Instant
from webapp.schemas.messages import STATUSES
from webapp.services.conversations import CONVERSATION_CURSOR, INBOX_CURSOR

# what a lead can send us: the types we send, and audio, stickers and anything else
INBOUND_TYPES = ("text", "image", "video", "document", "audio", "sticker", "other")


class ConversationItem(Schema):
    """One message of a conversation: ours (`out`) or the lead's (`in`)."""

    direction = String(required=True, metadata={"enum": ["out", "in"]})
    id = Integer(required=True, metadata={
        "description": "out: the message id (GET /api/messages/{id}); in: the inbound id"})
    at = Instant(required=True, metadata={
        "description": "out: sent_at, or created_at while unsent; in: received_at"})
    message_type = String(required=True, metadata={"enum": list(INBOUND_TYPES)})
    text = String(required=True, metadata={"description": "the body, or a media's caption"})
    device_id = Integer(allow_none=True, required=True)
    status = String(metadata={"enum": list(STATUSES), "description": "out only"})
    delivered_at = Instant(allow_none=True, metadata={"description": "out only"})
    failure_class = String(allow_none=True, metadata={
        "enum": list(FAILURE_CLASSES), "description": "out only"})
    read_at = Instant(allow_none=True, required=True, metadata={
        "description": "out: the lead's read receipt; in: when you marked it read"})
    quoted_message_id = Integer(allow_none=True, metadata={
        "description": "in only: our message it quotes"})


class Conversation(Schema):
    """A page of one lead's conversation, newest first."""

    items = List(Nested(ConversationItem), required=True)
    next_before = String(allow_none=True, required=True,
                         metadata={"description": "pass as `before` for older messages"})


class ConversationQuery(Schema):
    """Newest first; pass next_before as `before` for older messages."""

    limit = Integer(load_default=50, validate=Range(min=1, max=500))
    before = String(validate=Regexp(CONVERSATION_CURSOR, error="not a cursor of this list "
                                    "(give next_before of the previous page)"),
                    metadata={"example": "1764709200000000-o-42"})


class InboxRow(Schema):
    """A lead that wrote in, with its latest message."""

    lead_id = Integer(required=True)
    name = String(allow_none=True, required=True)
    phone = String(required=True)
    message_id = Integer(required=True, metadata={"description": "the latest inbound message"})
    at = Instant(required=True, metadata={"description": "when it was received"})
    message_type = String(required=True, metadata={"enum": list(INBOUND_TYPES)})
    text = String(required=True)
    device_id = Integer(allow_none=True, required=True)
    unread = Integer(required=True, metadata={"description": "inbound messages not marked read"})


class Inbox(Schema):
    """A page of the inbox, newest first."""

    items = List(Nested(InboxRow), required=True)
    next_before = String(allow_none=True, required=True,
                         metadata={"description": "pass as `before` for older rows"})


class InboxQuery(Schema):
    """Newest first; pass next_before as `before` for older rows."""

    limit = Integer(load_default=50, validate=Range(min=1, max=500))
    before = String(validate=Regexp(INBOX_CURSOR, error="not a cursor of this list "
                                    "(give next_before of the previous page)"),
                    metadata={"example": "1764709200000000-42"})


class MarkedRead(Schema):
    """How many of the lead's inbound messages were marked read."""

    lead_id = Integer(required=True)
    marked = Integer(required=True)
