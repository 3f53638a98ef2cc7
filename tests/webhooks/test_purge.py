"""The maintenance asset purges the webhook delivery log after 7 days."""

from datetime import UTC, datetime, timedelta

from pipelines.tick import run_tick
from tests.conftest import scalar
from tests.webhooks.conftest import add_endpoint, emit, new_secret


def test_attempts_and_finished_deliveries_older_than_7_days_are_purged(
        engine, make_user, database_url):
    user = make_user()["id"]
    add_endpoint(engine, user, "https://hooks.example.com/", new_secret())
    emit(engine, user, 4)
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=8), now - timedelta(days=6)
    # 1: delivered 8 days ago; 2: failed 6 days ago; 3: pending since 8 days; 4: delivered now
    scalar(engine, """
        UPDATE webhook_deliveries d SET status = v.status, finished_at = v.finished_at
        FROM (VALUES (1, 'delivered', CAST(:old AS timestamptz)), (2, 'failed', :recent),
                     (3, 'pending', NULL), (4, 'delivered', now())) v(n, status, finished_at)
        WHERE d.id = (SELECT id FROM webhook_deliveries ORDER BY id OFFSET v.n - 1 LIMIT 1)
        RETURNING 1""", old=old, recent=recent)
    scalar(engine, """
        INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code)
        SELECT id, at, 500 FROM webhook_deliveries,
               unnest(ARRAY[CAST(:old AS timestamptz), :recent]) at
        RETURNING 1""", old=old, recent=recent)
    result = run_tick(now, database_url=database_url)
    metadata = result.asset_materializations_for_node("queue_maintenance")[0].metadata
    # the 8-day-old attempts of the other three, then delivery 1 with its remaining attempt
    assert metadata["purged_webhook_attempts"].value == 4
    assert metadata["purged_webhook_deliveries"].value == 1
    statuses = scalar(engine, "SELECT array_agg(status ORDER BY id) FROM webhook_deliveries")
    assert statuses == ["failed", "pending", "delivered"]
    assert scalar(engine, "SELECT count(*) FROM webhook_attempts WHERE attempted_at < :cut",
                  cut=now - timedelta(days=7)) == 0
    assert scalar(engine, "SELECT count(*) FROM webhook_attempts") == 3
