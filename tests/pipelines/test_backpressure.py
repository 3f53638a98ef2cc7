"""Acceptance 4: a 5,000-lead campaign over 2 devices with a 1,000 buffer, across ticks."""

from datetime import UTC, datetime, timedelta

START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def per_device(world) -> dict[int, int]:
    rows = world.sql(
        "SELECT device_id, count(*) AS n FROM message_queue WHERE status = 'queued'"
        " GROUP BY device_id"
    )
    return {r["device_id"]: r["n"] for r in rows}


def test_campaign_waits_for_buffer_space_and_completes_with_counts_that_add_up(world, tick):
    user = world.user()
    devices = [world.device(user, name="a"), world.device(user, name="b")]
    world.leads(user, 5_000, ["yoga"])
    camp = world.campaign(user, START, niche=None)
    # not yet scheduled: nothing happens
    tick(START - timedelta(minutes=1))
    assert world.value("SELECT status FROM campaigns WHERE id = :c", c=camp) == "scheduled"
    queued_per_tick = []
    for minute in range(6):
        tick(START + timedelta(minutes=minute), queue_buffer_size=1_000)
        loads = per_device(world)
        assert all(n <= 1_000 for n in loads.values()), loads
        assert set(loads) <= set(devices)
        queued_per_tick.append(sum(loads.values()))
        if minute == 0:
            assert world.value("SELECT status FROM campaigns WHERE id = :c", c=camp) == "running"
        world.mark_sent()  # the device host's part
    assert queued_per_tick[:4] == [2_000, 2_000, 1_000, 0]
    campaign = world.sql("SELECT * FROM campaigns WHERE id = :c", c=camp)[0]
    assert campaign["status"] == "completed"
    assert campaign["audience_size"] == 5_000
    assert campaign["completed_at"] is not None
    # every lead exactly one message
    assert world.value("SELECT count(DISTINCT lead_id) FROM message_queue") == 5_000
    assert world.value("SELECT count(*) FROM message_queue") == 5_000
    jobs = world.sql(
        "SELECT count(*) AS n, sum(total_count) AS total, sum(sent_count) AS sent,"
        " count(finished_at) AS finished FROM broadcast_jobs WHERE campaign_id = :c", c=camp,
    )[0]
    assert (jobs["total"], jobs["sent"], jobs["finished"]) == (5_000, 5_000, jobs["n"])


def test_campaign_with_no_usable_device_queues_nothing_and_says_why(world, tick):
    user = world.user()
    world.device(user, status="logged_out")
    world.leads(user, 10, ["yoga"])
    camp = world.campaign(user, START)
    result = tick(START)
    assert world.value("SELECT count(*) FROM message_queue") == 0
    error = world.value("SELECT last_error FROM campaigns WHERE id = :c", c=camp)
    assert "no usable device" in error
    metadata = result.asset_materializations_for_node("campaign_messages")[0].metadata
    assert "no usable device" in metadata["per_campaign"].value
    assert world.value("SELECT audience_cursor FROM campaigns WHERE id = :c", c=camp) == 0


def test_sequence_with_no_usable_device_stays_due_and_says_why(world, tick):
    user = world.user()
    world.device(user, status="banned")
    world.lead(user, ["yoga"])
    seq = world.sequence(user, niche="yoga", steps=[(1, "09:00")])
    result = tick(START)
    assert world.value("SELECT count(*) FROM message_queue") == 0
    error = world.value("SELECT last_error FROM sequences WHERE id = :s", s=seq)
    assert "no usable device" in error
    metadata = result.asset_materializations_for_node("sequence_messages")[0].metadata
    assert "no usable device" in metadata["per_sequence"].value
    # a device comes online: the contact, still due, is queued late and the error clears
    world.device(user)
    tick(START + timedelta(hours=2))
    assert world.value("SELECT count(*) FROM message_queue") == 1
    assert world.value("SELECT last_error FROM sequences WHERE id = :s", s=seq) is None


def test_campaign_template_problem_skips_only_that_lead(world, tick):
    user = world.user()
    world.device(user)
    good = world.lead(user, ["yoga"], attributes='{"price": 5}')
    bad = world.lead(user, ["yoga"], attributes='{"price": "x"}')
    camp = world.campaign(user, START, body="Price {{ price * 2 + 1 }}")
    result = tick(START)
    rows = world.sql("SELECT lead_id, body FROM message_queue WHERE campaign_id = :c", c=camp)
    assert rows == [{"lead_id": good, "body": "Price 11"}]
    error = world.value("SELECT last_error FROM campaigns WHERE id = :c", c=camp)
    assert f"lead {bad} skipped" in error
    metadata = result.asset_materializations_for_node("campaign_messages")[0].metadata
    assert f"lead {bad}" in metadata["template_problems"].value
    # the cursor moved past the bad lead: the campaign completes once the good one is sent
    world.mark_sent()
    tick(START + timedelta(minutes=1))
    assert world.value("SELECT status FROM campaigns WHERE id = :c", c=camp) == "completed"
