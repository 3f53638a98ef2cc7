"""Campaigns `/campaigns` (list, create), `/campaigns/<id>` (live progress, pause, cancel)."""

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dripfleet.stores import monitoring
from webapp import db
from webapp.pages import access, media_upload
from webapp.schemas.campaigns import CampaignIn
from webapp.services import campaigns, results

bp = access.blueprint("pages_campaigns", __name__)
RECIPIENTS_PER_PAGE = 50
FIELDS = ("title", "niche", "target_status", "date", "time", "timezone", "message_type", "body",
          "media", "caption", "filename", "pinned_device_id")


@bp.get("/campaigns")
def index() -> str:
    """Every campaign with status and schedule; the form for a new one."""
    uid = access.user_id()
    with db.transaction() as conn:
        items = campaigns.list_campaigns(conn, uid, limit=500)
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
    """The campaign: a progress bar and a funnel that follow the sends by themselves, and its
    recipients (keyset pages of RECIPIENTS_PER_PAGE, filtered by how far each message got)."""
    uid = access.user_id()
    stage = request.args.get("status") or None
    if stage not in (None, *results.STAGES):
        flash(f"status: “{stage}” is not one of {', '.join(results.STAGES)}; showing all.",
              "error")
        stage = None
    after = request.args.get("after", "")
    after_id = int(after) if after.isdigit() and len(after) < 19 else None
    with db.transaction() as conn:
        campaign = campaigns.get_campaign(conn, uid, campaign_id)
        progress = campaigns.campaign_progress(conn, uid, campaign_id)
        recipients = results.campaign_recipients(conn, uid, campaign_id, RECIPIENTS_PER_PAGE,
                                                 after_id, stage)
    next_after = recipients[-1]["id"] if len(recipients) == RECIPIENTS_PER_PAGE else None
    return render_template("campaigns/detail.html", campaign=campaign, progress=progress,
                           recipients=recipients, stage=stage, stages=results.STAGES,
                           after=after_id, next_after=next_after)


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
