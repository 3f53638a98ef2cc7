"""Replies: what a sequence does when one of its contacts writes in (sequences.on_reply).

The device host stores a batch of incoming messages and applies the rules in one transaction
(record_incoming); the web app calls resume_contact. Each function runs its statements on the
caller's connection and transaction.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries
from dripfleet.stores.sending import record_inbound

queries.require("replies_mark_contacts", "replies_stop_messages", "replies_resume_contact")

ON_REPLY = ("stop", "pause", "continue")


def record_incoming(conn: Connection, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """What the device host does with a batch of incoming messages, in the caller's transaction:
    store them (dripfleet.stores.sending.record_inbound), then apply the on_reply rules to their
    leads. Returns record_inbound's counts with apply_replies' under "applied"."""
    stored = record_inbound(conn, messages)
    return {**stored, "applied": apply_replies(conn, stored["replies"])}


def apply_replies(conn: Connection, replies: list[tuple[int, datetime]]) -> dict[str, int]:
    """Apply the on_reply rules for (lead_id, received_at) replies; returns how many contacts
    were stopped or paused and how many of their messages were cancelled or held.

    Two statements on purpose, in this order (the pause race's rule): the first waits for a tick
    batch holding one of the contacts; the second starts after it, so its snapshot sees what that
    batch queued, and cancels it."""
    if not replies:
        return {"replied": 0, "paused": 0, "cancelled": 0, "held": 0}
    params = {"lead_ids": [lead for lead, _ in replies], "received": [at for _, at in replies]}
    statuses = conn.execute(queries.text("replies_mark_contacts"), params).scalars().all()
    stopped = conn.execute(
        queries.text("replies_stop_messages"), {"lead_ids": params["lead_ids"]}
    ).mappings().one()
    return {"replied": statuses.count("replied"), "paused": statuses.count("paused"),
            "cancelled": int(stopped["cancelled"]), "held": int(stopped["held"])}


def resume_contact(conn: Connection, user_id: int, sequence_id: int,
                   contact_id: int) -> dict[str, int] | None:
    """Make a contact paused by a reply active again and queue its held messages (unless the
    sequence is paused); None when it is not a paused contact of this user's sequence."""
    row = conn.execute(queries.text("replies_resume_contact"), {
        "user_id": user_id, "sequence_id": sequence_id, "contact_id": contact_id,
    }).mappings().one()
    if not row["resumed"]:
        return None
    return {"released": int(row["released"])}
