"""Acceptance 1: sequence timing with fixed ticks (DESIGN.md "Sequence timing")."""

from datetime import UTC, date, datetime


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def contact(world, sequence_id: int) -> dict:
    return world.sql(
        "SELECT id, status, current_day, next_due_at, last_queued_on, completed_at"
        " FROM sequence_contacts WHERE sequence_id = :s", s=sequence_id,
    )[0]


def queued_days(world, sequence_id: int) -> list[int]:
    return [r["day"] for r in world.sql(
        "SELECT day FROM sequence_logs WHERE sequence_id = :s AND status = 'queued' ORDER BY day",
        s=sequence_id,
    )]


def test_day_one_at_first_send_time_after_enrolment_and_march_dst(world, tick):
    user = world.user()
    world.device(user)
    world.lead(user, ["fitness"])
    seq = world.sequence(user, timezone="America/New_York",
                         steps=[(1, "09:00"), (2, "09:00"), (3, "10:00")])
    # Friday 6 March 2026, 10:00 EST: today's 09:00 has passed, so day 1 is Saturday 09:00 EST
    tick(utc(2026, 3, 6, 15, 0))
    assert contact(world, seq)["next_due_at"] == utc(2026, 3, 7, 14, 0)
    tick(utc(2026, 3, 7, 13, 59))
    assert queued_days(world, seq) == []
    tick(utc(2026, 3, 7, 14, 0))
    assert queued_days(world, seq) == [1]
    # Sunday 8 March is the spring-forward day: 09:00 EDT is 13:00 UTC
    row = contact(world, seq)
    assert (row["current_day"], row["last_queued_on"]) == (1, date(2026, 3, 7))
    assert row["next_due_at"] == utc(2026, 3, 8, 13, 0)
    tick(utc(2026, 3, 8, 12, 59))
    assert queued_days(world, seq) == [1]
    tick(utc(2026, 3, 8, 13, 0))
    assert queued_days(world, seq) == [1, 2]
    assert contact(world, seq)["next_due_at"] == utc(2026, 3, 9, 14, 0)


def test_enrolment_before_send_time_is_due_the_same_day(world, tick):
    user = world.user()
    world.device(user)
    world.lead(user, ["fitness"])
    seq = world.sequence(user, timezone="UTC", steps=[(1, "09:00")])
    tick(utc(2026, 5, 4, 8, 30))
    assert contact(world, seq)["next_due_at"] == utc(2026, 5, 4, 9, 0)


def test_november_fall_back_takes_the_first_occurrence(world, tick):
    user = world.user()
    world.device(user)
    world.lead(user, ["fitness"])
    seq = world.sequence(user, timezone="America/New_York", steps=[(1, "01:30"), (2, "01:30")])
    tick(utc(2026, 10, 31, 12, 0))
    # 1 November 2026 01:30 happens twice in New York; the kernel takes the first (EDT, 05:30 UTC)
    assert contact(world, seq)["next_due_at"] == utc(2026, 11, 1, 5, 30)
    tick(utc(2026, 11, 1, 5, 29))
    assert queued_days(world, seq) == []
    tick(utc(2026, 11, 1, 5, 30))
    assert queued_days(world, seq) == [1]
    # the next day is on standard time: 01:30 EST = 06:30 UTC
    assert contact(world, seq)["next_due_at"] == utc(2026, 11, 2, 6, 30)


def test_late_step_keeps_the_spacing_from_the_day_it_was_queued(world, tick):
    user = world.user()
    world.device(user)
    world.lead(user, ["fitness"])
    seq = world.sequence(user, timezone="UTC", steps=[(1, "09:00"), (2, "09:00"), (4, "09:00")])
    tick(utc(2026, 6, 1, 8, 0))
    tick(utc(2026, 6, 1, 9, 0))
    assert queued_days(world, seq) == [1]
    # the system was down for days: day 2 (due 2 June) is queued late, alone, on 5 June
    tick(utc(2026, 6, 5, 12, 0))
    assert queued_days(world, seq) == [1, 2]
    row = contact(world, seq)
    assert row["last_queued_on"] == date(2026, 6, 5)
    # day 4 is two local days after the date day 2 was actually queued
    assert row["next_due_at"] == utc(2026, 6, 7, 9, 0)
    tick(utc(2026, 6, 6, 9, 0))
    assert queued_days(world, seq) == [1, 2]
    tick(utc(2026, 6, 7, 9, 0))
    assert queued_days(world, seq) == [1, 2, 4]
    assert contact(world, seq)["status"] == "completed"


def test_zone_without_dst_and_completion_after_the_last_step(world, tick):
    user = world.user()
    world.device(user)
    world.lead(user, ["fitness"])
    seq = world.sequence(user, timezone="Asia/Kuala_Lumpur", steps=[(1, "09:00"), (2, "20:30")])
    tick(utc(2026, 3, 7, 12, 0))  # 20:00 in Kuala Lumpur: day 1 is tomorrow 09:00 (+08)
    assert contact(world, seq)["next_due_at"] == utc(2026, 3, 8, 1, 0)
    tick(utc(2026, 3, 8, 1, 0))
    row = contact(world, seq)
    assert row["next_due_at"] == utc(2026, 3, 9, 12, 30)
    assert row["status"] == "active"
    tick(utc(2026, 3, 9, 12, 30))
    row = contact(world, seq)
    assert queued_days(world, seq) == [1, 2]
    assert row["status"] == "completed"
    assert row["next_due_at"] is None
    assert row["completed_at"] == utc(2026, 3, 9, 12, 30)
    tick(utc(2026, 3, 20, 12, 30))
    assert world.value("SELECT count(*) FROM message_queue") == 2


def test_contact_added_without_a_due_time_gets_one_from_its_enrolment(world, tick):
    user = world.user()
    world.device(user)
    lead = world.lead(user, ["cooking"])  # not matching: added by hand, as the API does
    seq = world.sequence(user, niche="fitness", timezone="UTC", steps=[(1, "09:00")])
    world.sql(
        "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, enrolled_at)"
        " VALUES (:u, :s, :l, :at)", u=user, s=seq, l=lead, at=utc(2026, 5, 4, 10, 0),
    )
    tick(utc(2026, 5, 4, 10, 1))
    assert contact(world, seq)["next_due_at"] == utc(2026, 5, 5, 9, 0)
