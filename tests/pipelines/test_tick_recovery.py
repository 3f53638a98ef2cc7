"""A Dagster tick that fails on a PostgreSQL restart is redone by the next tick, no hand on it.

The tick job runs in-process against a PostgreSQL server of the test's own (tests/own_postgres.py,
never the machine's): the server is stopped in the middle of a campaign page (after the sequence
batch committed) and again between two ticks. Nothing is half-applied, the failed runs do not block
the schedule, and the next tick queues every due message exactly once. A run that a dead worker
left STARTED (Dagster's storage is the same PostgreSQL, so its failure could not be written) is
failed by run monitoring as dagster.yaml configures it, and the schedule launches again.
"""

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_schedule_context,
    instance_for_test,
)
from dagster._daemon.monitoring import run_monitoring
from sqlalchemy import text

from dripfleet.database import get_engine
from dripfleet.materialise import campaigns
from dripfleet.stores import users
from pipelines.definitions import defs
from pipelines.schedules import TICK_JOB_NAME, TICK_MAX_RUNTIME_SECONDS, every_minute
from pipelines.tick import run_tick

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
LEADS = 30
INSTANCE_FILE = Path(__file__).resolve().parents[2] / "dagster.yaml"


def sql(url: str, statement: str, **params: Any) -> Any:
    """Run one statement on the test's own server; its first value (or None)."""
    with get_engine(url).begin() as conn:
        result = conn.execute(text(statement), params)
        return result.scalar() if result.returns_rows else None


def build(url: str) -> None:
    """Two devices, LEADS yoga leads, an active two-step sequence and a campaign, both due NOW."""
    with get_engine(url).begin() as conn:
        user = users.create_user(conn, "owner@example.com", "correct horse")["id"]
    sql(url, "INSERT INTO devices (user_id, name, status) SELECT :u, 'phone ' || g, 'online'"
             " FROM generate_series(1, 2) g", u=user)
    sql(url, "INSERT INTO leads (user_id, phone, name, niches)"
             " SELECT :u, '+6014' || lpad(g::text, 8, '0'), 'Lead ' || g, ARRAY['yoga']"
             " FROM generate_series(1, :n) g", u=user, n=LEADS)
    sequence = sql(url, "INSERT INTO sequences (user_id, name, niche, timezone, status)"
                        " VALUES (:u, 'seq', 'yoga', 'UTC', 'active') RETURNING id", u=user)
    sql(url, "INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body)"
             " SELECT :u, :s, d, '09:00', 'Hi {{ first_name }}, day ' || d"
             " FROM generate_series(1, 2) d", u=user, s=sequence)
    sql(url, "INSERT INTO campaigns (user_id, title, niche, target_status, scheduled_at, body,"
             " status) VALUES (:u, 'camp', 'yoga', 'all', :at, 'Hello {{ first_name }}!',"
             " 'scheduled')", u=user, at=NOW)


def count(url: str, where: str) -> int:
    return sql(url, f"SELECT count(*) FROM message_queue WHERE {where}")


def evaluate_schedule(instance: Any, at: datetime) -> Any:
    return every_minute(build_schedule_context(instance=instance, scheduled_execution_time=at))


def test_a_tick_failing_on_a_postgres_restart_is_redone_by_the_next_tick(own_pg, monkeypatch):
    url = own_pg.url
    build(url)
    real_assign = campaigns._assign

    def restart_midway(*args: Any, **kwargs: Any) -> Any:
        # the campaign page has read its audience; the sequence batch before it has committed
        own_pg.stop()
        return real_assign(*args, **kwargs)

    monkeypatch.setattr(campaigns, "_assign", restart_midway)
    with instance_for_test() as instance:
        first = run_tick(NOW, database_url=url, instance=instance, raise_on_error=False)
        assert not first.success
        monkeypatch.setattr(campaigns, "_assign", real_assign)
        own_pg.start()

        # nothing half-applied: the sequence batch is whole, the campaign page left no trace
        assert count(url, "source = 'sequence'") == LEADS
        assert sql(url, "SELECT count(*) FROM sequence_contacts WHERE current_day = 1") == LEADS
        assert count(url, "source = 'campaign'") == 0
        assert sql(url, "SELECT status || ':' || audience_cursor FROM campaigns") == "scheduled:0"
        assert sql(url, "SELECT count(*) FROM broadcast_jobs WHERE campaign_id IS NOT NULL") == 0

        # down between two ticks: the next one fails at its first statement
        own_pg.stop()
        second = run_tick(NOW + timedelta(minutes=1), database_url=url, instance=instance,
                          raise_on_error=False)
        assert not second.success
        own_pg.start()

        # the failed runs do not hold the schedule: the next minute launches a tick
        assert isinstance(evaluate_schedule(instance, NOW + timedelta(minutes=2)), RunRequest)
        third = run_tick(NOW + timedelta(minutes=2), database_url=url, instance=instance)
        assert third.success

    # every due message queued exactly once (day 2 of the sequence is due tomorrow)
    assert count(url, "source = 'sequence'") == LEADS
    assert sql(url, "SELECT count(DISTINCT contact_id) FROM message_queue"
                    " WHERE source = 'sequence'") == LEADS
    assert sql(url, "SELECT count(*) FROM sequence_logs") == LEADS
    assert count(url, "source = 'campaign'") == LEADS
    assert sql(url, "SELECT count(DISTINCT lead_id) FROM message_queue"
                    " WHERE source = 'campaign'") == LEADS
    assert count(url, "status = 'queued'") == 2 * LEADS
    assert sql(url, "SELECT sum(total_count) FROM broadcast_jobs") == 2 * LEADS
    assert sql(url, "SELECT status FROM campaigns") == "running"


class _Workspace:
    """What the run monitor needs of the daemon's workspace for a run launcher without health
    checks (the default launcher): the instance."""

    def __init__(self, instance: Any) -> None:
        self.instance = instance

    def create_request_context(self) -> None:
        return None


def test_a_tick_left_started_by_a_dead_worker_is_failed_and_the_schedule_resumes(monkeypatch):
    config = yaml.safe_load(INSTANCE_FILE.read_text())
    overrides = {"run_monitoring": config["run_monitoring"]}
    with instance_for_test(overrides=overrides) as instance:
        assert instance.run_monitoring_enabled
        # the run the daemon makes of the schedule's request (job run tags + request tags), whose
        # worker started it and then died with the database: no failure was ever recorded
        request = evaluate_schedule(instance, NOW)
        job = defs.resolve_job_def(TICK_JOB_NAME)
        run = instance.create_run_for_job(job_def=job, tags={**job.run_tags, **request.tags})
        instance.handle_run_event(run.run_id, DagsterEvent(
            event_type_value=DagsterEventType.RUN_START.value, job_name=TICK_JOB_NAME))
        assert isinstance(evaluate_schedule(instance, NOW + timedelta(minutes=1)), SkipReason)

        # the monitor's next pass once the tick's maximum runtime has gone by
        now = run_monitoring.get_current_timestamp
        monkeypatch.setattr(run_monitoring, "get_current_timestamp",
                            lambda: now() + TICK_MAX_RUNTIME_SECONDS + 1)
        list(run_monitoring.execute_run_monitoring_iteration(
            _Workspace(instance), logging.getLogger("run_monitoring")))

        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
        later = NOW + timedelta(minutes=11)
        assert isinstance(evaluate_schedule(instance, later), RunRequest)
