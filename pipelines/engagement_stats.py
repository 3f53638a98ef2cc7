"""Asset: the hourly engagement roll-up per user and source (sent, delivered, read, replied)."""

import time
from datetime import UTC

from dagster import AssetExecutionContext, MaterializeResult, asset

from dripfleet.stores import engagement
from pipelines.delivery_stats import delivery_stats
from pipelines.metadata import markdown_table
from pipelines.resources import DatabaseResource
from pipelines.tick_time import tick_time


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "–"


@asset(
    group_name="stats",
    deps=[delivery_stats],
    description="engagement_hourly: sent / delivered / read / replied per user, source and UTC"
                " hour, each event in the hour it happened. Recomputes the last"
                f" {engagement.WINDOW_HOURS} hours every tick and the last"
                f" {engagement.DEEP_HOURS} at the top of the hour (receipts that arrive late).",
)
def engagement_stats(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult:
    """Recompute the recent window of the roll-up; the dashboard's hourly chart reads it."""
    started = time.perf_counter()
    now = tick_time(context)
    hours = engagement.DEEP_HOURS if now.astimezone(UTC).minute == 0 else engagement.WINDOW_HOURS
    written, totals = engagement.roll_up(database.engine(), now, hours)
    return MaterializeResult(
        metadata={
            "tick": now.isoformat(),
            "window_hours": hours,
            "rows_written": written,
            "sent": sum(r["sent"] for r in totals),
            "delivered": sum(r["delivered"] for r in totals),
            "read": sum(r["read"] for r in totals),
            "replied": sum(r["replied"] for r in totals),
            "hours": markdown_table(
                ["hour (UTC)", "users", "sent", "delivered", "read", "replied",
                 "read / sent", "replied / sent"],
                ((r["hour"].isoformat(), r["users"], r["sent"], r["delivered"], r["read"],
                  r["replied"], _rate(r["read"], r["sent"]), _rate(r["replied"], r["sent"]))
                 for r in reversed(totals)),
            ),
            "elapsed_s": round(time.perf_counter() - started, 3),
        }
    )
