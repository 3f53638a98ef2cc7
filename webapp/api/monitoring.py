"""Monitoring: broadcast jobs and queue statistics."""

from apiflask import APIBlueprint

from webapp import auth, db
from webapp.api.paging import page
from webapp.schemas.common import ID_PATH
from webapp.schemas.monitoring import JobDetail, JobList, JobQuery, QueueStats
from webapp.services import monitoring

bp = APIBlueprint("monitoring", __name__, tag="Monitoring", url_prefix="/api")


@bp.get("/broadcast-jobs")
@bp.input(JobQuery, location="query", arg_name="query")
@bp.output(JobList)
def list_jobs(query):
    """Materialised batches, newest first."""
    with db.transaction() as conn:
        items = monitoring.list_jobs(conn, auth.current_user_id(), query["limit"],
                                     query["before"], query.get("source"),
                                     query.get("campaign_id"), query.get("sequence_id"))
    return page(items, query["limit"], "next_before")


@bp.get(f"/broadcast-jobs/<{ID_PATH}:job_id>")
@bp.output(JobDetail)
def get_job(job_id: int):
    """One batch with live counts by message status."""
    with db.transaction() as conn:
        return monitoring.get_job(conn, auth.current_user_id(), job_id)


@bp.get("/queue/stats")
@bp.output(QueueStats)
def queue_stats():
    """Per device: queued, held, sending, sent and failed in the last 24 h, next send."""
    with db.transaction() as conn:
        return monitoring.queue_stats(conn, auth.current_user_id())
