"""Leads `/leads`: filterable, paginated table; CSV upload with a niche and its report; export."""

from typing import Any

from flask import current_app, render_template, request

from webapp import db
from webapp.pages import access
from webapp.services import leads

bp = access.blueprint("pages_leads", __name__)
PAGE_SIZE = 50
FILTERS = ("niche", "target_status", "opted_out", "search")


def _filters() -> dict[str, Any]:
    values = {name: request.args.get(name, "").strip() for name in FILTERS}
    return {name: value for name, value in values.items() if value}


def _page(report: dict[str, Any] | None = None) -> str:
    filters = _filters()
    after = request.args.get("after", type=int)
    with db.transaction() as conn:
        items = leads.list_leads(conn, access.user_id(), limit=PAGE_SIZE, after=after,
                                 **_service_filters(filters))
    next_after = items[-1]["id"] if len(items) == PAGE_SIZE else None
    return render_template("leads/index.html", leads=items, filters=filters, after=after,
                           next_after=next_after, report=report)


@bp.get("/leads")
def index() -> str:
    """The table and the upload form."""
    return _page()


@bp.post("/leads/import")
def import_csv() -> str:
    """Import a CSV (the page shows its progress while uploading), then show the report."""
    upload = request.files.get("file")
    values = access.form_values("niche", "target_status")
    with db.transaction() as conn:
        report = leads.import_csv(
            conn, access.user_id(), upload.read() if upload else b"",
            niche=values["niche"] or None, target_status=values["target_status"] or None,
            region=current_app.config["DEFAULT_REGION"],
            max_bytes=current_app.config["MAX_UPLOAD_BYTES"],
        )
    return _page(report)


def _service_filters(filters: dict[str, Any]) -> dict[str, Any]:
    out = dict(filters)
    if "opted_out" in out:
        out["opted_out"] = out["opted_out"] == "yes"
    return out
