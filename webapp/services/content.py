"""Checks shared by sequence steps and campaigns: message content, niche, pinned device, zone."""

from typing import Any

from sqlalchemy import Connection

from dripfleet import niches, templates
from dripfleet.local_time import validate_timezone
from dripfleet.stores import devices, media


def niche_problem(value: str) -> str | None:
    """Why value cannot be a single niche tag, or None."""
    try:
        niches.normalize_niche(value)
    except (ValueError, TypeError) as error:
        return str(error)
    return None


def timezone_problem(value: str) -> str | None:
    """Why value is not an IANA zone, or None."""
    try:
        validate_timezone(value)
    except ValueError as error:
        return str(error)
    return None


def content_problems(conn: Connection, user_id: int, item: dict[str, Any],
                     prefix: str = "") -> dict[str, str]:
    """Problems of one message's content: body template, caption, media presence and ownership."""
    problems: dict[str, str] = {}
    kind = item.get("message_type", "text")
    body = item.get("body") or ""
    if kind == "text" and not body.strip():
        problems[f"{prefix}body"] = "a text message needs a body"
    for name in ("body", "caption"):
        value = item.get(name)
        if value:
            problem = templates.check_template(value)
            if problem:
                problems[f"{prefix}{name}"] = problem
    if kind != "text" and not item.get("media_url") and item.get("media_id") is None:
        problems[f"{prefix}media"] = f"a {kind} message needs media (a URL) or media_id"
    media_id = item.get("media_id")
    if media_id is not None and not media.exists(conn, user_id, media_id):
        problems[f"{prefix}media_id"] = f"no media {media_id}"
    return problems


def device_problem(conn: Connection, user_id: int, device_id: int | None) -> str | None:
    """Why device_id cannot be pinned by this user, or None."""
    if device_id is not None and not devices.exists(conn, user_id, device_id):
        return f"no device {device_id}"
    return None


def audience_problems(conn: Connection, user_id: int, values: dict[str, Any]) -> dict[str, str]:
    """Problems of what a sequence or campaign targets (niche, zone, pinned device); a valid niche
    is normalised in values. A campaign's niche may be None (every lead)."""
    problems: dict[str, str] = {}
    if values.get("niche") is not None:
        problem = niche_problem(values["niche"])
        if problem:
            problems["niche"] = problem
        else:
            values["niche"] = niches.normalize_niche(values["niche"])
    problem = timezone_problem(values["timezone"])
    if problem:
        problems["timezone"] = problem
    problem = device_problem(conn, user_id, values.get("pinned_device_id"))
    if problem:
        problems["pinned_device_id"] = problem
    return problems


# a message sent unchanged to this many leads or more is "the same message to many people",
# one of the reasons WhatsApp gives for a temporary ban (code 104; shared/notes/ban-signals.md)
SAME_MESSAGE_AUDIENCE = 50


def variety_warnings(item: dict[str, Any], audience: int,
                     prefix: str = "") -> list[dict[str, str]]:
    """Warnings (not errors) about one message's content for an audience of `audience` leads: a
    text that is the same for every lead (no spintax, no variable) when the audience is large."""
    if audience < SAME_MESSAGE_AUDIENCE:
        return []
    kind = item.get("message_type") or "text"
    field = "body" if kind == "text" or not item.get("caption") else "caption"
    if templates.varies(item.get(field) or "") or templates.varies(item.get("body") or ""):
        return []
    return [{"field": f"{prefix}{field}", "code": "same_message", "message": (
        f"the same text for every lead, and at least {SAME_MESSAGE_AUDIENCE} leads receive it: "
        "WhatsApp bans numbers that send the same message to many people. Vary it with "
        "spintax {Hi|Hello} or a variable such as {{ first_name }}.")}]
