"""Dashboard `/`: devices, queue depth, today's sends, sends and engagement per hour, scheduled
campaigns and the results of finished ones, what needs attention."""

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, render_template

from dripfleet.stores import pages
from webapp import db
from webapp.pages import access, formatting
from webapp.services import results

bp = access.blueprint("pages_dashboard", __name__)
HOURS = 24


def hour_slots(rows: list[dict[str, Any]], now: datetime,
               engagement: dict[datetime, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One slot per hour of the last HOURS hours (oldest first), zero where nothing happened:
    sent and failed (delivery_stats_hourly), delivered, read and replied (engagement_hourly)."""
    last = now.replace(minute=0, second=0, microsecond=0)
    by_hour = {row["hour"]: row for row in rows}
    slots = []
    for back in range(HOURS - 1, -1, -1):
        hour = last - timedelta(hours=back)
        row = by_hour.get(hour, {})
        seen = (engagement or {}).get(hour, {})
        slots.append({"hour": hour, "sent": row.get("sent", 0), "failed": row.get("failed", 0),
                      **{kind: seen.get(kind, 0) for kind in ("delivered", "read", "replied")}})
    return slots


@bp.get("/")
def index() -> str:
    """The overview page."""
    now = datetime.now(UTC)
    zone = formatting.user_zone()
    day_start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    stale = 3 * current_app.config["SETTINGS"].health_check_seconds
    uid = access.user_id()
    with db.transaction() as conn:
        counts = pages.dashboard_counts(conn, uid, day_start)
        since = now - timedelta(hours=HOURS)
        hours = hour_slots(pages.hourly_sends(conn, uid, since), now,
                           results.hourly_engagement(conn, uid, since))
        campaigns = pages.upcoming_campaigns(conn, uid)
        finished = pages.recent_campaigns(conn, uid)
        sequences = pages.running_sequences(conn, uid)
        attention = pages.devices_needing_attention(conn, uid, stale)
    peak = max([max(slot["sent"] + slot["failed"], slot["delivered"], slot["read"],
                    slot["replied"]) for slot in hours] + [1])
    return render_template(
        "dashboard/index.html", counts=counts, hours=hours, peak=peak, campaigns=campaigns,
        finished=finished, sequences=sequences, attention=attention,
    )
