"""Status reads: health ping, broadcast jobs, per-device queue statistics."""

from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require(
    "ping", "list_broadcast_jobs", "get_broadcast_job", "broadcast_job_status_counts",
    "queue_stats",
)


def ping(conn: Connection) -> None:
    """Raise if the database does not answer."""
    conn.execute(queries.text("ping")).scalar_one()


def list_broadcast_jobs(
    conn: Connection, user_id: int, limit: int = 50, before_id: int | None = None,
    source: str | None = None, campaign_id: int | None = None, sequence_id: int | None = None,
) -> list[dict[str, Any]]:
    """The user's broadcast jobs, newest first (keyset: before_id)."""
    rows = conn.execute(queries.text("list_broadcast_jobs"), {
        "user_id": user_id, "limit": limit, "before_id": before_id, "source": source,
        "campaign_id": campaign_id, "sequence_id": sequence_id,
    }).mappings()
    return [dict(row) for row in rows]


def get_broadcast_job(conn: Connection, user_id: int, job_id: int) -> dict[str, Any] | None:
    """One job with live message counts by status, or None."""
    row = conn.execute(
        queries.text("get_broadcast_job"), {"user_id": user_id, "job_id": job_id}
    ).mappings().first()
    if row is None:
        return None
    job = dict(row)
    counts = conn.execute(
        queries.text("broadcast_job_status_counts"), {"user_id": user_id, "job_id": job_id}
    ).all()
    job["messages"] = {status: n for status, n in counts}
    return job


def queue_stats(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    """Per device: queued, held, sending, sent and failed in the last 24 h, next_send_at."""
    rows = conn.execute(queries.text("queue_stats"), {"user_id": user_id}).mappings()
    return [dict(row) for row in rows]
