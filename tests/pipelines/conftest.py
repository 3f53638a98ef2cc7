"""Fixtures for the pipeline tests: a small world builder over the test database, and ticks."""

import itertools
from datetime import datetime

import pytest
from sqlalchemy import Engine, text

from pipelines.tick import run_tick

_phones = itertools.count(1_000_000)
_bulk = itertools.count(10)


class World:
    """Builds users' devices, leads, sequences and campaigns with plain SQL (tests only)."""

    def __init__(self, engine: Engine, make_user) -> None:
        self.engine = engine
        self.make_user = make_user

    def sql(self, statement: str, **params):
        """Run one statement; returns the result rows as mappings (empty when none)."""
        with self.engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return [dict(r) for r in result.mappings()] if result.returns_rows else []

    def value(self, statement: str, **params):
        """Run one statement and return its single value."""
        with self.engine.begin() as conn:
            return conn.execute(text(statement), params).scalar()

    def user(self) -> int:
        return self.make_user()["id"]

    def device(self, user_id: int, status: str = "online", name: str = "phone") -> int:
        return self.value(
            "INSERT INTO devices (user_id, name, status) VALUES (:u, :n, :s) RETURNING id",
            u=user_id, n=name, s=status,
        )

    def lead(
        self, user_id: int, niches: list[str] | None = None, target_status: str = "prospect",
        name: str = "Ali Baba", preferred_device_id: int | None = None, opted_out: bool = False,
        attributes: str = "{}",
    ) -> int:
        return self.value(
            "INSERT INTO leads (user_id, phone, name, niches, target_status, preferred_device_id,"
            " opted_out_at, attributes) VALUES (:u, :p, :n, :ni, :t, :d,"
            " CASE WHEN :o THEN now() END, CAST(:a AS jsonb)) RETURNING id",
            u=user_id, p=f"+6012{next(_phones):07d}", n=name, ni=niches or [], t=target_status,
            d=preferred_device_id, o=opted_out, a=attributes,
        )

    def leads(self, user_id: int, count: int, niches: list[str]) -> None:
        """Many leads at once (generate_series)."""
        self.sql(
            "INSERT INTO leads (user_id, phone, name, niches)"
            " SELECT :u, '+6014' || lpad((:base + g)::text, 8, '0'), 'Lead ' || g, :ni"
            " FROM generate_series(1, :n) g",
            u=user_id, n=count, ni=niches, base=next(_bulk) * 1_000_000,
        )

    def sequence(
        self, user_id: int, niche: str = "fitness", timezone: str = "UTC",
        steps: list[tuple[int, str]] | None = None, status: str = "active",
        target_status: str = "all", pinned_device_id: int | None = None,
        body: str = "{Hi|Hello} {{ first_name }}, day {{ day }}",
    ) -> int:
        sequence_id = self.value(
            "INSERT INTO sequences (user_id, name, niche, timezone, status, target_status,"
            " pinned_device_id) VALUES (:u, 'seq', :n, :tz, :s, :t, :d) RETURNING id",
            u=user_id, n=niche, tz=timezone, s=status, t=target_status, d=pinned_device_id,
        )
        for day, send_time in steps or [(1, "09:00")]:
            self.sql(
                "INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body)"
                " VALUES (:u, :s, :d, CAST(:t AS time), :b)",
                u=user_id, s=sequence_id, d=day, t=send_time, b=body.replace("{{ day }}", str(day)),
            )
        return sequence_id

    def campaign(
        self, user_id: int, scheduled_at: datetime, niche: str | None = None,
        status: str = "scheduled", target_status: str = "all",
        body: str = "{Hi|Hello} {{ first_name }}!", pinned_device_id: int | None = None,
    ) -> int:
        return self.value(
            "INSERT INTO campaigns (user_id, title, niche, target_status, scheduled_at, body,"
            " status, pinned_device_id) VALUES (:u, 'camp', :n, :t, :at, :b, :s, :d) RETURNING id",
            u=user_id, n=niche, t=target_status, at=scheduled_at, b=body, s=status,
            d=pinned_device_id,
        )

    def mark_sent(self, **filters) -> int:
        """The device host's part in tests: every queued message becomes sent (counted on jobs)."""
        rows = self.sql(
            "WITH s AS (UPDATE message_queue SET status = 'sent', sent_at = now()"
            " WHERE status = 'queued' RETURNING broadcast_job_id, status)"
            " SELECT count(*) AS n, (SELECT broadcast_jobs_count(array_agg(broadcast_job_id),"
            " array_agg(status)) FROM s HAVING count(*) > 0) AS jobs FROM s"
        )
        return rows[0]["n"]


@pytest.fixture
def world(engine: Engine, make_user) -> World:
    """The world builder over this test's database."""
    return World(engine, make_user)


@pytest.fixture
def tick(database_url: str):
    """Run one tick (the scheduled job, in-process) as of a given instant."""

    def run(now: datetime, **kw):
        return run_tick(now, database_url=database_url, **kw)

    return run
