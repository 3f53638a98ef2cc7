"""GET /healthz: the process is up and the database answers (Railway's health check)."""

from apiflask import APIBlueprint, Schema
from apiflask.fields import String
from sqlalchemy.exc import SQLAlchemyError

from dripfleet.stores import monitoring
from webapp import db
from webapp.errors import error_body

bp = APIBlueprint("health", __name__, tag="Health")


class Health(Schema):
    """Health check result."""

    status = String(required=True, metadata={"example": "ok"})
    database = String(required=True)


@bp.get("/healthz")
@bp.output(Health)
@bp.doc(responses={200: "Healthy", 503: "Database unreachable"})
def healthz():
    """Is the database reachable?"""
    try:
        with db.engine().connect() as conn:
            monitoring.ping(conn)
    except SQLAlchemyError:
        return error_body(503, "database unreachable", code="unavailable"), 503
    return {"status": "ok", "database": "ok"}
