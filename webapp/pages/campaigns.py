"""Campaigns `/campaigns` (list with results, create with a live audience count),
`/campaigns/<id>` (live progress, rendered preview, edit, duplicate, test send, pause, cancel)."""

from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dripfleet.stores import monitoring, pages
from webapp import db
from webapp.pages import access, media_upload, paging
from webapp.schemas.campaigns import CampaignIn, PriorityIn
from webapp.services import campaigns, results
from webapp.services.errors import Conflict, Invalid

bp = access.blueprint("pages_campaigns", __name__)
RECIPIENTS_PER_PAGE = 50
FIELDS = ("title", "niche", "target_status", "date", "time", "timezone", "message_type", "body",
          "media", "caption", "filename", "pinned_device_id", "priority")
# the service's field names as the edit form names its inputs
FORM_FIELDS = {"scheduled_date": "date", "scheduled_time": "time", "scheduled_at": "date",
               "media_url": "media", "media_id": "media_file"}


@bp.get("/campaigns")
def index() -> str:
    """Every campaign with status and schedule; the form for a new one."""
    uid = access.user_id()
    with db.transaction() as conn:
        items = campaigns.list_with_counts(conn, uid, limit=500)
        devices = _devices(conn, uid)
    return render_template("campaigns/index.html", campaigns=items, devices=devices)


@bp.post("/campaigns")
def create() -> Response:
    """Create a campaign scheduled at a local date and time in a time zone."""
    uid = access.user_id()
    values = access.form_values(*FIELDS)
    with db.transaction() as conn:
        media_id = media_upload.save_upload(conn, uid, request.files.get("media_file"))
        campaign = campaigns.create_campaign(conn, uid, _campaign_form(values, media_id))
        campaign = campaigns.schedule_campaign(conn, uid, campaign["id"])
    flash(f"Campaign “{campaign['title']}” scheduled.", "ok")
    return redirect(url_for(".detail", campaign_id=campaign["id"]))


@bp.get("/campaigns/<id:campaign_id>")
def detail(campaign_id: int) -> str:
    """The campaign: a progress bar and a funnel that follow the sends by themselves, its
    recipients (keyset pages of RECIPIENTS_PER_PAGE, filtered by how far each message got), its
    message rendered for a lead of its audience, and the edit and test forms."""
    return _detail_page(campaign_id)


def _detail_page(campaign_id: int, edit: dict[str, str] | None = None,
                 edit_errors: dict[str, str] | None = None, test: dict[str, str] | None = None,
                 test_errors: dict[str, str] | None = None) -> str:
    uid = access.user_id()
    stage = request.args.get("status") or None
    if stage not in (None, *results.STAGES):
        flash(f"status: “{stage}” is not one of {', '.join(results.STAGES)}; showing all.",
              "error")
        stage = None
    with db.transaction() as conn:
        campaign = campaigns.get_campaign(conn, uid, campaign_id)
        progress = campaigns.campaign_progress(conn, uid, campaign_id)
        recipients = paging.paginate(
            lambda after, before, limit: pages.campaign_recipients_page(
                conn, uid, campaign_id, after, before, limit, paging.COUNT_CAP + 1, stage),
            paging.window(), RECIPIENTS_PER_PAGE, anchor="recipients",
            endpoint="pages_campaigns.detail")
        preview = campaigns.rendered_preview(conn, uid, campaign)
        devices = _devices(conn, uid)
    return render_template("campaigns/detail.html", campaign=campaign, progress=progress,
                           recipients=recipients, stage=stage, stages=results.STAGES,
                           preview=preview,
                           editable=campaign["status"] in campaigns.PAGE_EDITABLE,
                           edit=edit or _edit_values(campaign), edit_errors=edit_errors or {},
                           devices=devices, test=test or {"phone": ""},
                           test_errors=test_errors or {})


@bp.post("/campaigns/<id:campaign_id>/edit")
def edit(campaign_id: int) -> Response | str:
    """Replace a draft or scheduled campaign (the update service, as PUT /api/campaigns/<id>);
    a draft is scheduled by the same form. Errors show on the form with what was typed."""
    uid = access.user_id()
    values = access.form_values(*FIELDS)
    with db.transaction() as conn:
        campaign = campaigns.get_campaign(conn, uid, campaign_id)  # another user's: 404 page
    if campaign["status"] not in campaigns.PAGE_EDITABLE:
        flash(f"A {campaign['status']} campaign cannot be edited: only a draft or a scheduled "
              "one (duplicate it to send the message again).", "error")
        return redirect(url_for(".detail", campaign_id=campaign_id))
    try:
        with db.transaction() as conn:
            media_id = media_upload.save_upload(conn, uid, request.files.get("media_file"))
            if media_id is None and not values["media"]:
                media_id = campaign["media_id"]  # no new file or URL: the current upload stays
            campaigns.update_campaign(conn, uid, campaign_id, _campaign_form(values, media_id))
            if campaign["status"] == "draft":
                campaigns.schedule_campaign(conn, uid, campaign_id)
    except (Invalid, Conflict) as error:
        return _detail_page(campaign_id, edit=values, edit_errors=_errors(error))
    flash("Campaign saved and scheduled." if campaign["status"] == "draft"
          else "Campaign saved.", "ok")
    return redirect(url_for(".detail", campaign_id=campaign_id))


@bp.post("/campaigns/<id:campaign_id>/duplicate")
def duplicate(campaign_id: int) -> Response:
    """A new draft with the same content and audience; its page has the form to schedule it."""
    with db.transaction() as conn:
        copy = campaigns.duplicate_campaign(conn, access.user_id(), campaign_id)
    flash(f"Draft “{copy['title']}” created: give it a date and time to schedule it.", "ok")
    return redirect(url_for(".detail", campaign_id=copy["id"], _anchor="edit"))


@bp.post("/campaigns/<id:campaign_id>/test")
def send_test(campaign_id: int) -> Response | str:
    """Send the campaign's message, rendered for a lead of its audience, to one's own number as
    a one-off message; errors show on the form by field."""
    uid = access.user_id()
    values = access.form_values("phone")
    with db.transaction() as conn:
        campaigns.get_campaign(conn, uid, campaign_id)  # another user's: the 404 page
    if not values["phone"]:
        return _detail_page(campaign_id, test=values,
                            test_errors={"phone": "enter the number to send to"})
    try:
        with db.transaction() as conn:
            message = campaigns.send_test(conn, uid, campaign_id, values["phone"],
                                          current_app.config["DEFAULT_REGION"],
                                          current_app.config["SETTINGS"].queue_buffer_size)
    except (Invalid, Conflict) as error:
        return _detail_page(campaign_id, test=values, test_errors=_errors(error))
    flash(f"Test message queued to {message['phone']} (message {message['id']}): it leaves "
          "after the device's delay.", "ok")
    return redirect(url_for(".detail", campaign_id=campaign_id, _anchor="test-send"))


def _errors(error: Invalid | Conflict) -> dict[str, str]:
    """The service's reasons by the form's input names; the rest under the form ('_')."""
    return access.form_errors(error, lambda name: FORM_FIELDS.get(name, name))


def _edit_values(campaign: dict[str, Any]) -> dict[str, str]:
    """The edit form's values: the stored campaign, its time as local date and time."""
    values = {name: "" if campaign.get(name) is None else str(campaign[name])
              for name in FIELDS}
    values["media"] = campaign["media_url"] or ""
    values["niche"] = campaign["niche"] or ""
    if campaign["scheduled_at"] is not None:
        local = campaign["scheduled_at"].astimezone(ZoneInfo(campaign["timezone"]))
        values["date"], values["time"] = local.date().isoformat(), local.strftime("%H:%M")
    return values


@bp.post("/campaigns/<id:campaign_id>/priority")
def priority(campaign_id: int) -> Response:
    """High or normal priority, while the campaign may still send."""
    value = access.load(PriorityIn, access.form_values("priority"))["priority"]
    with db.transaction() as conn:
        campaigns.set_priority(conn, access.user_id(), campaign_id, value)
    flash("High priority: this campaign's messages go before sequence messages on each device."
          if value == "high" else "Normal priority: this campaign takes turns with sequences.",
          "ok")
    return redirect(url_for(".detail", campaign_id=campaign_id))


@bp.post("/campaigns/<id:campaign_id>/<any(pause, resume, cancel):action>")
def change_status(campaign_id: int, action: str) -> Response:
    """Pause, resume or cancel."""
    act = {"pause": campaigns.pause_campaign, "resume": campaigns.resume_campaign,
           "cancel": campaigns.cancel_campaign}[action]
    with db.transaction() as conn:
        act(conn, access.user_id(), campaign_id)
    flash({"pause": "Campaign paused: queued messages held.", "resume": "Campaign resumed.",
           "cancel": "Campaign cancelled."}[action], "ok")
    return redirect(url_for(".detail", campaign_id=campaign_id))


def _campaign_form(values: dict[str, str], media_id: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {k: v for k, v in values.items() if v}
    data["scheduled_date"] = data.pop("date", None)
    data["scheduled_time"] = (data.pop("time", None) or "")[:5] or None
    if "pinned_device_id" in data:
        pinned = data["pinned_device_id"]
        data["pinned_device_id"] = int(pinned) if pinned.isdigit() else pinned
    if media_id is not None:
        data["media_id"] = media_id
    body = access.load(CampaignIn, data)
    body["media_url"] = body.pop("media", None)
    return body


def _devices(conn: Any, user_id: int) -> list[dict[str, Any]]:
    return [{"id": row["device_id"], "name": row["name"], "status": row["status"]}
            for row in monitoring.queue_stats(conn, user_id)]
