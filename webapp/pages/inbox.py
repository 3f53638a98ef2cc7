"""Inbox `/inbox`: one row per lead that wrote in (latest message, unread count), newest first."""

import re

from flask import abort, render_template, request

from webapp import db
from webapp.pages import access
from webapp.services import conversations, devices

bp = access.blueprint("pages_inbox", __name__)
PAGE_SIZE = 50


def cursor_arg(pattern: str) -> str | None:
    """The `before` query argument when it is a cursor of the list; a forged one is a 404."""
    before = request.args.get("before") or None
    if before is not None and not re.fullmatch(pattern, before):
        abort(404)
    return before


@bp.get("/inbox")
def index() -> str:
    """The leads that wrote in, by their latest message; unread ones stand out."""
    uid = access.user_id()
    before = cursor_arg(conversations.INBOX_CURSOR)
    with db.transaction() as conn:
        page = conversations.inbox(conn, uid, limit=PAGE_SIZE, before=before)
        # a user has a few devices: one read names all of them for the "via" column
        names = {d["id"]: d["name"] for d in devices.list_devices(conn, uid, limit=500)}
    return render_template("inbox/index.html", rows=page["items"],
                           next_before=page["next_before"], before=before, device_names=names)
