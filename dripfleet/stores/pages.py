"""Read-only summaries that only the web pages show (dashboard, queue monitor)."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require(
    "pages_dashboard_counts", "pages_hourly_sends", "pages_upcoming_campaigns",
    "pages_running_sequences", "pages_devices_needing_attention", "pages_recent_outcomes",
)


def _rows(conn: Connection, name: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(queries.text(name), params).mappings()]


def dashboard_counts(conn: Connection, user_id: int, since: datetime) -> dict[str, int]:
    """Devices online / total, queue depth, sent and failed since `since`."""
    row = conn.execute(
        queries.text("pages_dashboard_counts"), {"user_id": user_id, "since": since}
    ).mappings().one()
    return dict(row)


def hourly_sends(conn: Connection, user_id: int, since: datetime) -> list[dict[str, Any]]:
    """Per hour since `since`: sent and failed (delivery_stats_hourly)."""
    return _rows(conn, "pages_hourly_sends", user_id=user_id, since=since)


def upcoming_campaigns(conn: Connection, user_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """Scheduled, running or paused campaigns, soonest first."""
    return _rows(conn, "pages_upcoming_campaigns", user_id=user_id, limit=limit)


def running_sequences(conn: Connection, user_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """Active sequences with their active contact counts."""
    return _rows(conn, "pages_running_sequences", user_id=user_id, limit=limit)


def devices_needing_attention(
    conn: Connection, user_id: int, stale_seconds: float, limit: int = 10
) -> list[dict[str, Any]]:
    """Devices that are not sending, carry an error, or stopped heartbeating."""
    return _rows(conn, "pages_devices_needing_attention", user_id=user_id,
                 stale_s=stale_seconds, limit=limit)


def recent_outcomes(conn: Connection, user_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The latest sent or failed messages."""
    return _rows(conn, "pages_recent_outcomes", user_id=user_id, limit=limit)
