"""Sequence, step, contact and log schemas."""

from apiflask import Schema
from apiflask.fields import Integer, List, Nested, String
from apiflask.validators import URL, Length, OneOf, Range, Regexp
from flask import current_app, has_app_context
from marshmallow import ValidationError

from dripfleet.public_urls import UrlRefused, check_url_syntax
from dripfleet.stores.replies import ON_REPLY
from webapp.schemas.common import (
    MAX_ID,
    ContentWarning,
    Id,
    Instant,
    Niche,
    PageQuery,
    Text,
    Timezone,
    WholeNumber,
    no_nul,
)

MESSAGE_TYPES = ("text", "image", "video", "document")
TARGETS = ("all", "prospect", "customer")
CONTACT_STATUSES = ("active", "paused", "completed", "opted_out", "failed", "replied")
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def public_url(value: str) -> None:
    """Refuse a URL the device host would not fetch: not http(s), or a literal private / local
    address or localhost name (unless ALLOW_PRIVATE_URLS). Names are checked again at fetch."""
    settings = current_app.config.get("SETTINGS") if has_app_context() else None
    try:
        check_url_syntax(value, allow_private=bool(settings and settings.allow_private_urls))
    except UrlRefused as error:
        raise ValidationError(f"refused: {error} (only public addresses are fetched)") from None


def MediaUrl(**kw) -> String:  # noqa: N802
    """An http(s) URL of media on a public address."""
    return String(validate=[Length(max=2000), URL(schemes={"http", "https"}), no_nul,
                            public_url], **kw)


class StepIn(Schema):
    """One step: on day `day` at local `send_time`, send this."""

    day = WholeNumber(required=True, validate=Range(min=1, max=3650))
    send_time = String(required=True, validate=Regexp(HHMM), metadata={"example": "09:30"})
    message_type = String(load_default="text", validate=OneOf(MESSAGE_TYPES))
    body = Text(65536, load_default="")
    media = MediaUrl(load_default=None, allow_none=True, data_key="media")
    media_id = Id(load_default=None, allow_none=True)
    caption = Text(4096, load_default=None, allow_none=True)
    filename = Text(255, load_default=None, allow_none=True)


class Step(Schema):
    """A stored step."""

    id = Integer(required=True)
    day = Integer(required=True)
    send_time = String(required=True)
    message_type = String(required=True)
    body = String(required=True)
    media = String(allow_none=True, attribute="media_url")
    media_id = Integer(allow_none=True)
    caption = String(allow_none=True)
    filename = String(allow_none=True)


class SequenceIn(Schema):
    """A sequence definition with its steps."""

    name = Text(200, required=True, min_length=1)
    description = Text(5000, load_default="")
    niche = Niche(required=True)
    target_status = String(load_default="all", validate=OneOf(TARGETS))
    timezone = Timezone(load_default="UTC")
    pinned_device_id = Id(load_default=None, allow_none=True)
    on_reply = String(load_default="stop", validate=OneOf(ON_REPLY), metadata={
        "description": "when a contact writes in: stop (the contact ends as replied, its "
                       "waiting messages cancelled), pause (until resumed) or continue"})
    steps = List(Nested(StepIn), load_default=None, validate=Length(max=365))


class Sequence(Schema):
    """A sequence as stored."""

    id = Integer(required=True)
    name = String(required=True)
    description = String(required=True)
    niche = String(required=True)
    target_status = String(required=True)
    status = String(required=True, metadata={"enum": ["draft", "active", "paused"]})
    timezone = String(required=True)
    pinned_device_id = Integer(allow_none=True)
    on_reply = String(required=True, metadata={"enum": list(ON_REPLY)})
    last_error = String(allow_none=True)
    step_count = Integer(required=True)
    active_contacts = Integer(required=True)
    created_at = Instant(required=True)
    updated_at = Instant(required=True)


class SequenceDetail(Sequence):
    """A sequence with its steps."""

    steps = List(Nested(Step), required=True)
    warnings = List(Nested(ContentWarning), required=True, metadata={
        "description": "worth changing in the steps (field steps.N.body): same_message = one "
                       "text for the 50 or more leads the niche reaches"})


class SequenceList(Schema):
    """A page of sequences; pass next_after as `after` for the next page."""

    items = List(Nested(Sequence), required=True)
    next_after = Integer(allow_none=True, required=True)


class ContactsIn(Schema):
    """Leads to enrol, by id and/or phone."""

    lead_ids = List(WholeNumber(validate=Range(min=1, max=MAX_ID)), load_default=list,
                    validate=Length(max=10000))
    phones = List(Text(64), load_default=list, validate=Length(max=10000))
    region = String(load_default=None, allow_none=True, validate=Regexp(r"^[A-Za-z]{2}$"))


class ContactsAdded(Schema):
    """What enrolment did."""

    added = Integer(required=True)
    already_enrolled = Integer(required=True)
    leads_created = Integer(required=True)
    lead_ids = List(Integer(), required=True)


class ContactQuery(PageQuery):
    """Contacts page with optional status filter."""

    status = String(load_default=None,
                    validate=OneOf(CONTACT_STATUSES))


class Contact(Schema):
    """A contact's progress: day `current_day` of `total_days`, next due time."""

    id = Integer(required=True)
    lead_id = Integer(required=True)
    phone = String(required=True)
    name = String(required=True)
    status = String(required=True, metadata={"enum": list(CONTACT_STATUSES)})
    current_day = Integer(required=True)
    total_days = Integer(required=True)
    sent_days = Integer(required=True, metadata={
        "description": "steps the device has sent (a queued step is not counted)"})
    enrolled_at = Instant(required=True)
    next_due_at = Instant(allow_none=True)
    completed_at = Instant(allow_none=True)
    replied_at = Instant(allow_none=True, metadata={
        "description": "the contact's first reply while in the sequence"})


class ContactList(Schema):
    """A page of contacts."""

    items = List(Nested(Contact), required=True)
    next_after = Integer(allow_none=True, required=True)


class LogQuery(Schema):
    """Newest first; pass next_before as `before` for older rows."""

    limit = Integer(load_default=50, validate=Range(min=1, max=500))
    before = Integer(load_default=None, validate=Range(min=1, max=MAX_ID))


class Log(Schema):
    """One step for one contact."""

    id = Integer(required=True)
    contact_id = Integer(required=True)
    lead_id = Integer(required=True)
    phone = String(required=True)
    step_id = Integer(allow_none=True)
    day = Integer(required=True)
    status = String(required=True)
    message_id = Integer(allow_none=True)
    error = String(allow_none=True)
    failure_class = String(allow_none=True, metadata={
        "enum": ["device", "recipient", "content"],
        "description": "whose fault a failed send was (null unless failed)"})
    queued_at = Instant(required=True)
    sent_at = Instant(allow_none=True)


class LogList(Schema):
    """A page of logs."""

    items = List(Nested(Log), required=True)
    next_before = Integer(allow_none=True, required=True)


class ContactResumed(Schema):
    """A contact a reply had paused, active again."""

    contact = Nested(Contact, required=True)
    released = Integer(required=True, metadata={
        "description": "its held messages queued again (0 while the sequence is paused)"})
