"""Run one tick in this process (tests, demos, `dripfleet tick`): the scheduled job, as of `now`."""

from datetime import UTC, datetime

from dagster import DagsterInstance, ExecuteInProcessResult

from pipelines.schedules import TICK_JOB_NAME
from pipelines.tick_time import TICK_TAG


def run_tick(
    now: datetime | None = None,
    database_url: str | None = None,
    instance: DagsterInstance | None = None,
    queue_buffer_size: int | None = None,
    raise_on_error: bool = True,
) -> ExecuteInProcessResult:
    """Execute the tick job in-process as of `now` (default: the wall clock) and return it."""
    from pipelines.definitions import defs
    from pipelines.resources import DatabaseResource

    now = (now or datetime.now(UTC)).astimezone(UTC)
    job = defs.resolve_job_def(TICK_JOB_NAME)
    database = DatabaseResource(database_url=database_url, queue_buffer_size=queue_buffer_size)
    run = {"tags": {TICK_TAG: now.isoformat()}, "resources": {"database": database},
           "raise_on_error": raise_on_error}
    if instance is not None:
        return job.execute_in_process(instance=instance, **run)
    # an ephemeral instance owns a temporary folder: dispose of it when the run is over
    with DagsterInstance.ephemeral() as ephemeral:
        return job.execute_in_process(instance=ephemeral, **run)
