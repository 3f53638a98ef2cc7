"""Results schemas: rates, a sequence's funnel per step, a campaign's recipients."""

from apiflask import Schema
from apiflask.fields import Dict, Integer, List, Nested, String
from apiflask.validators import OneOf

from webapp.schemas.campaigns import FailedByClass, rate_field
from webapp.schemas.common import Instant, PageQuery

STAGES = ("queued", "held", "sending", "sent", "delivered", "read", "replied", "failed",
          "cancelled", "expired")


class Rates(Schema):
    """Rates over the messages sent."""

    delivered_rate = rate_field("delivered")
    read_rate = rate_field("read")
    replied_rate = rate_field("replied")
    opted_out_rate = rate_field("opted_out")


class Funnel(Rates):
    """What became of a step's messages (or of all of a sequence's)."""

    audience = Integer(required=True, metadata={
        "description": "contacts that reached the step (totals: contacts of the sequence)"})
    queued = Integer(required=True, metadata={"description": "waiting: queued, held or sending"})
    sent = Integer(required=True)
    delivered = Integer(required=True, metadata={"description": "WhatsApp reported delivered"})
    read = Integer(required=True, metadata={"description": "WhatsApp reported read"})
    replied = Integer(required=True, metadata={
        "description": "the lead replied within 72 h of the send"})
    failed = Integer(required=True)
    failed_by_class = Nested(FailedByClass, required=True)
    expired = Integer(required=True, metadata={
        "description": "waited longer than MESSAGE_MAX_AGE_HOURS"})
    skipped = Integer(required=True, metadata={
        "description": "not sent: a template problem, or cancelled because the lead opted out "
                       "or replied first, or the contact was removed"})
    opted_out = Integer(required=True, metadata={
        "description": "the lead opted out after this step was sent and before the next one"})


class StepStats(Funnel):
    """One step of the sequence (a day with logs but whose step was removed has no step_id)."""

    day = Integer(required=True)
    step_id = Integer(required=True, allow_none=True)
    message_type = String(required=True, allow_none=True)
    send_time = String(required=True, allow_none=True, metadata={"example": "09:00"})


class SequenceStats(Schema):
    """A sequence's funnel per step, its totals, and its contacts by status."""

    sequence_id = Integer(required=True)
    status = String(required=True)
    steps = List(Nested(StepStats), required=True)
    totals = Nested(Funnel, required=True)
    contacts = Dict(keys=String(), values=Integer(), required=True, metadata={
        "description": "contacts by status (active, paused, completed, replied, opted_out, "
                       "failed); absent statuses are left out"})


class Recipient(Schema):
    """One lead of a campaign and how far its message got."""

    id = Integer(required=True, metadata={"description": "the message id (the page cursor)"})
    lead_id = Integer(required=True, allow_none=True)
    name = String(required=True, allow_none=True)
    phone = String(required=True)
    status = String(required=True, attribute="stage", metadata={
        "enum": list(STAGES),
        "description": "how far it got: replied > read > delivered > sent, else the message's "
                       "status"})
    message_status = String(required=True, attribute="status", metadata={
        "description": "the message's own status"})
    failure_class = String(required=True, allow_none=True)
    last_error = String(required=True, allow_none=True)
    device_id = Integer(required=True, allow_none=True)
    created_at = Instant(required=True)
    sent_at = Instant(required=True, allow_none=True)
    delivered_at = Instant(required=True, allow_none=True)
    read_at = Instant(required=True, allow_none=True)
    replied_at = Instant(required=True, allow_none=True)
    opted_out_at = Instant(required=True, allow_none=True)


class RecipientList(Schema):
    """A page of a campaign's recipients by message id."""

    items = List(Nested(Recipient), required=True)
    next_after = Integer(allow_none=True, required=True)


class RecipientQuery(PageQuery):
    """Recipients filter: how far the message got."""

    status = String(validate=OneOf(STAGES), metadata={
        "description": "only recipients whose status (how far it got) is this"})
