"""Lead schemas and the CSV import report."""

from apiflask import Schema
from apiflask.fields import Boolean, Dict, File, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Regexp

from dripfleet.lead_limits import (
    MAX_ATTRIBUTE_CHARS,
    MAX_ATTRIBUTE_NAME_CHARS,
    MAX_ATTRIBUTES,
    MAX_NAME_CHARS,
    MAX_NICHE_CHARS,
)
from webapp.schemas.common import Id, Instant, Niche, PageQuery, Text

REGION = Regexp(r"^[A-Za-z]{2}$", error="a two-letter region code such as MY")


class LeadIn(Schema):
    """A lead to create."""

    phone = Text(64, required=True, min_length=1, metadata={"example": "+60123456789"})
    name = Text(MAX_NAME_CHARS, load_default="")
    niches = List(Text(MAX_NICHE_CHARS), load_default=list, validate=Length(max=100))
    target_status = String(load_default="prospect", validate=OneOf(["prospect", "customer"]))
    preferred_device_id = Id(load_default=None, allow_none=True)
    attributes = Dict(keys=Text(MAX_ATTRIBUTE_NAME_CHARS, min_length=1),
                      values=Text(MAX_ATTRIBUTE_CHARS), load_default=dict,
                      validate=Length(max=MAX_ATTRIBUTES))
    opted_out = Boolean(load_default=False)
    region = String(load_default=None, allow_none=True, validate=REGION)


class LeadPatch(Schema):
    """Fields to change on a lead (all optional)."""

    phone = Text(64, min_length=1)
    name = Text(MAX_NAME_CHARS)
    niches = List(Text(MAX_NICHE_CHARS), validate=Length(max=100))
    target_status = String(validate=OneOf(["prospect", "customer"]))
    preferred_device_id = Id(allow_none=True)
    attributes = Dict(keys=Text(MAX_ATTRIBUTE_NAME_CHARS, min_length=1),
                      values=Text(MAX_ATTRIBUTE_CHARS), validate=Length(max=MAX_ATTRIBUTES))
    opted_out = Boolean()
    region = String(allow_none=True, validate=REGION)


class Lead(Schema):
    """A stored lead."""

    id = Integer(required=True)
    phone = String(required=True)
    name = String(required=True)
    niches = List(String(), required=True)
    target_status = String(required=True)
    preferred_device_id = Integer(allow_none=True)
    attributes = Dict(required=True)
    opted_out = Boolean(required=True)
    opted_out_at = Instant(allow_none=True)
    created_at = Instant(required=True)
    updated_at = Instant(required=True)


class LeadItem(Lead):
    """A lead in a list (its own component: apispec must not see Lead registered twice)."""


class LeadQuery(PageQuery):
    """Filters for the lead list."""

    niche = Niche()
    target_status = String(validate=OneOf(["prospect", "customer"]))
    opted_out = Boolean()
    search = Text(100, metadata={"description": "part of the name or of the phone digits"})


class LeadList(Schema):
    """A page of leads; pass next_after as `after` for the next page."""

    items = List(Nested(LeadItem), required=True)
    next_after = Integer(allow_none=True, required=True)


class ImportForm(Schema):
    """Multipart form of an import."""

    file = File(required=True, metadata={"description": "the CSV file"})
    niche = Text(500, metadata={"description": "niche tag(s) added to every row"})
    region = String(validate=REGION, metadata={"description": "region for local numbers"})
    target_status = String(validate=OneOf(["prospect", "customer"]),
                           metadata={"description": "status of new leads without one"})


class Rejected(Schema):
    """A row that was not imported."""

    line = Integer(required=True)
    phone = String(required=True)
    reason = String(required=True)


class ImportReport(Schema):
    """What an import did (rejected lists at most 1,000 rows; rejected_count counts all)."""

    rows = Integer(required=True)
    inserted = Integer(required=True)
    updated = Integer(required=True)
    unchanged = Integer(required=True)
    duplicates_merged = Integer(required=True)
    rejected_count = Integer(required=True)
    rejected = List(Nested(Rejected), required=True)
    columns = Dict(keys=String(), values=String(), required=True)
