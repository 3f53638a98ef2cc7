"""The tick's instant: the schedule's scheduled time, so a late or re-run tick is deterministic."""

from datetime import UTC, datetime

from dagster import AssetCheckExecutionContext, AssetExecutionContext
from dagster._core.storage.tags import SCHEDULED_EXECUTION_TIME_TAG

# Set by tests and `dripfleet tick` (execute_in_process) to run a tick "as of" a given instant.
TICK_TAG = "dripfleet/tick"


def tick_time(context: AssetExecutionContext | AssetCheckExecutionContext) -> datetime:
    """The run's "now": its dripfleet/tick tag, else the schedule's tick, else the wall clock."""
    tags = context.run.tags
    raw = tags.get(TICK_TAG) or tags.get(SCHEDULED_EXECUTION_TIME_TAG)
    if not raw:
        return datetime.now(UTC)
    instant = datetime.fromisoformat(raw)
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
