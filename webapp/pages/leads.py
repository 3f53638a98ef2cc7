"""Leads `/leads`: filterable, paginated table; CSV upload with a niche and its report; export.
`/leads/<id>`: one lead's details, sequences with progress, the conversation and a reply box."""

import re
import uuid
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webapp import db
from webapp.pages import access, paging
from webapp.pages.inbox import cursor_arg
from webapp.schemas.messages import MessageIn
from webapp.services import conversations, devices, leads, messages, sequences
from webapp.services.errors import Conflict, Invalid

bp = access.blueprint("pages_leads", __name__)
PAGE_SIZE = 50
CONVERSATION_PAGE = 30
FILTERS = ("niche", "target_status", "opted_out", "search")
# what the API admits as an Idempotency-Key (webapp.schemas.messages.IdempotencyIn)
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")


def _filters() -> dict[str, Any]:
    values = {name: request.args.get(name, "").strip() for name in FILTERS}
    return {name: value for name, value in values.items() if value}


def _page(report: dict[str, Any] | None = None) -> str:
    filters = _filters()
    uid = access.user_id()
    with db.transaction() as conn:
        listing = paging.paginate(
            lambda after, before, limit: leads.leads_page(
                conn, uid, after, before, limit, paging.COUNT_CAP + 1,
                **_service_filters(filters)),
            paging.window(), PAGE_SIZE, endpoint="pages_leads.index")
    return render_template("leads/index.html", listing=listing, filters=filters, report=report)


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


@bp.get("/leads/<id:lead_id>")
def detail(lead_id: int) -> str:
    """Details, sequences with progress, the conversation (newest at the bottom), a reply box.
    Viewing the newest messages marks the lead's inbound messages read."""
    return _lead_page(lead_id)


@bp.post("/leads/<id:lead_id>/reply")
def reply(lead_id: int) -> Response | str:
    """Queue a one-off text to the lead through the messages service, as POST /api/messages."""
    uid = access.user_id()
    body = request.form.get("body", "")
    key = request.form.get("idempotency_key", "")
    try:
        # a person answering a lead: before the device's waiting drip and campaign messages
        data = access.load(MessageIn, {"lead_id": lead_id, "message_type": "text", "body": body,
                                       "priority": "high"})
        data.pop("region", None)
        values = {**data, "media_url": data.pop("media", None)}
        with db.transaction() as conn:
            # another user's lead is a 404 page here, not the service's 422 for a lead_id
            leads.get_lead(conn, uid, lead_id)
            message, created = messages.send_message(
                conn, uid, values, current_app.config["DEFAULT_REGION"],
                current_app.config["SETTINGS"].queue_buffer_size,
                key if IDEMPOTENCY_KEY.fullmatch(key) else None)
    except (Invalid, Conflict) as error:
        # the page again with the draft kept and the reason beside the box, answered 200 like
        # every page a person reads (Chromium logs an error status of a document as an error)
        return _lead_page(lead_id, draft=body, problem=_reply_problem(error))
    if created:
        flash(f"Reply queued (message {message['id']}): it leaves through its device after "
              "that device's delay.", "ok")
    else:  # the same form sent twice (a double click): its first message stands
        flash(f"This reply was already queued (message {message['id']}).", "ok")
    return redirect(url_for(".detail", lead_id=lead_id, _anchor="reply"))


@bp.post("/leads/<id:lead_id>/sequences/<id:sequence_id>/contacts/<id:contact_id>/resume")
def resume(lead_id: int, sequence_id: int, contact_id: int) -> Response:
    """A contact paused by its reply (on_reply: pause) goes on with the sequence."""
    uid = access.user_id()
    with db.transaction() as conn:
        # the contact must be this lead's in that sequence: the page resumes nobody else
        mine = {(c["sequence_id"], c["contact_id"])
                for c in conversations.lead_sequences(conn, uid, lead_id)}
        if (sequence_id, contact_id) not in mine:
            abort(404)
        result = sequences.resume_contact(conn, uid, sequence_id, contact_id)
    released = result["released"]
    flash("Resumed: the next steps go out as scheduled" + (
        f"; {released} held message{'s' if released != 1 else ''} queued again." if released
        else "."), "ok")
    return redirect(url_for(".detail", lead_id=lead_id))


def _reply_problem(error: Invalid | Conflict) -> str:
    """What the reply box says when the service refuses the message."""
    if isinstance(error, Conflict) and error.fields.get("lead_id") == "opted out":
        return "This lead has opted out: nothing can be sent to them."
    if isinstance(error, Invalid) and "body" in error.fields:
        return f"Message: {error.fields['body']}"
    return error.message


def _lead_page(lead_id: int, draft: str = "", problem: str | None = None) -> str:
    uid = access.user_id()
    before = cursor_arg(conversations.CONVERSATION_CURSOR)
    with db.transaction() as conn:
        lead = leads.get_lead(conn, uid, lead_id)
        page = conversations.conversation(conn, uid, lead_id, limit=CONVERSATION_PAGE,
                                          before=before)
        contacts = conversations.lead_sequences(conn, uid, lead_id)
        names = {d["id"]: d["name"] for d in devices.list_devices(conn, uid, limit=500)}
        # read after the page is taken, so this view still marks what was new; an older page
        # does not show the newest (usually the unread) messages, so it marks nothing
        if before is None:
            conversations.mark_read(conn, uid, lead_id)
    return render_template(
        "leads/detail.html", lead=lead, contacts=contacts, device_names=names,
        items=list(reversed(page["items"])), next_before=page["next_before"], before=before,
        draft=draft, problem=problem, idempotency_key=uuid.uuid4().hex)
