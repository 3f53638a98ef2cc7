"""The queue gauges of /metrics: messages per open status and the oldest queued one's age."""

from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require("queue_open_counts", "queue_oldest_queued")


def queue_depth(conn: Connection) -> dict[str, Any]:
    """{"counts": {status: messages}, "oldest_s": seconds (0 when nothing is queued)}."""
    counts = {row.status: int(row.messages)
              for row in conn.execute(queries.text("queue_open_counts"))}
    oldest = conn.execute(queries.text("queue_oldest_queued")).scalar()
    return {"counts": counts, "oldest_s": max(float(oldest or 0.0), 0.0)}
