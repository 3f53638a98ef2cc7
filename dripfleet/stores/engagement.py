"""Results of sends: the hourly engagement roll-up (engagement_hourly) and the read queries of
funnels, audiences, recipients and expected send times (sql/queries/engagement.sql, results.sql).
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from dripfleet.queries import queries

# hours recomputed by a tick; a deep sweep recomputes DEEP_HOURS once an hour for receipts that
# arrive long after they happened (a phone or a device host offline for a night)
WINDOW_HOURS = 3
DEEP_HOURS = 48
# hours of the roll-up kept (the dashboard reads 24 h; analysts look further back)
KEEP_DAYS = 90

queries.require(
    "roll_up_engagement", "engagement_totals", "engagement_hourly_for_user", "prune_engagement",
    "campaign_audience_sizes", "campaign_opted_out", "results_sequence",
    "sequence_step_stats", "sequence_contact_counts", "queue_expected_sends",
    "queue_backlog_ends",
)


def window_start(now: datetime, hours: int) -> datetime:
    """The start of the `hours` whole UTC hours that end with the hour of `now`."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour - timedelta(hours=hours - 1)


def roll_up(engine: Engine, now: datetime, hours: int = WINDOW_HOURS
            ) -> tuple[int, list[dict[str, Any]]]:
    """Recompute the last `hours` hours up to `now`; (rows written, per-hour totals)."""
    since = window_start(now, hours)
    with engine.begin() as conn:
        written = len(conn.execute(queries.text("roll_up_engagement"),
                                   {"since": since, "now": now}).all())
        rows = conn.execute(queries.text("engagement_totals"), {"since": since}).mappings()
        return written, [dict(r) for r in rows]


def prune(engine: Engine, now: datetime, keep_days: int = KEEP_DAYS) -> int:
    """Delete roll-up hours older than keep_days; returns how many rows."""
    with engine.begin() as conn:
        return conn.execute(queries.text("prune_engagement"),
                            {"cutoff": now - timedelta(days=keep_days)}).rowcount


def _rows(conn: Connection, name: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(queries.text(name), params).mappings()]


def hourly_for_user(conn: Connection, user_id: int, since: datetime) -> list[dict[str, Any]]:
    """One user's sent / delivered / read / replied per hour since `since`."""
    return _rows(conn, "engagement_hourly_for_user", user_id=user_id, since=since)


def audience_sizes(conn: Connection, user_id: int, campaign_ids: Sequence[int]
                   ) -> dict[int, int]:
    """The audience of each of the user's campaigns among campaign_ids, by id."""
    if not campaign_ids:
        return {}
    rows = _rows(conn, "campaign_audience_sizes", user_id=user_id,
                 campaign_ids=list(campaign_ids))
    return {row["id"]: row["audience_size"] for row in rows}


def campaign_opted_out(conn: Connection, user_id: int, campaign_id: int) -> int:
    """Leads who opted out after the campaign's message to them was sent."""
    return conn.execute(queries.text("campaign_opted_out"),
                        {"user_id": user_id, "campaign_id": campaign_id}).scalar_one()


def get_sequence(conn: Connection, user_id: int, sequence_id: int) -> dict[str, Any] | None:
    """The user's sequence (id, name, status), or None."""
    rows = _rows(conn, "results_sequence", user_id=user_id, sequence_id=sequence_id)
    return rows[0] if rows else None


def sequence_step_stats(conn: Connection, user_id: int, sequence_id: int
                        ) -> list[dict[str, Any]]:
    """Per step (day) of the sequence: audience and what became of its messages."""
    return _rows(conn, "sequence_step_stats", user_id=user_id, sequence_id=sequence_id)


def sequence_contact_counts(conn: Connection, user_id: int, sequence_id: int) -> dict[str, int]:
    """The sequence's contacts by status."""
    rows = _rows(conn, "sequence_contact_counts", user_id=user_id, sequence_id=sequence_id)
    return {row["status"]: row["n"] for row in rows}


def expected_sends(conn: Connection, user_id: int, now: datetime, per_device: int = 20,
                   limit: int = 50) -> list[dict[str, Any]]:
    """The next queued messages of the user's devices with an expected send time (estimate)."""
    return _rows(conn, "queue_expected_sends", user_id=user_id, now=now,
                 per_device=per_device, limit=limit)


def backlog_ends(conn: Connection, user_id: int, now: datetime) -> list[dict[str, Any]]:
    """Per device: queued, in flight, mean delay and when its backlog is expected to clear."""
    return _rows(conn, "queue_backlog_ends", user_id=user_id, now=now)
