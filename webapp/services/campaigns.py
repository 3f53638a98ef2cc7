"""Campaigns: definitions, schedule / pause / resume / cancel (moving messages), progress."""

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection

from dripfleet import niches
from dripfleet.local_time import local_to_utc
from dripfleet.materialise.rendering import render_or_problem
from dripfleet.stores import campaigns, engagement
from dripfleet.stores.sending import FAILURE_CLASSES
from webapp.services import messages
from webapp.services.content import (
    audience_problems,
    content_problems,
    niche_problem,
    variety_warnings,
)
from webapp.services.errors import Conflict, Invalid, not_found
from webapp.services.results import rates

EDITABLE = ("draft", "scheduled", "paused")
FINAL = ("completed", "cancelled", "failed")
# the pages edit only before the first send: a paused campaign has sent part of its audience
# already, and a changed message would split it in two (the API's PUT still allows it)
PAGE_EDITABLE = ("draft", "scheduled")
TARGETS = ("all", "prospect", "customer")
SAMPLE_SIZE = 3


def scheduled_instant(scheduled_at: datetime | None, scheduled_date: date | None,
                      scheduled_time: time | str | None, timezone: str) -> datetime | None:
    """An ISO instant with offset, or local date + time in `timezone` (DST-safe)."""
    if scheduled_at is not None:
        if scheduled_at.tzinfo is None:
            raise Invalid({"scheduled_at": "needs a UTC offset (or give scheduled_date, "
                                           "scheduled_time and timezone)"})
        return scheduled_at
    if scheduled_date is not None or scheduled_time is not None:
        if scheduled_date is None or scheduled_time is None:
            missing = "scheduled_date" if scheduled_date is None else "scheduled_time"
            raise Invalid({missing: "give both scheduled_date and scheduled_time"})
        if isinstance(scheduled_time, str):
            scheduled_time = time.fromisoformat(scheduled_time)
        return local_to_utc(scheduled_date, scheduled_time, timezone)
    return None


def _check(conn: Connection, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
    values = dict(data)
    problems = audience_problems(conn, user_id, values)
    problems.update(content_problems(conn, user_id, values))
    if problems:
        raise Invalid(problems)
    values["scheduled_at"] = scheduled_instant(
        values.get("scheduled_at"), values.pop("scheduled_date", None),
        values.pop("scheduled_time", None), values["timezone"])
    return values


def list_campaigns(conn: Connection, user_id: int, limit: int = 50, after: int | None = None,
                   status: str | None = None) -> list[dict[str, Any]]:
    """The user's campaigns, each with its audience size."""
    return _with_audience(conn, user_id, campaigns.list_campaigns(conn, user_id, limit, after,
                                                                  status))


def list_with_counts(conn: Connection, user_id: int, limit: int = 500) -> list[dict[str, Any]]:
    """The user's campaigns with sent / failed / read counts (one query for all of them)."""
    items = list_campaigns(conn, user_id, limit)
    counts = campaigns.list_counts(conn, user_id, [row["id"] for row in items])
    zero = {"sent": 0, "failed": 0, "read": 0}
    return [{**row, **counts.get(row["id"], zero)} for row in items]


def audience_preview(conn: Connection, user_id: int, niche: str | None,
                     target_status: str) -> dict[str, Any]:
    """How many leads a campaign to (niche, target_status) reaches now, and a few of them."""
    problems: dict[str, str] = {}
    if target_status not in TARGETS:
        problems["target_status"] = f"{target_status!r} is not one of {', '.join(TARGETS)}"
    niche = (niche or "").strip() or None
    if niche is not None:
        problem = niche_problem(niche)
        if problem:
            problems["niche"] = problem
        else:
            niche = niches.normalize_niche(niche)
    if problems:
        raise Invalid(problems)
    return {"audience_size": campaigns.audience_count(conn, user_id, niche, target_status),
            "sample": [{key: lead[key] for key in ("id", "name", "phone")}
                       for lead in campaigns.audience_sample(conn, user_id, niche,
                                                             target_status, SAMPLE_SIZE)]}


def rendered_preview(conn: Connection, user_id: int,
                     campaign: dict[str, Any]) -> dict[str, Any] | None:
    """The campaign's body and caption rendered for the first lead of its audience, as the
    pipelines render them (render_or_problem); None when the audience is empty."""
    found = campaigns.audience_sample(conn, user_id, campaign["niche"],
                                      campaign["target_status"], 1)
    if not found:
        return None
    lead = found[0]
    out: dict[str, Any] = {"lead": lead, "problem": None}
    for name in ("body", "caption"):
        text, problem = render_or_problem(campaign.get(name), lead["name"], lead["phone"],
                                          lead["attributes"], f"preview:campaign:{campaign['id']}")
        out[name] = text
        out["problem"] = out["problem"] or problem
    return out


def duplicate_campaign(conn: Connection, user_id: int, campaign_id: int) -> dict[str, Any]:
    """A new draft with the campaign's content and audience, without a time: the original's
    time is usually past, and a draft is never sent until it is scheduled again."""
    row = get_campaign(conn, user_id, campaign_id)
    values = {key: row[key] for key in campaigns.FIELDS}
    values.update(title=f"{row['title']} (copy)"[:200], scheduled_at=None)
    return get_campaign(conn, user_id, campaigns.insert_campaign(conn, user_id, values))


def _literal(text: str | None) -> str | None:
    """Already rendered text, kept as it is through the messages service's own rendering: a
    lead's value such as "{VIP|Gold}" would otherwise be read as spintax the second time."""
    if not text or "{" not in text or "endraw" in text:
        return text
    # trim_blocks would drop a newline right after the tag: the text's own first one is kept
    return "{% raw %}" + ("\n" if text.startswith("\n") else "") + text + "{% endraw %}"


def send_test(conn: Connection, user_id: int, campaign_id: int, phone: str, region: str,
              buffer_size: int) -> dict[str, Any]:
    """Queue the campaign's message, rendered for a lead of its audience, to `phone` as a
    one-off message (the messages service, as POST /api/messages): what the audience gets."""
    campaign = get_campaign(conn, user_id, campaign_id)
    preview = rendered_preview(conn, user_id, campaign)
    if preview is not None and preview["problem"]:
        raise Invalid({"body": preview["problem"]})
    # with no lead in the audience the template is rendered for the test number's own lead
    texts = ({name: _literal(preview[name]) for name in ("body", "caption")} if preview
             else {"body": campaign["body"], "caption": campaign["caption"]})
    message, _ = messages.send_message(conn, user_id, {
        "phone": phone, "message_type": campaign["message_type"], "body": texts["body"] or "",
        "media_url": campaign["media_url"], "media_id": campaign["media_id"],
        "caption": texts["caption"], "filename": campaign["filename"],
        "device_id": campaign["pinned_device_id"], "priority": "high"}, region, buffer_size)
    return message


def _with_audience(conn: Connection, user_id: int,
                   rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # the stored audience_size is only set when a campaign completes; until then it is what was
    # materialised plus the matching leads still ahead of the cursor (results.sql)
    sizes = engagement.audience_sizes(conn, user_id, [row["id"] for row in rows])
    result = []
    for row in rows:
        size = sizes.get(row["id"], row["audience_size"])
        warnings = [] if row["status"] in FINAL else variety_warnings(row, size or 0)
        result.append({**row, "audience_size": size, "warnings": warnings})
    return result


def get_campaign(conn: Connection, user_id: int, campaign_id: int) -> dict[str, Any]:
    """One campaign; NotFound otherwise."""
    row = campaigns.get_campaign(conn, user_id, campaign_id)
    if row is None:
        raise not_found("campaign", campaign_id)
    return _with_audience(conn, user_id, [row])[0]


def create_campaign(conn: Connection, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Create a draft campaign."""
    campaign_id = campaigns.insert_campaign(conn, user_id, _check(conn, user_id, data))
    return get_campaign(conn, user_id, campaign_id)


def update_campaign(conn: Connection, user_id: int, campaign_id: int,
                    data: dict[str, Any]) -> dict[str, Any]:
    """Replace the definition of a draft, scheduled or paused campaign."""
    row = _locked(conn, user_id, campaign_id)
    if row["status"] not in EDITABLE:
        raise Conflict(f"a {row['status']} campaign cannot be edited", {"status": row["status"]})
    values = _check(conn, user_id, data)
    if values["scheduled_at"] is None and row["status"] != "draft":
        raise Invalid({"scheduled_at": "a scheduled campaign needs a time"})
    campaigns.update_campaign(conn, user_id, campaign_id, values)
    campaigns.set_priority(conn, user_id, campaign_id, values["priority"])
    return get_campaign(conn, user_id, campaign_id)


def set_priority(conn: Connection, user_id: int, campaign_id: int,
                 priority: str) -> dict[str, Any]:
    """Change the priority of a campaign that may still send; its waiting messages move with it."""
    row = _locked(conn, user_id, campaign_id)
    if row["status"] in FINAL:
        raise Conflict(f"a {row['status']} campaign sends nothing more",
                       {"status": row["status"]})
    campaigns.set_priority(conn, user_id, campaign_id, priority)
    return get_campaign(conn, user_id, campaign_id)


def delete_campaign(conn: Connection, user_id: int, campaign_id: int) -> None:
    """Delete a campaign; its waiting messages are cancelled first."""
    _locked(conn, user_id, campaign_id)
    campaigns.cancel_messages(conn, user_id, campaign_id)
    campaigns.delete_campaign(conn, user_id, campaign_id)


def _locked(conn: Connection, user_id: int, campaign_id: int) -> dict[str, Any]:
    row = campaigns.lock_campaign(conn, user_id, campaign_id)
    if row is None:
        raise not_found("campaign", campaign_id)
    return row


def schedule_campaign(conn: Connection, user_id: int, campaign_id: int,
                      when: datetime | None = None) -> dict[str, Any]:
    """draft → scheduled (at `when` or the stored scheduled_at)."""
    row = _locked(conn, user_id, campaign_id)
    if row["status"] not in ("draft", "scheduled"):
        raise Conflict(f"a {row['status']} campaign cannot be scheduled",
                       {"status": row["status"]})
    if when is None and row["scheduled_at"] is None:
        raise Invalid({"scheduled_at": "the campaign has no scheduled time: give one"})
    campaigns.set_status(conn, user_id, campaign_id, "scheduled", when)
    return get_campaign(conn, user_id, campaign_id)


def pause_campaign(conn: Connection, user_id: int, campaign_id: int) -> dict[str, Any]:
    """scheduled/running → paused; queued messages become held in the same transaction."""
    row = _locked(conn, user_id, campaign_id)
    if row["status"] not in ("scheduled", "running", "paused"):
        raise Conflict(f"a {row['status']} campaign cannot be paused", {"status": row["status"]})
    campaigns.set_status(conn, user_id, campaign_id, "paused")
    campaigns.hold_messages(conn, user_id, campaign_id)
    return get_campaign(conn, user_id, campaign_id)


def resume_campaign(conn: Connection, user_id: int, campaign_id: int) -> dict[str, Any]:
    """paused → running (or scheduled if it never started); held messages are queued again."""
    row = _locked(conn, user_id, campaign_id)
    if row["status"] != "paused":
        raise Conflict(f"a {row['status']} campaign is not paused", {"status": row["status"]})
    status = "running" if row["started_at"] is not None else "scheduled"
    campaigns.set_status(conn, user_id, campaign_id, status)
    campaigns.release_messages(conn, user_id, campaign_id)
    return get_campaign(conn, user_id, campaign_id)


def cancel_campaign(conn: Connection, user_id: int, campaign_id: int) -> dict[str, Any]:
    """Stop for good: status cancelled, queued and held messages cancelled."""
    row = _locked(conn, user_id, campaign_id)
    if row["status"] in ("completed", "cancelled"):
        raise Conflict(f"the campaign is already {row['status']}", {"status": row["status"]})
    if row["status"] == "draft":
        # nothing of a draft was ever sent or queued (and it may have no time, which every
        # other status needs): there is nothing to stop, so it is deleted instead
        raise Conflict("a draft is not running: delete it instead", {"status": "draft"})
    campaigns.set_status(conn, user_id, campaign_id, "cancelled")
    campaigns.cancel_messages(conn, user_id, campaign_id)
    return get_campaign(conn, user_id, campaign_id)


STATUSES = ("queued", "held", "sending", "sent", "failed", "cancelled", "expired")


def campaign_progress(conn: Connection, user_id: int, campaign_id: int) -> dict[str, Any]:
    """Audience, messages by status, receipts, replies, opt-outs, rates, pending, per device."""
    campaign = get_campaign(conn, user_id, campaign_id)
    audience = campaign["audience_size"] or 0
    totals = dict.fromkeys(STATUSES, 0)
    failed_by_class = dict.fromkeys(FAILURE_CLASSES, 0)
    receipts = {"delivered": 0, "read": 0, "replied": 0}
    per_device: dict[int | None, dict[str, int]] = {}
    for row in campaigns.message_counts(conn, user_id, campaign_id):
        totals[row["status"]] += row["n"]
        for kind in receipts:
            receipts[kind] += row[kind]
        if row["status"] == "failed" and row["failure_class"] in failed_by_class:
            failed_by_class[row["failure_class"]] += row["n"]
        device = per_device.setdefault(row["device_id"], dict.fromkeys(STATUSES, 0))
        device[row["status"]] += row["n"]
    materialised = sum(totals.values())
    opted_out = engagement.campaign_opted_out(conn, user_id, campaign_id)
    return {
        "campaign_id": campaign_id, "status": campaign["status"], "audience_size": audience,
        # still to go: leads not materialised yet, and messages waiting or being sent
        **totals, **receipts, "opted_out": opted_out,
        **rates(totals["sent"], **receipts, opted_out=opted_out),
        "pending": max(audience - materialised, 0) + sum(
            totals[status] for status in ("queued", "held", "sending")),
        "failed_by_class": failed_by_class,
        "devices": [{"device_id": device_id, **counts}
                    for device_id, counts in sorted(per_device.items(),
                                                    key=lambda item: item[0] or 0)],
    }
