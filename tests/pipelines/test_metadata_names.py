"""Issue 17: the Dagster metadata tables name campaigns, sequences and devices (with their id),
where they showed bare ids."""

from datetime import UTC, datetime, timedelta

from tests.conftest import scalar

START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def test_tick_metadata_names_campaigns_and_sequences(world, tick, engine):
    user = world.user()
    world.device(user)
    world.leads(user, 3, ["yoga"])
    sequence = world.sequence(user, niche="yoga", steps=[(1, "09:00")])
    scalar(engine, "UPDATE sequences SET name = 'Yoga welcome' WHERE id = :s RETURNING id",
           s=sequence)
    campaign = world.campaign(user, START, niche="yoga")
    scalar(engine, "UPDATE campaigns SET title = 'Spring promo' WHERE id = :c RETURNING id",
           c=campaign)
    result = tick(START)
    metadata = {node: result.asset_materializations_for_node(node)[0].metadata
                for node in ("campaign_messages", "sequence_messages", "sequence_enrolments")}
    assert f"| Spring promo (#{campaign}) | 3 |" in metadata["campaign_messages"][
        "per_campaign"].value
    assert f"| Yoga welcome (#{sequence}) | 3 |" in metadata["sequence_messages"][
        "per_sequence"].value
    assert f"| Yoga welcome (#{sequence}) | 3 |" in metadata["sequence_enrolments"][
        "per_sequence"].value


def test_a_check_names_the_device_of_a_stuck_message(world, tick):
    user = world.user()
    device = world.device(user, name="Sales phone")
    world.sql("INSERT INTO message_queue (user_id, device_id, phone, source, dedupe_key, status,"
              " lease_owner, lease_until) VALUES (:u, :d, '+60123456789', 'api', 'names:stuck',"
              " 'sending', 'worker-1', :t)", u=user, d=device, t=START - timedelta(hours=1))
    result = tick(START)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    examples = checks["no_sending_past_lease"].metadata["examples"].value
    assert f"| Sales phone (#{device}) | worker-1 |" in examples
