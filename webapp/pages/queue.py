"""Queue monitor `/queue`: per device depth, next send and when its backlog should clear, the
waiting messages with an expected send time, recent outcomes, broadcast jobs."""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask import render_template
from sqlalchemy import Connection

from dripfleet.stores import campaigns, monitoring, pages, sequences
from webapp import db
from webapp.pages import access
from webapp.services import results

bp = access.blueprint("pages_queue", __name__)
# waiting messages listed with their expected send time (the soonest first)
WAITING_SHOWN = 50


@bp.get("/queue")
def index() -> str:
    """The monitor; its tables refresh themselves from the JSON API (static/app.js)."""
    uid = access.user_id()
    now = datetime.now(UTC)
    with db.transaction() as conn:
        stats = monitoring.queue_stats(conn, uid)
        outcomes = pages.recent_outcomes(conn, uid, limit=20)
        jobs = monitoring.list_broadcast_jobs(conn, uid, limit=20)
        backlogs = results.backlog_ends(conn, uid, now)
        waiting = results.expected_sends(conn, uid, now, limit=WAITING_SHOWN)
        names = source_names(conn, uid, [*waiting, *jobs])
    return render_template("queue/index.html", stats=stats, outcomes=outcomes, jobs=jobs,
                           backlogs=backlogs, waiting=waiting, names=names)


def source_names(conn: Connection, user_id: int,
                 rows: Iterable[dict[str, Any]]) -> dict[tuple[str, int], str]:
    """Campaign titles and sequence names of the rows' sources, keyed ('campaign', id)."""
    # one lookup per distinct source: the page shows at most 70 rows, from a handful of sources
    names: dict[tuple[str, int], str] = {}
    for row in rows:
        if row.get("campaign_id") and ("campaign", row["campaign_id"]) not in names:
            found = campaigns.get_campaign(conn, user_id, row["campaign_id"])
            names["campaign", row["campaign_id"]] = (
                found["title"] if found else f"campaign {row['campaign_id']}")
        elif row.get("sequence_id") and ("sequence", row["sequence_id"]) not in names:
            found = sequences.get_sequence(conn, user_id, row["sequence_id"])
            names["sequence", row["sequence_id"]] = (
                found["name"] if found else f"sequence {row['sequence_id']}")
    return names
