"""Campaigns: CRUD, schedule / pause / resume / cancel, progress."""

from apiflask import APIBlueprint

from webapp import auth, db
from webapp.api.paging import page
from webapp.schemas.campaigns import (
    AudiencePreview,
    AudienceQuery,
    Campaign,
    CampaignIn,
    CampaignList,
    CampaignQuery,
    PriorityIn,
    Progress,
    ScheduleIn,
)
from webapp.schemas.common import ID_PATH, Deleted
from webapp.schemas.results import RecipientList, RecipientQuery
from webapp.services import campaigns, results

bp = APIBlueprint("campaigns", __name__, tag="Campaigns", url_prefix="/api/campaigns")
ONE = f"/<{ID_PATH}:campaign_id>"
CONFLICT = {409: "Not allowed in the campaign's current status"}


def _body(body: dict) -> dict:
    return {**body, "media_url": body.pop("media", None)}


@bp.get("")
@bp.input(CampaignQuery, location="query", arg_name="query")
@bp.output(CampaignList)
def list_campaigns(query):
    """The user's campaigns."""
    with db.transaction() as conn:
        items = campaigns.list_campaigns(conn, auth.current_user_id(), query["limit"],
                                         query["after"], query.get("status"))
    return page(items, query["limit"])


@bp.get("/audience-preview")
@bp.input(AudienceQuery, location="query", arg_name="query")
@bp.output(AudiencePreview)
def audience_preview(query):
    """How many leads a campaign to this niche and target status would reach now, and a few of
    them (before creating or scheduling it)."""
    with db.transaction() as conn:
        return campaigns.audience_preview(conn, auth.current_user_id(), query.get("niche"),
                                          query["target_status"])


@bp.post("")
@bp.input(CampaignIn, arg_name="body")
@bp.output(Campaign, status_code=201)
def create_campaign(body):
    """Create a draft campaign."""
    with db.transaction() as conn:
        return campaigns.create_campaign(conn, auth.current_user_id(), _body(body)), 201


@bp.get(ONE)
@bp.output(Campaign)
def get_campaign(campaign_id: int):
    """One campaign."""
    with db.transaction() as conn:
        return campaigns.get_campaign(conn, auth.current_user_id(), campaign_id)


@bp.put(ONE)
@bp.input(CampaignIn, arg_name="body")
@bp.output(Campaign)
@bp.doc(responses=CONFLICT)
def update_campaign(campaign_id: int, body):
    """Replace a draft, scheduled or paused campaign."""
    with db.transaction() as conn:
        return campaigns.update_campaign(conn, auth.current_user_id(), campaign_id, _body(body))


@bp.delete(ONE)
@bp.output(Deleted, status_code=204)
def delete_campaign(campaign_id: int):
    """Delete a campaign (waiting messages are cancelled)."""
    with db.transaction() as conn:
        campaigns.delete_campaign(conn, auth.current_user_id(), campaign_id)
    return ""


@bp.post(f"{ONE}/duplicate")
@bp.output(Campaign, status_code=201)
def duplicate_campaign(campaign_id: int):
    """A new draft with this campaign's content and audience (no time: schedule it)."""
    with db.transaction() as conn:
        return campaigns.duplicate_campaign(conn, auth.current_user_id(), campaign_id), 201


@bp.post(f"{ONE}/schedule")
@bp.input(ScheduleIn, arg_name="body")
@bp.output(Campaign)
@bp.doc(responses=CONFLICT)
def schedule_campaign(campaign_id: int, body):
    """Schedule a draft (optionally at a new time)."""
    with db.transaction() as conn:
        when = None
        if any(body.get(k) for k in ("scheduled_at", "scheduled_date", "scheduled_time")):
            zone = body.get("timezone") or campaigns.get_campaign(
                conn, auth.current_user_id(), campaign_id)["timezone"]
            when = campaigns.scheduled_instant(body.get("scheduled_at"),
                                               body.get("scheduled_date"),
                                               body.get("scheduled_time"), zone)
        return campaigns.schedule_campaign(conn, auth.current_user_id(), campaign_id, when)


@bp.patch(f"{ONE}/priority")
@bp.input(PriorityIn, arg_name="body")
@bp.output(Campaign)
@bp.doc(responses=CONFLICT)
def set_priority(campaign_id: int, body):
    """Change the priority of a campaign that is not finished (running included): its waiting
    messages take their new place in each device's order at once."""
    with db.transaction() as conn:
        return campaigns.set_priority(conn, auth.current_user_id(), campaign_id,
                                      body["priority"])


@bp.post(f"{ONE}/pause")
@bp.output(Campaign)
@bp.doc(responses=CONFLICT)
def pause_campaign(campaign_id: int):
    """Pause: queued messages are held, nothing more is materialised."""
    with db.transaction() as conn:
        return campaigns.pause_campaign(conn, auth.current_user_id(), campaign_id)


@bp.post(f"{ONE}/resume")
@bp.output(Campaign)
@bp.doc(responses=CONFLICT)
def resume_campaign(campaign_id: int):
    """Resume a paused campaign: held messages are queued again."""
    with db.transaction() as conn:
        return campaigns.resume_campaign(conn, auth.current_user_id(), campaign_id)


@bp.post(f"{ONE}/cancel")
@bp.output(Campaign)
@bp.doc(responses=CONFLICT)
def cancel_campaign(campaign_id: int):
    """Cancel: waiting messages are cancelled."""
    with db.transaction() as conn:
        return campaigns.cancel_campaign(conn, auth.current_user_id(), campaign_id)


@bp.get(f"{ONE}/progress")
@bp.output(Progress)
def campaign_progress(campaign_id: int):
    """Audience size, messages by status, delivered / read / replied / opted out with their
    rates over sent, failures by class, pending, per device."""
    with db.transaction() as conn:
        return campaigns.campaign_progress(conn, auth.current_user_id(), campaign_id)


@bp.get(f"{ONE}/recipients")
@bp.input(RecipientQuery, location="query", arg_name="query")
@bp.output(RecipientList)
def campaign_recipients(campaign_id: int, query):
    """The campaign's recipients by message id: each lead's status (how far its message got),
    its send, delivery, read and reply times and failure class."""
    with db.transaction() as conn:
        items = results.campaign_recipients(conn, auth.current_user_id(), campaign_id,
                                            query["limit"], query["after"], query.get("status"))
    return page(items, query["limit"])
