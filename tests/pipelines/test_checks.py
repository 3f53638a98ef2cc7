"""Acceptance 6 (checks): each asset check fails on a database arranged to violate it."""

from datetime import UTC, datetime, timedelta

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def message(world, user: int, device: int | None, lead: int | None, key: str, **extra) -> None:
    columns = {"user_id": user, "device_id": device, "lead_id": lead, "phone": "+60123456789",
               "source": "api", "dedupe_key": key, "status": "queued", **extra}
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    world.sql(f"INSERT INTO message_queue ({names}) VALUES ({values})", **columns)


def test_all_checks_pass_on_a_healthy_database(world, tick):
    user = world.user()
    world.device(user)
    world.lead(user, ["yoga"])
    world.sequence(user, niche="yoga")
    assert set(checks(tick(NOW)).values()) == {True}


def test_device_over_the_buffer_fails(world, tick):
    user = world.user()
    device = world.device(user)
    for i in range(3):
        message(world, user, device, None, f"api:{i}")
    result = checks(tick(NOW, queue_buffer_size=2))
    assert result["no_device_over_buffer"] is False
    assert result["no_message_for_opted_out_lead"] is True


def test_message_for_opted_out_lead_fails(world, tick):
    user = world.user()
    device = world.device(user)
    lead = world.lead(user, opted_out=True)
    message(world, user, device, lead, "api:opted-out")
    assert checks(tick(NOW))["no_message_for_opted_out_lead"] is False


def test_sending_past_its_lease_fails(world, tick):
    user = world.user()
    device = world.device(user)
    message(world, user, device, None, "api:stuck", status="sending", lease_owner="worker-1",
            lease_until=NOW - timedelta(hours=1))
    assert checks(tick(NOW))["no_sending_past_lease"] is False


def test_contact_more_than_one_step_behind_fails(world, tick):
    user = world.user()
    world.device(user, status="banned")  # nothing can be queued, so the contact stays behind
    lead = world.lead(user, ["yoga"])
    seq = world.sequence(user, niche="yoga", steps=[(1, "09:00"), (2, "09:00")])
    world.sql(
        "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, next_due_at)"
        " VALUES (:u, :s, :l, :due)", u=user, s=seq, l=lead, due=NOW - timedelta(days=3),
    )
    assert checks(tick(NOW))["no_contact_behind_schedule"] is False
    # one step behind (due an hour ago, next step a day later) is normal, not a failure
    world.sql("UPDATE sequence_contacts SET next_due_at = :due", due=NOW - timedelta(hours=1))
    assert checks(tick(NOW))["no_contact_behind_schedule"] is True
