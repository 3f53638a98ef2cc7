"""Campaign schemas."""

from apiflask import Schema
from apiflask.fields import Date, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Regexp

from webapp.schemas.common import (
    PRIORITIES,
    ContentWarning,
    Id,
    Instant,
    Niche,
    PageQuery,
    Text,
    Timezone,
)
from webapp.schemas.sequences import HHMM, MESSAGE_TYPES, TARGETS, MediaUrl

STATUSES = ("draft", "scheduled", "running", "paused", "completed", "cancelled", "failed")
PRIORITY_HELP = ("high: each device sends this campaign's messages before its waiting drip "
                 "(sequence) messages; normal: campaigns and drips take turns on each device, so "
                 "neither waits for the other's whole backlog")


class CampaignIn(Schema):
    """A campaign: when (an instant, or local date + time + timezone), to whom, what."""

    title = Text(200, required=True, min_length=1)
    niche = Niche(load_default=None, allow_none=True,
                  metadata={"description": "null: every lead"})
    target_status = String(load_default="all", validate=OneOf(TARGETS))
    scheduled_at = Instant(load_default=None, allow_none=True,
                           metadata={"example": "2026-12-01T09:00:00+08:00"})
    scheduled_date = Date(load_default=None, allow_none=True)
    scheduled_time = String(load_default=None, allow_none=True, validate=Regexp(HHMM))
    timezone = Timezone(load_default="UTC")
    message_type = String(load_default="text", validate=OneOf(MESSAGE_TYPES))
    body = Text(65536, load_default="")
    media = MediaUrl(load_default=None, allow_none=True)
    media_id = Id(load_default=None, allow_none=True)
    caption = Text(4096, load_default=None, allow_none=True)
    filename = Text(255, load_default=None, allow_none=True)
    pinned_device_id = Id(load_default=None, allow_none=True)
    priority = String(load_default="normal", validate=OneOf(PRIORITIES), metadata={
        "description": PRIORITY_HELP})


class PriorityIn(Schema):
    """A campaign's new priority."""

    priority = String(required=True, validate=OneOf(PRIORITIES),
                      metadata={"description": PRIORITY_HELP})


class ScheduleIn(Schema):
    """Optional new time for schedule."""

    scheduled_at = Instant(load_default=None, allow_none=True)
    scheduled_date = Date(load_default=None, allow_none=True)
    scheduled_time = String(load_default=None, allow_none=True, validate=Regexp(HHMM))
    timezone = Timezone(load_default=None, allow_none=True)


class Campaign(Schema):
    """A stored campaign."""

    id = Integer(required=True)
    title = String(required=True)
    niche = String(allow_none=True)
    target_status = String(required=True)
    scheduled_at = Instant(allow_none=True)
    timezone = String(required=True)
    message_type = String(required=True)
    body = String(required=True)
    media = String(allow_none=True, attribute="media_url")
    media_id = Integer(allow_none=True)
    caption = String(allow_none=True)
    filename = String(allow_none=True)
    pinned_device_id = Integer(allow_none=True)
    priority = String(required=True, metadata={"enum": list(PRIORITIES)})
    status = String(required=True, metadata={"enum": list(STATUSES)})
    audience_size = Integer(allow_none=True, metadata={
        "description": "leads the campaign reaches: final once completed; before that what it "
                       "queued so far plus the matching leads it has not reached yet (a draft: "
                       "every lead matching now)"})
    warnings = List(Nested(ContentWarning), required=True, metadata={
        "description": "worth changing before it is sent (a campaign that may still send): "
                       "same_message = one text for an audience of 50 leads or more"})
    last_error = String(allow_none=True)
    started_at = Instant(allow_none=True)
    completed_at = Instant(allow_none=True)
    created_at = Instant(required=True)
    updated_at = Instant(required=True)


class CampaignItem(Campaign):
    """A campaign in a list."""


class CampaignList(Schema):
    """A page of campaigns."""

    items = List(Nested(CampaignItem), required=True)
    next_after = Integer(allow_none=True, required=True)


class CampaignQuery(PageQuery):
    """Campaign list filters."""

    status = String(validate=OneOf(STATUSES))


class _Counts(Schema):
    queued = Integer(required=True)
    held = Integer(required=True)
    sending = Integer(required=True)
    sent = Integer(required=True)
    failed = Integer(required=True)
    cancelled = Integer(required=True)
    expired = Integer(required=True)


class DeviceProgress(_Counts):
    """Messages of the campaign on one device."""

    device_id = Integer(allow_none=True, required=True)


class FailedByClass(Schema):
    """Failed messages by whose fault it was."""

    device = Integer(required=True, metadata={"description": "connection, logged out, banned"})
    recipient = Integer(required=True, metadata={"description": "not on WhatsApp, blocked"})
    content = Integer(required=True, metadata={"description": "media or template problem"})


def rate_field(of: str) -> Float:
    """A share of the messages sent, 0 to 1 (4 places); null when nothing was sent."""
    return Float(required=True, allow_none=True, metadata={
        "description": f"{of} / sent, 0 to 1; null when nothing was sent",
        "minimum": 0, "maximum": 1})


class Progress(_Counts):
    """Audience size, messages by status, pending (not materialised yet), per device."""

    campaign_id = Integer(required=True)
    status = String(required=True)
    audience_size = Integer(required=True)
    pending = Integer(required=True, metadata={
        "description": "leads not materialised yet plus messages queued, held or sending"})
    delivered = Integer(required=True, metadata={"description": "WhatsApp reported delivered"})
    read = Integer(required=True, metadata={"description": "WhatsApp reported read"})
    replied = Integer(required=True, metadata={
        "description": "the lead replied within 72 h of the send"})
    opted_out = Integer(required=True, metadata={
        "description": "leads who opted out after their message was sent"})
    delivered_rate = rate_field("delivered")
    read_rate = rate_field("read")
    replied_rate = rate_field("replied")
    opted_out_rate = rate_field("opted_out")
    failed_by_class = Nested(FailedByClass, required=True)
    devices = List(Nested(DeviceProgress), required=True)




class AudienceQuery(Schema):
    """Whom a campaign would reach."""

    # not Niche(): an empty niche= (the form's empty field) means every lead here
    niche = String(load_default=None, allow_none=True, validate=Length(max=100),
                   metadata={"description": "one niche tag; empty: every lead"})
    target_status = String(load_default="all", validate=OneOf(TARGETS))


class SampleLead(Schema):
    """A lead of the audience."""

    id = Integer(required=True)
    name = String(allow_none=True, required=True)
    phone = String(required=True)


class AudiencePreview(Schema):
    """The audience a campaign would reach now."""

    audience_size = Integer(required=True, metadata={
        "description": "leads matching now: niche, target status, not opted out"})
    sample = List(Nested(SampleLead), required=True, metadata={
        "description": "the first few of them by id"})
