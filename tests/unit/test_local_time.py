"""DST-safe local time arithmetic."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dripfleet.local_time import (
    first_due_at,
    local_date,
    local_to_utc,
    step_due_at,
    validate_timezone,
)

NY = "America/New_York"
KL = "Asia/Kuala_Lumpur"
SPRING_FORWARD = date(2024, 3, 10)  # 02:00 EST -> 03:00 EDT
FALL_BACK = date(2024, 11, 3)  # 02:00 EDT -> 01:00 EST


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_ordinary_days() -> None:
    assert local_to_utc(date(2024, 1, 15), time(9, 0), NY) == utc(2024, 1, 15, 14, 0)
    assert local_to_utc(date(2024, 7, 15), time(9, 0), NY) == utc(2024, 7, 15, 13, 0)


def test_result_is_aware_utc() -> None:
    result = local_to_utc(date(2024, 1, 15), time(9, 0), NY)
    assert result.tzinfo is UTC


def test_spring_forward_gap_moves_forward() -> None:
    due = local_to_utc(SPRING_FORWARD, time(2, 30), NY)
    assert due == utc(2024, 3, 10, 7, 30)
    local = due.astimezone(ZoneInfo(NY))
    assert (local.hour, local.minute, local.tzname()) == (3, 30, "EDT")
    # Around the gap nothing moves.
    assert local_to_utc(SPRING_FORWARD, time(1, 59), NY) == utc(2024, 3, 10, 6, 59)
    assert local_to_utc(SPRING_FORWARD, time(3, 0), NY) == utc(2024, 3, 10, 7, 0)


def test_fall_back_ambiguity_takes_first_occurrence() -> None:
    due = local_to_utc(FALL_BACK, time(1, 30), NY)
    assert due == utc(2024, 11, 3, 5, 30)
    assert due.astimezone(ZoneInfo(NY)).tzname() == "EDT"
    # After the overlap, standard time.
    assert local_to_utc(FALL_BACK, time(2, 30), NY) == utc(2024, 11, 3, 7, 30)


def test_kuala_lumpur_has_no_dst() -> None:
    for day in (date(2024, 1, 15), SPRING_FORWARD, date(2024, 7, 1), FALL_BACK):
        assert local_to_utc(day, time(9, 0), KL) == datetime.combine(day, time(1, 0), UTC)
    assert local_date(utc(2024, 1, 15, 16, 0), KL) == date(2024, 1, 16)
    assert local_date(utc(2024, 1, 15, 15, 59), KL) == date(2024, 1, 15)


def test_local_date() -> None:
    # 03:00 UTC is still the previous evening in New York.
    assert local_date(utc(2024, 1, 16, 3, 0), NY) == date(2024, 1, 15)
    assert local_date(utc(2024, 1, 16, 5, 0), NY) == date(2024, 1, 16)
    with pytest.raises(ValueError):
        local_date(datetime(2024, 1, 16, 3, 0), NY)


def test_first_due_at_same_day_when_send_time_is_ahead() -> None:
    enrolled = datetime(2024, 1, 15, 8, 0, tzinfo=ZoneInfo(NY))
    assert first_due_at(enrolled, time(9, 0), NY) == utc(2024, 1, 15, 14, 0)


def test_first_due_at_exactly_at_send_time_is_due_then() -> None:
    enrolled = datetime(2024, 1, 15, 9, 0, tzinfo=ZoneInfo(NY))
    assert first_due_at(enrolled, time(9, 0), NY) == enrolled


def test_first_due_at_next_day_when_send_time_has_passed() -> None:
    enrolled = datetime(2024, 1, 15, 9, 1, tzinfo=ZoneInfo(NY))
    assert first_due_at(enrolled, time(9, 0), NY) == utc(2024, 1, 16, 14, 0)


def test_first_due_at_uses_the_local_date_not_the_utc_date() -> None:
    # 02:00 UTC on the 16th is 21:00 on the 15th in New York: due at 22:00 on the 15th.
    enrolled = utc(2024, 1, 16, 2, 0)
    assert first_due_at(enrolled, time(22, 0), NY) == utc(2024, 1, 16, 3, 0)
    # 23:30 UTC on the 15th is 07:30 on the 16th in Kuala Lumpur: 09:00 on the 16th.
    assert first_due_at(utc(2024, 1, 15, 23, 30), time(9, 0), KL) == utc(2024, 1, 16, 1, 0)


def test_first_due_at_in_the_spring_forward_gap() -> None:
    enrolled = datetime(2024, 3, 10, 1, 0, tzinfo=ZoneInfo(NY))
    assert first_due_at(enrolled, time(2, 30), NY) == utc(2024, 3, 10, 7, 30)


def test_step_due_at_keeps_local_wall_time_across_dst() -> None:
    # Queued on Saturday before spring-forward at 09:00 EST; next step 1 local day later.
    assert local_to_utc(date(2024, 3, 9), time(9, 0), NY) == utc(2024, 3, 9, 14, 0)
    due = step_due_at(date(2024, 3, 9), 1, time(9, 0), NY)
    assert due == utc(2024, 3, 10, 13, 0)  # 09:00 EDT: only 23 hours later
    assert due.astimezone(ZoneInfo(NY)).time() == time(9, 0)
    # Across fall-back: 25 hours later, still 09:00 local.
    before = local_to_utc(date(2024, 11, 2), time(9, 0), NY)
    after = step_due_at(date(2024, 11, 2), 1, time(9, 0), NY)
    assert after - before == timedelta(hours=25)
    assert after.astimezone(ZoneInfo(NY)).time() == time(9, 0)


def test_step_due_at_gap_and_own_send_time() -> None:
    assert step_due_at(date(2024, 1, 30), 3, time(20, 15), KL) == utc(2024, 2, 2, 12, 15)
    assert step_due_at(date(2024, 1, 30), 0, time(8, 0), KL) == utc(2024, 1, 30, 0, 0)
    with pytest.raises(ValueError):
        step_due_at(date(2024, 1, 30), -1, time(8, 0), KL)


def test_validate_timezone() -> None:
    assert validate_timezone(KL) == KL
    assert validate_timezone("UTC") == "UTC"
    for bad in ("", "Mars/Olympus", "asia/kuala_lumpur", "+08:00", "../etc/passwd", "localtime"):
        with pytest.raises(ValueError):
            validate_timezone(bad)
    with pytest.raises(ValueError):
        local_to_utc(date(2024, 1, 1), time(9, 0), "Nowhere/Town")


def test_aware_wall_time_is_rejected() -> None:
    with pytest.raises(ValueError):
        local_to_utc(date(2024, 1, 1), time(9, 0, tzinfo=UTC), KL)
