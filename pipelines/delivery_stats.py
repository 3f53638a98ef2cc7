"""Asset: the hourly delivery roll-up per user, device and source that the dashboards read."""

import time

from dagster import AssetExecutionContext, MaterializeResult, asset

from dripfleet.stores import delivery_stats as stats
from pipelines.campaign_messages import campaign_messages
from pipelines.metadata import markdown_table
from pipelines.resources import DatabaseResource
from pipelines.tick_time import tick_time


@asset(
    group_name="stats",
    deps=[campaign_messages],
    description="delivery_stats_hourly: queued / sent / failed per user, device, source and hour.",
)
def delivery_stats(context: AssetExecutionContext, database: DatabaseResource) -> MaterializeResult:
    """Recompute the last three hours of the roll-up (late outcomes land in their hour)."""
    started = time.perf_counter()
    now = tick_time(context)
    totals = stats.roll_up(database.engine(), now)
    return MaterializeResult(
        metadata={
            "tick": now.isoformat(),
            "hours": markdown_table(
                ["hour (UTC)", "queued", "sent", "failed"],
                ((r["hour"].isoformat(), r["queued"], r["sent"], r["failed"]) for r in totals),
            ),
            "elapsed_s": round(time.perf_counter() - started, 3),
        }
    )
