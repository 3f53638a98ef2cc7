"""Leads: list / create / get / update / delete, CSV import and export."""

from apiflask import APIBlueprint
from flask import Response, current_app

from webapp import auth, db
from webapp.api.paging import page
from webapp.schemas.common import ID_PATH, Deleted
from webapp.schemas.leads import (
    ImportForm,
    ImportReport,
    Lead,
    LeadIn,
    LeadList,
    LeadPatch,
    LeadQuery,
)
from webapp.services import leads

bp = APIBlueprint("leads", __name__, tag="Leads", url_prefix="/api/leads")
ONE = f"/<{ID_PATH}:lead_id>"


def _region(value: str | None) -> str:
    return (value or current_app.config["DEFAULT_REGION"]).upper()


@bp.get("")
@bp.input(LeadQuery, location="query", arg_name="query")
@bp.output(LeadList)
def list_leads(query):
    """Leads, filtered by niche, target_status, opted_out and a search text."""
    with db.transaction() as conn:
        items = leads.list_leads(conn, auth.current_user_id(), query["limit"], query["after"],
                                 query.get("niche"), query.get("target_status"),
                                 query.get("opted_out"), query.get("search"))
    return page(items, query["limit"])


@bp.post("")
@bp.input(LeadIn, arg_name="body")
@bp.output(Lead, status_code=201)
@bp.doc(responses={409: "A lead with this phone exists"})
def create_lead(body):
    """Create a lead (phone normalised to E.164, niches to tags)."""
    with db.transaction() as conn:
        return leads.create_lead(conn, auth.current_user_id(), body, _region(body["region"])), 201


@bp.get("/export")
@bp.doc(responses={200: {"description": "CSV of every lead",
                         "content": {"text/csv": {"schema": {"type": "string"}}}}})
def export_leads():
    """All leads as CSV (name, phone, niche, target_status, device_id, then attributes)."""
    with db.transaction() as conn:
        body = leads.export_csv(conn, auth.current_user_id())
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="leads.csv"'})


@bp.post("/import")
@bp.input(ImportForm, location="form_and_files", arg_name="form")
@bp.output(ImportReport)
@bp.doc(responses={400: "Not a lead CSV", 413: "File too large", 415: "Binary file"})
def import_leads(form):
    """Import a CSV (multipart `file`): report of inserted, updated, unchanged and rejected rows."""
    data = form["file"].read()
    with db.transaction() as conn:
        return leads.import_csv(
            conn, auth.current_user_id(), data, region=_region(form.get("region")),
            niche=form.get("niche"), target_status=form.get("target_status"),
            max_bytes=current_app.config["MAX_UPLOAD_BYTES"])


@bp.get(ONE)
@bp.output(Lead)
def get_lead(lead_id: int):
    """One lead."""
    with db.transaction() as conn:
        return leads.get_lead(conn, auth.current_user_id(), lead_id)


@bp.patch(ONE)
@bp.input(LeadPatch, arg_name="body")
@bp.output(Lead)
@bp.doc(responses={409: "Another lead has this phone"})
def update_lead(lead_id: int, body):
    """Change some of a lead's fields (opting out cancels its waiting messages)."""
    region = _region(body.pop("region", None))
    with db.transaction() as conn:
        return leads.update_lead(conn, auth.current_user_id(), lead_id, body, region)


@bp.delete(ONE)
@bp.output(Deleted, status_code=204)
def delete_lead(lead_id: int):
    """Delete a lead."""
    with db.transaction() as conn:
        leads.delete_lead(conn, auth.current_user_id(), lead_id)
    return ""
