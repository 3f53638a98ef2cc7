"""Acceptance 6 (schedule): run_key = the tick; skipped while a run of the job is in flight."""

import uuid
from datetime import UTC, datetime

from dagster import (
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_schedule_context,
    instance_for_test,
)

from pipelines.schedules import TICK_JOB_NAME, every_minute

TICK = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def evaluate(instance):
    context = build_schedule_context(instance=instance, scheduled_execution_time=TICK)
    return every_minute(context)


def add_run(instance, status: DagsterRunStatus) -> None:
    instance.add_run(DagsterRun(job_name=TICK_JOB_NAME, run_id=str(uuid.uuid4()), status=status))


def test_a_tick_requests_one_run_keyed_by_its_time():
    with instance_for_test() as instance:
        request = evaluate(instance)
        assert isinstance(request, RunRequest)
        assert request.run_key == TICK.isoformat()
        assert request.tags["dripfleet/tick"] == TICK.isoformat()


def test_the_tick_is_skipped_while_a_run_is_in_flight():
    # (a QUEUED run needs a code-location origin to be stored; it is in the same status filter)
    for status in (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED):
        with instance_for_test() as instance:
            add_run(instance, DagsterRunStatus.SUCCESS)
            add_run(instance, status)
            assert isinstance(evaluate(instance), SkipReason)


def test_finished_runs_do_not_block_the_tick():
    with instance_for_test() as instance:
        add_run(instance, DagsterRunStatus.SUCCESS)
        add_run(instance, DagsterRunStatus.FAILURE)
        assert isinstance(evaluate(instance), RunRequest)


def test_a_scheduled_tick_logs_its_steps_at_info_unless_told(monkeypatch):
    """`make up` prints the daemon's runs: Dagster's DEBUG step events are off by default."""
    monkeypatch.delenv("DAGSTER_LOG_LEVEL", raising=False)
    with instance_for_test() as instance:
        level = evaluate(instance).run_config["loggers"]["console"]["config"]["log_level"]
        assert level == "INFO"
        monkeypatch.setenv("DAGSTER_LOG_LEVEL", "debug")
        level = evaluate(instance).run_config["loggers"]["console"]["config"]["log_level"]
        assert level == "DEBUG"
