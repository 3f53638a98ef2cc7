"""A lead's conversation (both directions), the inbox of leads that wrote in, marking read.

Cursors: `<microseconds since 1970 UTC>-<o|i>-<id>` for a conversation (the last item's time,
direction and id) and `<microseconds>-<id>` for the inbox. The schemas admit only strings of
that shape, and every string of that shape is a valid cursor."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from dripfleet.stores import conversations
from webapp.services.errors import not_found

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ID = 2**63 - 1
# at most 16 digits of microseconds (year 2286) and 18 of id (< 2**63): within every range
CONVERSATION_CURSOR = r"^[0-9]{1,16}-[io]-[0-9]{1,18}$"
INBOX_CURSOR = r"^[0-9]{1,16}-[0-9]{1,18}$"
_DIRECTION = {"out": "o", "in": "i"}
_OUT_ONLY = ("status", "delivered_at", "failure_class", "last_error")


def _micros(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def _instant(micros: str) -> datetime:
    return EPOCH + timedelta(microseconds=int(micros))


def conversation_cursor(item: dict[str, Any]) -> str:
    """The cursor that continues after this conversation item."""
    return f"{_micros(item['at'])}-{_DIRECTION[item['direction']]}-{item['id']}"


def inbox_cursor(row: dict[str, Any]) -> str:
    """The cursor that continues after this inbox row."""
    return f"{_micros(row['at'])}-{row['message_id']}"


def _item(row: dict[str, Any]) -> dict[str, Any]:
    """An item with only the fields of its direction."""
    drop = ("quoted_message_id",) if row["direction"] == "out" else _OUT_ONLY
    return {key: value for key, value in row.items() if key not in drop}


def conversation(conn: Connection, user_id: int, lead_id: int, limit: int = 50,
                 before: str | None = None) -> dict[str, Any]:
    """A page of the lead's messages both ways, newest first; NotFound if not the user's."""
    if not conversations.lead_exists(conn, user_id, lead_id):
        raise not_found("lead", lead_id)
    before_at, out_id, in_id = None, MAX_ID, MAX_ID
    if before is not None:
        micros, direction, ident = before.split("-")
        before_at = _instant(micros)
        # at the cursor's instant 'out' sorts above 'in': below an 'out' cursor come the lower
        # out ids and every 'in' of that instant; below an 'in' cursor, no 'out' of it
        out_id = int(ident) if direction == "o" else 0
        in_id = int(ident) if direction == "i" else MAX_ID
    rows = conversations.conversation_page(conn, user_id, lead_id, limit, before_at, out_id,
                                           in_id)
    items = [_item(row) for row in rows]
    return {"items": items,
            "next_before": conversation_cursor(items[-1]) if len(items) == limit else None}


def inbox(conn: Connection, user_id: int, limit: int = 50,
          before: str | None = None) -> dict[str, Any]:
    """A page of the leads that wrote in, by their latest message, newest first."""
    before_at, before_id = None, MAX_ID
    if before is not None:
        micros, ident = before.split("-")
        before_at, before_id = _instant(micros), int(ident)
    rows = conversations.inbox_page(conn, user_id, limit, before_at, before_id)
    return {"items": rows,
            "next_before": inbox_cursor(rows[-1]) if len(rows) == limit else None}


def mark_read(conn: Connection, user_id: int, lead_id: int) -> dict[str, int]:
    """Mark the lead's inbound messages read; NotFound if not the user's."""
    if not conversations.lead_exists(conn, user_id, lead_id):
        raise not_found("lead", lead_id)
    return {"lead_id": lead_id, "marked": conversations.mark_read(conn, user_id, lead_id)}


def lead_sequences(conn: Connection, user_id: int, lead_id: int,
                   limit: int = 50) -> list[dict[str, Any]]:
    """The sequences the lead is a contact of, with the contact's status and day reached."""
    if not conversations.lead_exists(conn, user_id, lead_id):
        raise not_found("lead", lead_id)
    return conversations.lead_sequences(conn, user_id, lead_id, limit)
