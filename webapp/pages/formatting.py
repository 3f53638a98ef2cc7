"""What every template may use: navigation links, local times, percentages, status badges."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app, g, url_for

from dripfleet.database_outage import is_outage
from dripfleet.stores import conversations
from webapp import db

NAVIGATION = (
    ("pages_dashboard.index", "Dashboard"),
    ("pages_devices.index", "Devices"),
    ("pages_leads.index", "Leads"),
    ("pages_inbox.index", "Inbox"),
    ("pages_sequences.index", "Sequences"),
    ("pages_campaigns.index", "Campaigns"),
    ("pages_queue.index", "Queue"),
    ("pages_webhooks.index", "Webhooks"),
)

BADGES = {
    "online": "ok", "active": "ok", "sent": "ok", "completed": "ok", "running": "ok",
    "pairing": "busy", "queued": "busy", "sending": "busy", "scheduled": "busy", "held": "warn",
    "paused": "warn", "draft": "muted", "new": "muted", "offline": "warn", "skipped": "muted",
    "logged_out": "bad", "banned": "bad", "disabled": "bad", "failed": "bad", "cancelled": "muted",
    "expired": "bad", "opted_out": "muted", "replied": "busy",
}


def user_zone() -> ZoneInfo:
    """The signed-in user's time zone (UTC without a user or with an unknown name)."""
    name = (getattr(g, "user", None) or {}).get("timezone") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp in the user's time zone, or an em dash."""
    if value is None:
        return "—"
    return value.astimezone(user_zone()).strftime(fmt)


def percent(part: float | None, whole: float | None) -> int:
    """part / whole as a whole percentage in 0..100 (0 when whole is empty)."""
    if not whole:
        return 0
    return max(0, min(100, round(100 * (part or 0) / whole)))


def page_url(endpoint: str, **values: Any) -> str | None:
    """URL of a page, or None when that page area is not part of this app."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


def unread_total() -> int | None:
    """The signed-in user's unread incoming messages for the navigation's Inbox link; None
    without a user, or when the database cannot answer (a page is never refused for its badge:
    the 503 page itself renders the navigation)."""
    user = getattr(g, "user", None)
    if not user:
        return None
    try:
        with db.transaction() as conn:
            return conversations.unread_total(conn, int(user["id"]))
    except Exception as error:
        if is_outage(error):
            return None
        raise


def _globals() -> dict[str, Any]:
    settings = current_app.config["SETTINGS"]
    return {
        "navigation": [(e, label) for e, label in NAVIGATION if e in current_app.view_functions],
        "dagster_ui_url": settings.dagster_ui_url,
        "api_docs_url": "/api/docs",
        "current_user": getattr(g, "user", None),
        "zone_name": user_zone().key,
        # called by the template only where the Inbox link is drawn
        "unread_total": unread_total,
    }


def install(app: Flask) -> None:
    """Register the filters and globals."""
    app.context_processor(_globals)
    app.add_template_filter(local_time, "when")
    app.add_template_global(percent, "percent")
    app.add_template_global(page_url, "page_url")
    app.add_template_filter(lambda status: BADGES.get(status or "", "muted"), "badge")
