"""Conversations by the API: one lead's messages both ways, the inbox, and marking read."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require("conversation_lead", "conversation_page", "inbox_page", "conversation_mark_read",
                "conversation_lead_sequences", "inbox_unread_total")


def lead_exists(conn: Connection, user_id: int, lead_id: int) -> bool:
    """Whether the lead exists and is the user's."""
    return conn.execute(queries.text("conversation_lead"),
                        {"user_id": user_id, "lead_id": lead_id}).first() is not None


def conversation_page(conn: Connection, user_id: int, lead_id: int, limit: int,
                      before_at: datetime | None, out_id: int,
                      in_id: int) -> list[dict[str, Any]]:
    """A page of the lead's messages both ways, newest first, below the per-branch bounds."""
    rows = conn.execute(queries.text("conversation_page"), {
        "user_id": user_id, "lead_id": lead_id, "limit": limit, "before_at": before_at,
        "out_id": out_id, "in_id": in_id,
    }).mappings()
    return [dict(row) for row in rows]


def inbox_page(conn: Connection, user_id: int, limit: int, before_at: datetime | None,
               before_id: int) -> list[dict[str, Any]]:
    """A page of leads that wrote in, by their latest inbound message, newest first."""
    rows = conn.execute(queries.text("inbox_page"), {
        "user_id": user_id, "limit": limit, "before_at": before_at, "before_id": before_id,
    }).mappings()
    return [dict(row) for row in rows]


def mark_read(conn: Connection, user_id: int, lead_id: int) -> int:
    """Mark the lead's unread inbound messages read; how many were."""
    return int(conn.execute(queries.text("conversation_mark_read"),
                            {"user_id": user_id, "lead_id": lead_id}).scalar_one())


def lead_sequences(conn: Connection, user_id: int, lead_id: int,
                   limit: int) -> list[dict[str, Any]]:
    """The sequences the lead is a contact of, with the contact's status and day reached."""
    rows = conn.execute(queries.text("conversation_lead_sequences"),
                        {"user_id": user_id, "lead_id": lead_id, "limit": limit}).mappings()
    return [dict(row) for row in rows]


def unread_total(conn: Connection, user_id: int) -> int:
    """How many of the user's incoming messages are unread."""
    return int(conn.execute(queries.text("inbox_unread_total"), {"user_id": user_id}).scalar_one())
