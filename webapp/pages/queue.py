"""Queue monitor `/queue`: per device depth, next send and when its backlog should clear, the
waiting messages with an expected send time, recent outcomes, broadcast jobs."""

from datetime import UTC, datetime

from flask import render_template

from dripfleet.stores import monitoring, pages
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
    return render_template("queue/index.html", stats=stats, outcomes=outcomes, jobs=jobs,
                           backlogs=backlogs, waiting=waiting)
