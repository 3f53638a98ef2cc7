"""Asset: expire messages that waited too long, purge old Dagster runs; check: stale leases."""

import time
from datetime import timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    DagsterInstance,
    MaterializeResult,
    RunsFilter,
    asset,
    asset_check,
)

from dripfleet.materialise import upkeep
from dripfleet.stores import engagement
from dripfleet.stores import maintenance as store
from pipelines.delivery_stats import delivery_stats
from pipelines.metadata import Names, markdown_table
from pipelines.resources import DatabaseResource
from pipelines.tick_time import tick_time

PURGE_PER_TICK = 200


@asset(
    group_name="maintenance",
    deps=[delivery_stats],
    description="Expires messages older than MESSAGE_MAX_AGE_HOURS; purges old Dagster runs and"
                " per-device outcome counts older than 30 days, engagement hours older than"
                f" {engagement.KEEP_DAYS} days, webhook attempts and finished deliveries older"
                f" than {upkeep.WEBHOOK_LOG_KEPT_DAYS} days.",
)
def queue_maintenance(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult:
    """Expire stale queued/held messages and delete Dagster runs past the retention."""
    started = time.perf_counter()
    now = tick_time(context)
    max_age = database.max_age_hours()
    expired = upkeep.expire_old_messages(database.engine(), now, max_age)
    pruned = upkeep.prune_device_outcomes(database.engine(), now)
    pruned_engagement = engagement.prune(database.engine(), now)
    webhook_attempts, webhook_deliveries = upkeep.purge_webhook_log(database.engine(), now)
    purged = purge_old_runs(context.instance, now - timedelta(days=database.run_retention_days))
    return MaterializeResult(
        metadata={
            "tick": now.isoformat(),
            "expired_messages": expired,
            "max_age_hours": max_age,
            "purged_dagster_runs": purged,
            "pruned_device_outcome_hours": pruned,
            "pruned_engagement_rows": pruned_engagement,
            "purged_webhook_attempts": webhook_attempts,
            "purged_webhook_deliveries": webhook_deliveries,
            "run_retention_days": database.run_retention_days,
            "elapsed_s": round(time.perf_counter() - started, 3),
        }
    )


def purge_old_runs(instance: DagsterInstance, before, limit: int = PURGE_PER_TICK) -> int:
    """Delete up to `limit` finished runs created before `before` (Dagster keeps them forever)."""
    records = instance.get_run_records(RunsFilter(created_before=before), limit=limit)
    purged = 0
    for record in records:
        if record.dagster_run.is_finished:
            instance.delete_run(record.dagster_run.run_id)
            purged += 1
    return purged


@asset_check(asset=queue_maintenance, description="No message 'sending' long past its lease.")
def no_sending_past_lease(
    context: AssetCheckExecutionContext, database: DatabaseResource
) -> AssetCheckResult:
    """Fails when a message is still 'sending' more than two minutes after its lease ran out."""
    with database.engine().connect() as conn:
        found = store.sending_past_lease(conn, tick_time(context))
    name = Names(database.engine(), devices=(r["device_id"] for r in found))
    return AssetCheckResult(
        passed=not found,
        metadata={
            "violations": len(found),
            "examples": markdown_table(
                ["message", "device", "lease owner", "lease until"],
                ((r["message_id"], name("device", r["device_id"]), r["lease_owner"],
                  r["lease_until"])
                 for r in found),
            ),
        },
    )
