"""Messages by the API: one-off sends (source 'api') into message_queue, and reading messages."""

from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require(
    "message_lead_for_send", "message_device_for_send", "lock_materialise", "message_insert",
    "message_id_by_dedupe_key", "message_get", "messages_list", "messages_cancel_waiting",
)

INSERT_FIELDS = ("device_id", "lead_id", "phone", "message_type", "body", "media_url",
                 "media_id", "caption", "filename", "pinned", "dedupe_key", "lane")


def lead_for_send(conn: Connection, user_id: int, lead_id: int) -> dict[str, Any] | None:
    """The lead (phone, name, attributes, preferred device, opt-out), key-share locked; or None."""
    row = conn.execute(queries.text("message_lead_for_send"),
                       {"user_id": user_id, "lead_id": lead_id}).mappings().first()
    return dict(row) if row else None


def lock_buffers(conn: Connection) -> None:
    """Serialise with the tick's batches (and other sends) until commit, so that the queued
    counts read next stay true while this transaction adds to them."""
    conn.execute(queries.text("lock_materialise"))


def lock_device(conn: Connection, user_id: int, device_id: int) -> bool:
    """Key-share lock the chosen device if it is still the user's and online."""
    return conn.execute(queries.text("message_device_for_send"),
                        {"user_id": user_id, "device_id": device_id}).first() is not None


def insert_message(conn: Connection, user_id: int, values: dict[str, Any]) -> int | None:
    """Queue one message; its id, or None when the dedupe key already exists."""
    params = {"user_id": user_id, **{name: values.get(name) for name in INSERT_FIELDS}}
    return conn.execute(queries.text("message_insert"), params).scalar()


def id_by_dedupe_key(conn: Connection, user_id: int, dedupe_key: str) -> int | None:
    """The user's message with this dedupe key, or None."""
    return conn.execute(queries.text("message_id_by_dedupe_key"),
                        {"user_id": user_id, "dedupe_key": dedupe_key}).scalar()


def get_message(conn: Connection, user_id: int, message_id: int) -> dict[str, Any] | None:
    """One of the user's messages, or None."""
    row = conn.execute(queries.text("message_get"),
                       {"user_id": user_id, "message_id": message_id}).mappings().first()
    return dict(row) if row else None


def list_messages(conn: Connection, user_id: int, limit: int = 50, before: int | None = None,
                  lead_id: int | None = None, campaign_id: int | None = None,
                  sequence_id: int | None = None,
                  status: str | None = None) -> list[dict[str, Any]]:
    """A page of the user's messages, newest first, filtered."""
    rows = conn.execute(queries.text("messages_list"), {
        "user_id": user_id, "limit": limit, "before": before, "lead_id": lead_id,
        "campaign_id": campaign_id, "sequence_id": sequence_id, "status": status,
    }).mappings()
    return [dict(row) for row in rows]


def cancel_waiting(
    conn: Connection, user_id: int, *, campaign_id: int | None = None,
    sequence_id: int | None = None, contact_id: int | None = None, device_id: int | None = None,
    lead_id: int | None = None,
) -> int:
    """queued/held → cancelled for the user's messages matching every filter given (counted on
    their batches); how many."""
    if campaign_id is sequence_id is contact_id is device_id is lead_id is None:
        raise ValueError("cancel_waiting needs at least one filter")
    return int(conn.execute(queries.text("messages_cancel_waiting"), {
        "user_id": user_id, "campaign_id": campaign_id, "sequence_id": sequence_id,
        "contact_id": contact_id, "device_id": device_id, "lead_id": lead_id,
    }).scalar_one())
