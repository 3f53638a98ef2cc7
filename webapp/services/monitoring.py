"""Status reads for dashboards: broadcast jobs and per-device queue statistics."""

from typing import Any

from sqlalchemy import Connection

from dripfleet.stores import monitoring
from webapp.services.errors import not_found


def list_jobs(conn: Connection, user_id: int, limit: int = 50, before: int | None = None,
              source: str | None = None, campaign_id: int | None = None,
              sequence_id: int | None = None) -> list[dict[str, Any]]:
    """Broadcast jobs, newest first."""
    return monitoring.list_broadcast_jobs(conn, user_id, limit, before, source, campaign_id,
                                          sequence_id)


def get_job(conn: Connection, user_id: int, job_id: int) -> dict[str, Any]:
    """One job with live counts by message status; NotFound otherwise."""
    job = monitoring.get_broadcast_job(conn, user_id, job_id)
    if job is None:
        raise not_found("broadcast job", job_id)
    return job


def queue_stats(conn: Connection, user_id: int) -> dict[str, Any]:
    """Per device: queued, held, sending, sent / failed in 24 h, next_send_at; plus totals."""
    rows = monitoring.queue_stats(conn, user_id)
    keys = ("queued", "held", "sending", "sent_24h", "failed_24h")
    return {"devices": rows, "totals": {key: sum(row[key] for row in rows) for key in keys}}
