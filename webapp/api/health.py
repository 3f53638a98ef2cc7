"""GET /healthz: the process is up and the database answers (Railway's health check)."""

from apiflask import APIBlueprint, Schema
from apiflask.fields import String
from sqlalchemy.exc import SQLAlchemyError

from dripfleet.stores import monitoring
from webapp import db
from webapp.errors import RETRY_AFTER_SECONDS

bp = APIBlueprint("health", __name__, tag="Health")


class Health(Schema):
    """Health check result."""

    status = String(required=True, metadata={"example": "ok", "enum": ["ok", "unavailable"]})
    database = String(required=True, metadata={"example": "ok", "enum": ["ok", "down"]})


@bp.get("/healthz")
@bp.output(Health)
@bp.doc(responses={200: "Healthy",
                   503: {"description": "The database is down (the process itself is up)",
                         "content": {"application/json": {"schema": Health}},
                         "headers": {"Retry-After": {"schema": {"type": "integer"}}}}})
def healthz():
    """Is the database reachable?"""
    try:
        with db.engine().connect() as conn:
            monitoring.ping(conn)
    except SQLAlchemyError:
        return ({"status": "unavailable", "database": "down"}, 503,
                {"Retry-After": str(RETRY_AFTER_SECONDS)})
    return {"status": "ok", "database": "ok"}
