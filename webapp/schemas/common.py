"""Field types and small schemas shared by every area."""

from apiflask import Schema
from apiflask.fields import DateTime, Integer, String
from apiflask.validators import Length, Range, Regexp
from marshmallow import ValidationError

from dripfleet.local_time import validate_timezone

# a campaign's or one message's place in its device's claim order (migration 0085)
PRIORITIES = ("normal", "high")
MAX_ID = 2**63 - 1
# the path converter of every row id (webapp.converters): out of range is a 404
ID_PATH = "id"


def no_nul(value: str) -> None:
    """PostgreSQL text cannot hold NUL characters: refuse them as a validation error."""
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters")


def Text(max_length: int = 1000, required: bool = False, min_length: int = 0, **kw) -> String:  # noqa: N802
    """A string field bounded in length, NUL-free."""
    return String(
        required=required,
        validate=[Length(min=min_length, max=max_length), no_nul],
        **kw,
    )


class WholeNumber(Integer):
    """An integer as JSON Schema's `integer` means it: 7 or 7.0, never "7", 7.5 or true."""

    def __init__(self, **kw) -> None:
        super().__init__(strict=True, **kw)

    def _validated(self, value):  # noqa: ANN001, ANN202 - marshmallow's own signature
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            value = int(value)
        return super()._validated(value)


def Id(required: bool = False, **kw) -> Integer:  # noqa: N802
    """A positive bigint id."""
    return WholeNumber(required=required, validate=Range(min=1, max=MAX_ID), **kw)


def check_timezone(value: str) -> None:
    """An IANA time zone name (the rule the services apply: not `localtime`, `Factory` …)."""
    try:
        validate_timezone(value)
    except ValueError:
        raise ValidationError("is not an IANA time zone (e.g. Asia/Kuala_Lumpur)") from None


def Timezone(**kw) -> String:  # noqa: N802
    """An IANA time zone field."""
    return String(validate=[Length(min=1, max=64), no_nul, check_timezone],
                  metadata={"example": "Asia/Kuala_Lumpur"}, **kw)


# whitespace as Python's str.strip() sees it, spelled out so that the pattern means the same in
# the OpenAPI document (ECMA-262 regexes, whose \s differs) as in marshmallow
_SPACE = "\t-\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NICHE_PATTERN = f"^[^,;|]*[^,;|{_SPACE}][^,;|]*$"


def Niche(max_length: int = 100, **kw) -> String:  # noqa: N802
    """One niche tag (dripfleet.niches): no separator `,` `;` `|`, not only spaces."""
    return String(validate=[Length(min=1, max=max_length), no_nul, Regexp(
        NICHE_PATTERN, error="a niche is one tag: not empty, without any of ',;|'")], **kw)


def Instant(**kw) -> DateTime:  # noqa: N802
    """A timestamp; always written with its UTC offset."""
    return DateTime(format="iso", **kw)


class PageQuery(Schema):
    """Keyset pagination: up to `limit` rows after id `after`."""

    limit = Integer(load_default=50, validate=Range(min=1, max=500))
    after = Integer(load_default=None, validate=Range(min=0, max=MAX_ID))


class Deleted(Schema):
    """Nothing to say (HTTP 204)."""


class ContentWarning(Schema):
    """Something about a message's content worth changing before it is sent; not an error."""

    field = String(required=True, metadata={"example": "body"})
    code = String(required=True, metadata={"enum": ["same_message"]})
    message = String(required=True)
