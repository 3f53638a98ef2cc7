"""Asset: campaign audiences into message_queue; check: no device over the buffer."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    asset,
    asset_check,
)

from dripfleet.materialise.campaigns import materialise_campaign_messages
from dripfleet.stores import maintenance
from pipelines.metadata import Names, markdown_table
from pipelines.resources import DatabaseResource
from pipelines.sequence_messages import sequence_messages
from pipelines.tick_time import tick_time


@asset(
    group_name="campaigns",
    # after the sequences: both share the device buffers, and the order keeps a tick deterministic
    deps=[sequence_messages],
    description="Due campaigns: audience pages rendered, given devices and queued.",
)
def campaign_messages(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult:
    """Start due campaigns, queue the audience pages that fit, complete finished campaigns."""
    now = tick_time(context)
    tick = materialise_campaign_messages(
        database.engine(), now, database.buffer_size(), run_id=context.run.run_id
    )
    context.log.info("queued %d messages for %d campaigns", tick.queued, len(tick.campaigns))
    name = Names(database.engine(), campaigns=(c.campaign_id for c in tick.campaigns))
    rows = (
        (name("campaign", c.campaign_id), c.queued, c.skipped, c.pages,
         "yes" if c.started else "",
         "yes" if c.exhausted else "", "yes" if c.completed else "", c.error or "")
        for c in tick.campaigns
    )
    return MaterializeResult(
        metadata={
            "tick": now.isoformat(),
            "queued": tick.queued,
            "campaigns": len(tick.campaigns),
            "completed": sum(c.completed for c in tick.campaigns),
            "per_campaign": markdown_table(
                ["campaign", "queued", "skipped", "pages", "started", "audience done",
                 "completed", "last_error"],
                rows,
            ),
            "template_problems": "\n".join(tick.problems) or "none",
            "elapsed_s": round(tick.seconds, 3),
        }
    )


@asset_check(asset=campaign_messages, description="No device holds more than QUEUE_BUFFER_SIZE.")
def no_device_over_buffer(
    context: AssetCheckExecutionContext, database: DatabaseResource
) -> AssetCheckResult:
    """Fails when a device holds more queued messages than the buffer allows."""
    buffer_size = database.buffer_size()
    with database.engine().connect() as conn:
        found = maintenance.devices_over_buffer(conn, buffer_size)
    name = Names(database.engine(), devices=(r["device_id"] for r in found))
    return AssetCheckResult(
        passed=not found,
        metadata={
            "buffer_size": buffer_size,
            "violations": len(found),
            "examples": markdown_table(
                ["device", "queued"], ((name("device", r["device_id"]), r["queued"])
                                       for r in found)
            ),
        },
    )
