"""Field types and small schemas shared by every area."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apiflask import Schema
from apiflask.fields import DateTime, Integer, String
from apiflask.validators import Length, Range
from marshmallow import ValidationError

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


def Id(required: bool = False, **kw) -> Integer:  # noqa: N802
    """A positive bigint id."""
    return Integer(required=required, strict=True, validate=Range(min=1, max=MAX_ID), **kw)


def check_timezone(value: str) -> None:
    """An IANA time zone name."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError("is not an IANA time zone (e.g. Asia/Kuala_Lumpur)") from None


def Timezone(**kw) -> String:  # noqa: N802
    """An IANA time zone field."""
    return String(validate=[Length(min=1, max=64), no_nul, check_timezone],
                  metadata={"example": "Asia/Kuala_Lumpur"}, **kw)


def Instant(**kw) -> DateTime:  # noqa: N802
    """A timestamp; always written with its UTC offset."""
    return DateTime(format="iso", **kw)


class PageQuery(Schema):
    """Keyset pagination: up to `limit` rows after id `after`."""

    limit = Integer(load_default=50, validate=Range(min=1, max=500))
    after = Integer(load_default=None, validate=Range(min=0, max=MAX_ID))


class Deleted(Schema):
    """Nothing to say (HTTP 204)."""
