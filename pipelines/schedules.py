"""The every-minute tick: one job over every asset, in-process, launched once per minute."""

from dagster import (
    AssetSelection,
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
)
from dagster._core.storage.tags import MAX_RUNTIME_SECONDS_TAG

from dripfleet.settings import load_settings

TICK_JOB_NAME = "dripfleet_tick"
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]

# A run whose worker died without a word (Dagster's storage is this PostgreSQL: a restart mid-run
# leaves the run STARTED for good) would make every later tick skip, and hold the queue's
# dripfleet/tick slot. The daemon's run monitoring (dagster.yaml) fails a run past this age; a tick
# takes seconds (bench P2: 100,000 steps in about 20 s), and one cut short loses nothing: every
# batch is its own transaction and the next tick redoes the rest.
TICK_MAX_RUNTIME_SECONDS = 600

# in_process_executor: a run takes well under a second instead of ~3 s of subprocess start per
# step with the default multiprocess executor (notes/dagster.md).
tick_job = define_asset_job(
    TICK_JOB_NAME,
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    description="Enrol, queue due sequence steps and campaign pages, roll up stats, maintain.",
    tags={MAX_RUNTIME_SECONDS_TAG: str(TICK_MAX_RUNTIME_SECONDS)},
)


@schedule(
    cron_schedule="* * * * *",
    job=tick_job,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
def every_minute(context: ScheduleEvaluationContext):
    """Launch one tick per minute (run_key = the tick), skipped while a tick is still in flight."""
    in_flight = context.instance.get_run_records(
        RunsFilter(job_name=TICK_JOB_NAME, statuses=IN_FLIGHT), limit=1
    )
    if in_flight:
        run_id = in_flight[0].dagster_run.run_id
        return SkipReason(f"run {run_id} of {TICK_JOB_NAME} is still queued or in progress")
    tick = context.scheduled_execution_time
    return RunRequest(run_key=tick.isoformat(), tags={"dripfleet/tick": tick.isoformat()},
                      run_config=tick_run_config())


def tick_run_config() -> dict:
    """A scheduled tick's run config: its console logger at DAGSTER_LOG_LEVEL (default INFO).

    At Dagster's own default, DEBUG, every step's start, output, materialisation and success is a
    line on the daemon's output, ~45 a minute under `make up`; the UI's run view shows them all
    whatever this level. Set in the run request, not as the job's default config: a job default
    would stand in for the resources' config of a run given resources (run_tick in tests).
    """
    return {"loggers": {"console": {"config": {
        "log_level": load_settings().dagster_log_level}}}}
