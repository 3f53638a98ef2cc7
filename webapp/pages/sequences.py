"""Sequences `/sequences` (list, create) and `/sequences/<id>` (steps, preview, contacts, logs)."""

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import Connection
from werkzeug.wrappers import Response

from dripfleet import templates
from dripfleet.stores import monitoring, pages
from webapp import db
from webapp.pages import access, media_upload, paging
from webapp.schemas.sequences import SequenceIn, StepIn
from webapp.services import leads, results, sequences

bp = access.blueprint("pages_sequences", __name__)
SEQUENCE_FIELDS = ("name", "description", "niche", "target_status", "timezone", "on_reply")
STEP_FIELDS = ("day", "send_time", "message_type", "body", "media_url", "media_id", "caption",
               "filename")
PAGE_SIZE = 50
CONTACT_STATUSES = ("active", "paused", "replied", "completed", "opted_out", "failed")
LOG_STATUSES = ("queued", "sent", "failed", "skipped")
SAMPLE_LEAD = {"name": "Aisha Rahman", "phone": "+60123456789",
               "attributes": {"city": "Kuala Lumpur", "company": "Sunrise Yoga"}}


@bp.get("/sequences")
def index() -> str:
    """Every sequence with status, niche, steps and contacts; the form for a new one."""
    with db.transaction() as conn:
        items = sequences.list_sequences(conn, access.user_id(), limit=500)
        devices = _devices(conn, access.user_id())
    return render_template("sequences/index.html", sequences=items, devices=devices)


@bp.post("/sequences")
def create() -> Response:
    """Create a draft sequence (steps are added on its page)."""
    values = access.form_values(*SEQUENCE_FIELDS, "pinned_device_id")
    body = access.load(SequenceIn, _sequence_form(values))
    with db.transaction() as conn:
        sequence = sequences.create_sequence(conn, access.user_id(), {**body, "steps": []})
    flash(f"Sequence “{sequence['name']}” created: add its steps.", "ok")
    return redirect(url_for(".detail", sequence_id=sequence["id"]))


@bp.get("/sequences/<id:sequence_id>")
def detail(sequence_id: int) -> str:
    """Steps editor with previews, contacts with progress and the log (pages of PAGE_SIZE, each
    list with its cursor and status filter in the URL), start / pause."""
    uid = access.user_id()
    contact_status = _choice("contact_status", CONTACT_STATUSES)
    log_status = _choice("log_status", LOG_STATUSES)
    with db.transaction() as conn:
        sequence = sequences.get_sequence(conn, uid, sequence_id)
        contacts = paging.paginate(
            lambda after, before, limit: pages.sequence_contacts_page(
                conn, uid, sequence_id, after, before, limit, paging.COUNT_CAP + 1,
                contact_status),
            paging.window("contacts_"), PAGE_SIZE, prefix="contacts_", anchor="contacts")
        logs = paging.paginate(
            lambda after, before, limit: pages.sequence_logs_page(
                conn, uid, sequence_id, after, before, limit, paging.COUNT_CAP + 1, log_status),
            paging.window("logs_"), PAGE_SIZE, prefix="logs_", anchor="logs")
        sample = _sample_lead(conn, uid, contacts.rows)
        devices = _devices(conn, uid)
        stats = results.sequence_stats(conn, uid, sequence_id)
    for step in sequence["steps"]:
        step["preview"] = _preview(step, sample, sequence_id)
    return render_template("sequences/detail.html", sequence=sequence, contacts=contacts,
                           logs=logs, sample=sample, total_days=_total_days(sequence),
                           devices=devices, stats=stats, contact_status=contact_status,
                           log_status=log_status, contact_statuses=CONTACT_STATUSES,
                           log_statuses=LOG_STATUSES)


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    """A list's status filter from the URL; one not in `allowed` is said so and dropped."""
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        flash(f"{name}: “{value}” is not one of {', '.join(allowed)}; showing all.", "error")
        return None
    return value


@bp.post("/sequences/<id:sequence_id>/steps")
def save_step(sequence_id: int) -> Response:
    """Add a step, or replace the step of the same day."""
    uid = access.user_id()
    raw = access.form_values("day", "send_time", "message_type", "body", "media", "caption",
                             "filename")
    with db.transaction() as conn:
        sequence = sequences.get_sequence(conn, uid, sequence_id)
        media_id = media_upload.save_upload(conn, uid, request.files.get("media_file"))
        step = _step_form(raw, media_id)
        steps = [s for s in _stored_steps(sequence) if s["day"] != step["day"]] + [step]
        sequences.update_sequence(conn, uid, sequence_id,
                                  {**_sequence_values(sequence), "steps": steps})
    flash(f"Day {step['day']} saved.", "ok")
    return redirect(url_for(".detail", sequence_id=sequence_id) + "#steps")


@bp.post("/sequences/<id:sequence_id>/steps/<int:day>/delete")
def delete_step(sequence_id: int, day: int) -> Response:
    """Remove the step of one day."""
    uid = access.user_id()
    with db.transaction() as conn:
        sequence = sequences.get_sequence(conn, uid, sequence_id)
        steps = [s for s in _stored_steps(sequence) if s["day"] != day]
        sequences.update_sequence(conn, uid, sequence_id,
                                  {**_sequence_values(sequence), "steps": steps})
    flash(f"Day {day} removed.", "ok")
    return redirect(url_for(".detail", sequence_id=sequence_id) + "#steps")


@bp.post("/sequences/<id:sequence_id>/settings")
def update(sequence_id: int) -> Response:
    """Change name, niche, audience, time zone or description (steps unchanged)."""
    values = access.form_values(*SEQUENCE_FIELDS, "pinned_device_id")
    body = access.load(SequenceIn, _sequence_form(values))
    with db.transaction() as conn:
        sequences.update_sequence(conn, access.user_id(), sequence_id, {**body, "steps": None})
    flash("Sequence saved.", "ok")
    return redirect(url_for(".detail", sequence_id=sequence_id))


@bp.post("/sequences/<id:sequence_id>/contacts/<id:contact_id>/resume")
def resume_contact(sequence_id: int, contact_id: int) -> Response:
    """Resume a contact that a reply paused."""
    with db.transaction() as conn:
        result = sequences.resume_contact(conn, access.user_id(), sequence_id, contact_id)
    contact = result["contact"]
    flash(f"{contact['name'] or contact['phone']} resumed"
          + (f": {result['released']} waiting message(s) queued again." if result["released"]
             else "."), "ok")
    return redirect(url_for(".detail", sequence_id=sequence_id) + "#contacts")


@bp.post("/sequences/<id:sequence_id>/<any(start, pause):action>")
def change_status(sequence_id: int, action: str) -> Response:
    """Start (or resume) or pause the sequence."""
    with db.transaction() as conn:
        if action == "start":
            sequences.start_sequence(conn, access.user_id(), sequence_id)
        else:
            sequences.pause_sequence(conn, access.user_id(), sequence_id)
    flash("Sequence started." if action == "start" else "Sequence paused: queued messages held.",
          "ok")
    return redirect(url_for(".detail", sequence_id=sequence_id))


@bp.post("/sequences/<id:sequence_id>/contacts")
def add_contacts(sequence_id: int) -> Response:
    """Enrol leads by phone number (one per line or comma-separated)."""
    raw = request.form.get("phones", "")
    phones = [p.strip() for p in raw.replace(",", "\n").splitlines() if p.strip()]
    region = current_app.config["DEFAULT_REGION"]
    with db.transaction() as conn:
        result = sequences.add_contacts(conn, access.user_id(), sequence_id, [], phones, region)
    flash(f"{result['added']} contacts added, {result['already_enrolled']} already enrolled, "
          f"{result['leads_created']} new leads.", "ok")
    return redirect(url_for(".detail", sequence_id=sequence_id) + "#contacts")


@bp.post("/sequences/<id:sequence_id>/delete")
def delete(sequence_id: int) -> Response:
    """Delete the sequence; its waiting messages are cancelled."""
    with db.transaction() as conn:
        sequences.delete_sequence(conn, access.user_id(), sequence_id)
    flash("Sequence deleted.", "ok")
    return redirect(url_for(".index"))


def _devices(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    """The user's devices for the "send from" choice."""
    return [{"id": row["device_id"], "name": row["name"], "status": row["status"]}
            for row in monitoring.queue_stats(conn, user_id)]


def _sequence_form(values: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: values[k] for k in SEQUENCE_FIELDS if values.get(k)}
    if values.get("pinned_device_id"):
        data["pinned_device_id"] = _int(values["pinned_device_id"])
    return data


def _step_form(raw: dict[str, str], media_id: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {"day": _int(raw["day"]), "send_time": raw["send_time"][:5],
                            "message_type": raw["message_type"] or "text", "body": raw["body"]}
    for name in ("media", "caption", "filename"):
        if raw[name]:
            data[name] = raw[name]
    if media_id is not None:
        data["media_id"] = media_id
    step = access.load(StepIn, data)
    step["media_url"] = step.pop("media", None)
    return step


def _stored_steps(sequence: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**{k: s.get(k) for k in STEP_FIELDS},
             "send_time": s["send_time"].strftime("%H:%M")
             if hasattr(s["send_time"], "strftime") else str(s["send_time"])[:5],
             "body": s.get("body") or ""} for s in sequence["steps"]]


def _sequence_values(sequence: dict[str, Any]) -> dict[str, Any]:
    return {k: sequence[k] for k in (*SEQUENCE_FIELDS, "pinned_device_id")}


def _int(value: str) -> int | str:
    # the schema names the field when this is not a number
    return int(value) if value.strip().lstrip("-").isdigit() else value


def _total_days(sequence: dict[str, Any]) -> int:
    return max((s["day"] for s in sequence["steps"]), default=0)


def _sample_lead(conn: Connection, user_id: int,
                 contacts: list[dict[str, Any]]) -> dict[str, Any]:
    """The first contact's lead (with its CSV columns), else a made-up one."""
    if not contacts:
        return SAMPLE_LEAD
    lead = leads.get_lead(conn, user_id, contacts[0]["lead_id"])
    return {"name": lead["name"], "phone": lead["phone"], "attributes": lead["attributes"]}


def _preview(step: dict[str, Any], lead: dict[str, Any], sequence_id: int) -> str:
    text = step.get("body") or step.get("caption") or ""
    try:
        return templates.render_message(text, lead, seed=f"preview:{sequence_id}:{step['day']}")
    except templates.TemplateProblem as problem:
        return f"(cannot render: {problem})"
