"""DST-safe local wall-clock arithmetic (zoneinfo) for sequence and campaign due times.

Rules, for a local date + wall time in an IANA zone:

- a nonexistent time (spring-forward gap) moves forward by the gap: 02:30 on the US spring-forward
  day in America/New_York is 03:30 EDT (07:30 UTC);
- an ambiguous time (fall-back overlap) is the FIRST occurrence: 01:30 on the US fall-back day in
  America/New_York is 01:30 EDT (05:30 UTC).

Both rules are what Python gives for ``fold=0`` (PEP 495). PostgreSQL agrees on gaps but NOT on
ambiguous times: ``timestamp AT TIME ZONE 'America/New_York'`` (and ``'...'::timestamptz`` input)
takes standard time, i.e. the LATER occurrence (01:30 EST, 06:30 UTC). SQL that computes due times
must therefore not silently diverge from these functions: compute due times here in Python, or
replicate the first-occurrence rule explicitly in SQL (and test it on a fall-back day).
"""

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = [
    "first_due_at",
    "local_date",
    "local_to_utc",
    "step_due_at",
    "validate_timezone",
]


def validate_timezone(name: str) -> str:
    """Return `name` if it is an IANA time zone name (e.g. "Asia/Kuala_Lumpur"), else ValueError."""
    if not isinstance(name, str) or name not in _known_zones():
        raise ValueError(f"unknown time zone {name!r}: use an IANA name like 'Asia/Kuala_Lumpur'")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return name


def local_to_utc(day: date, at: time, tz: str | ZoneInfo) -> datetime:
    """Return local `day` at wall time `at` as aware UTC (gap: moved forward; overlap: first)."""
    if at.tzinfo is not None:
        raise ValueError("the wall time must be naive (it is read in the given time zone)")
    # fold=0: in a gap Python applies the offset from before the transition (so the result lands
    # `gap` later on the clock); in an overlap it picks the first occurrence.
    local = datetime.combine(day, at.replace(fold=0), tzinfo=_zone(tz))
    return local.astimezone(UTC)


def local_date(instant: datetime, tz: str | ZoneInfo) -> date:
    """Return the calendar date of the aware `instant` in zone `tz`."""
    _require_aware(instant)
    return instant.astimezone(_zone(tz)).date()


def first_due_at(enrolled_at: datetime, send_time: time, tz: str | ZoneInfo) -> datetime:
    """Return the first `send_time` in `tz` at or after `enrolled_at`, as aware UTC."""
    _require_aware(enrolled_at)
    day = local_date(enrolled_at, tz)
    due = local_to_utc(day, send_time, tz)
    # On the enrolment's local date if not passed yet, else the next local date (the loop only
    # repeats in pathological zones where a transition crosses midnight).
    while due < enrolled_at:
        day += timedelta(days=1)
        due = local_to_utc(day, send_time, tz)
    return due


def step_due_at(
    previous_queued_on: date, day_gap: int, send_time: time, tz: str | ZoneInfo
) -> datetime:
    """Return the due instant `day_gap` local days after the previous step's local queue date."""
    if isinstance(day_gap, bool) or not isinstance(day_gap, int) or day_gap < 0:
        raise ValueError(f"day_gap must be a non-negative integer, not {day_gap!r}")
    return local_to_utc(previous_queued_on + timedelta(days=day_gap), send_time, tz)


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    # The system zoneinfo folder also holds files that are not IANA zone names.
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    return ZoneInfo(validate_timezone(tz))


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("expected a timezone-aware datetime")
