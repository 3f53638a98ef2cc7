"""Delivery roll-up and maintenance: expiry of stale messages, purge of old Dagster runs."""

from datetime import UTC, datetime, timedelta

from dagster import instance_for_test

NOW = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)


def test_hourly_roll_up_counts_queued_sent_and_failed(world, tick):
    user = world.user()
    device = world.device(user)
    hour = NOW.replace(minute=0)
    for i, (status, created, sent) in enumerate([
        ("queued", hour + timedelta(minutes=5), None),
        ("sent", hour - timedelta(minutes=30), hour + timedelta(minutes=1)),
        ("sent", hour + timedelta(minutes=2), hour + timedelta(minutes=3)),
        ("failed", hour + timedelta(minutes=4), None),
    ]):
        world.sql(
            "INSERT INTO message_queue (user_id, device_id, phone, source, dedupe_key, status,"
            " created_at, sent_at, updated_at) VALUES (:u, :d, '+60123456789', 'api', :k, :s,"
            " :c, :sent, :c)", u=user, d=device, k=f"api:{i}", s=status, c=created, sent=sent,
        )
    tick(NOW)
    rows = world.sql(
        "SELECT hour, queued_count, sent_count, failed_count FROM delivery_stats_hourly"
        " ORDER BY hour"
    )
    assert [(r["hour"], r["queued_count"], r["sent_count"], r["failed_count"]) for r in rows] == [
        (hour - timedelta(hours=1), 1, 0, 0),
        (hour, 3, 2, 1),
    ]
    tick(NOW + timedelta(minutes=1))  # idempotent: recomputed, not added
    assert world.value("SELECT sum(queued_count) FROM delivery_stats_hourly") == 4


def test_stale_messages_expire_and_are_counted_on_their_batch(world, tick, monkeypatch):
    monkeypatch.setenv("MESSAGE_MAX_AGE_HOURS", "24")
    user = world.user()
    device = world.device(user)
    job = world.value(
        "INSERT INTO broadcast_jobs (user_id, source, total_count) VALUES (:u, 'api', 2)"
        " RETURNING id", u=user,
    )
    for key, age in (("api:old", 30), ("api:fresh", 2)):
        world.sql(
            "INSERT INTO message_queue (user_id, device_id, phone, source, dedupe_key,"
            " broadcast_job_id, created_at) VALUES (:u, :d, '+60123456789', 'api', :k, :j, :c)",
            u=user, d=device, k=key, j=job, c=NOW - timedelta(hours=age),
        )
    result = tick(NOW)
    rows = world.sql("SELECT dedupe_key, status FROM message_queue")
    statuses = {r["dedupe_key"]: r["status"] for r in rows}
    assert statuses == {"api:old": "expired", "api:fresh": "queued"}
    assert world.value("SELECT expired_count FROM broadcast_jobs WHERE id = :j", j=job) == 1
    metadata = result.asset_materializations_for_node("queue_maintenance")[0].metadata
    assert metadata["expired_messages"].value == 1


def test_old_dagster_runs_are_purged(world, tick):
    with instance_for_test() as instance:
        now = datetime.now(UTC)
        tick(now, instance=instance)
        tick(now + timedelta(minutes=1), instance=instance)
        assert len(instance.get_run_records()) == 2
        result = tick(now + timedelta(days=8), instance=instance)
        metadata = result.asset_materializations_for_node("queue_maintenance")[0].metadata
        assert metadata["purged_dagster_runs"].value == 2
        assert [r.dagster_run.run_id for r in instance.get_run_records()] == [result.run_id]


def test_per_device_outcome_hours_older_than_30_days_are_pruned(world, tick):
    user = world.user()
    device = world.device(user)
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    for days in (31, 29, 0):
        world.sql("INSERT INTO device_outcomes_hourly (device_id, hour, sent) VALUES (:d, :h, 1)",
                  d=device, h=hour - timedelta(days=days))
    result = tick(NOW)
    kept = world.sql("SELECT hour FROM device_outcomes_hourly ORDER BY hour")
    assert [r["hour"] for r in kept] == [hour - timedelta(days=29), hour]
    metadata = result.asset_materializations_for_node("queue_maintenance")[0].metadata
    assert metadata["pruned_device_outcome_hours"].value == 1
