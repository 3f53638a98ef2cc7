"""Queue monitor `/queue`: per device depth and next send, recent outcomes, broadcast jobs."""

from flask import render_template

from dripfleet.stores import monitoring, pages
from webapp import db
from webapp.pages import access

bp = access.blueprint("pages_queue", __name__)


@bp.get("/queue")
def index() -> str:
    """The monitor; its tables refresh themselves from the JSON API (static/app.js)."""
    uid = access.user_id()
    with db.transaction() as conn:
        stats = monitoring.queue_stats(conn, uid)
        outcomes = pages.recent_outcomes(conn, uid, limit=20)
        jobs = monitoring.list_broadcast_jobs(conn, uid, limit=20)
    return render_template("queue/index.html", stats=stats, outcomes=outcomes, jobs=jobs)
