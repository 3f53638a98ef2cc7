"""Results of sends: rates, a sequence's funnel per step, a campaign's recipients, expected send
times of the queue, and the hourly engagement the dashboard charts."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.stores import campaigns, engagement, pages
from dripfleet.stores.sending import FAILURE_CLASSES
from webapp.services.errors import not_found

# how far a campaign message got (pages.sql pages_campaign_recipients): the filter of the recipients
STAGES = ("queued", "held", "sending", "sent", "delivered", "read", "replied", "failed",
          "cancelled", "expired")
# the step counts that add up over the steps to the sequence's totals
STEP_COUNTS = ("audience", "queued", "sent", "delivered", "read", "replied", "failed", "expired",
               "skipped", "opted_out")


def rate(part: int, sent: int) -> float | None:
    """part / sent rounded to 4 places; None when nothing was sent (no rate, rather than 0)."""
    return round(part / sent, 4) if sent else None


def rates(sent: int, **parts: int) -> dict[str, float | None]:
    """`<name>_rate` of each part over sent (delivered, read, replied, opted_out …)."""
    return {f"{name}_rate": rate(value, sent) for name, value in parts.items()}


def _funnel(row: dict[str, Any]) -> dict[str, Any]:
    counts = {name: row[name] for name in STEP_COUNTS}
    return {
        **counts,
        "failed_by_class": {kind: row[f"failed_{kind}"] for kind in FAILURE_CLASSES},
        **rates(row["sent"], delivered=row["delivered"], read=row["read"],
                replied=row["replied"], opted_out=row["opted_out"]),
    }


def sequence_stats(conn: Connection, user_id: int, sequence_id: int) -> dict[str, Any]:
    """Per step: audience, queued, sent, delivered, read, replied, failed (by class), expired,
    skipped, opted out and rates; the sequence's totals and its contacts by status."""
    sequence = engagement.get_sequence(conn, user_id, sequence_id)
    if sequence is None:
        raise not_found("sequence", sequence_id)
    steps = []
    for row in engagement.sequence_step_stats(conn, user_id, sequence_id):
        steps.append({"day": row["day"], "step_id": row["step_id"],
                      "message_type": row["message_type"],
                      "send_time": row["send_time"].strftime("%H:%M")
                      if row["send_time"] is not None else None,
                      **_funnel(row)})
    total = {name: sum(step[name] for step in steps) for name in STEP_COUNTS}
    total.update({f"failed_{kind}": sum(step["failed_by_class"][kind] for step in steps)
                  for kind in FAILURE_CLASSES})
    contacts = engagement.sequence_contact_counts(conn, user_id, sequence_id)
    totals = _funnel(total)
    # a contact is counted once in the totals' audience, not once per step it reached
    totals["audience"] = sum(contacts.values())
    return {"sequence_id": sequence_id, "status": sequence["status"], "steps": steps,
            "totals": totals, "contacts": contacts}


def campaign_recipients(conn: Connection, user_id: int, campaign_id: int, limit: int = 50,
                        after: int | None = None, stage: str | None = None
                        ) -> list[dict[str, Any]]:
    """A page of the campaign's recipients by message id; NotFound for another user's."""
    if campaigns.get_campaign(conn, user_id, campaign_id) is None:
        raise not_found("campaign", campaign_id)
    # the recipients page's query (a keyset page and a total): forward only, the total capped
    # at 1, since the API pages by next_after without one
    rows, _ = pages.campaign_recipients_page(conn, user_id, campaign_id, after, None, limit, 1,
                                             stage)
    return rows


def expected_sends(conn: Connection, user_id: int, now: datetime, limit: int = 50
                   ) -> list[dict[str, Any]]:
    """The next waiting messages of the user's devices with an estimated send time."""
    return engagement.expected_sends(conn, user_id, now, per_device=limit, limit=limit)


def backlog_ends(conn: Connection, user_id: int, now: datetime) -> dict[int, dict[str, Any]]:
    """Per device id: queued, mean delay and when its backlog is expected to clear."""
    return {row["device_id"]: row for row in engagement.backlog_ends(conn, user_id, now)}


def hourly_engagement(conn: Connection, user_id: int, since: datetime
                      ) -> dict[datetime, dict[str, int]]:
    """Sent / delivered / read / replied per hour since `since` (from engagement_hourly)."""
    return {row["hour"]: row for row in engagement.hourly_for_user(conn, user_id, since)}
