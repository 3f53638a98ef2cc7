"""Sequences, their steps, contacts and logs; pause / start move queued ↔ held messages."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries
from dripfleet.stores import messages

queries.require(
    "sequences_list", "sequences_get", "sequences_lock", "sequences_insert", "sequences_update",
    "sequences_set_status", "sequences_delete", "sequence_steps_list", "sequence_steps_upsert",
    "sequence_steps_delete_other_days", "sequence_first_step", "sequence_messages_hold",
    "sequence_messages_release", "sequence_contacts_insert",
    "sequence_contacts_list", "sequence_contacts_delete",
    "sequence_logs_list", "sequences_owned",
)

_FIELDS = ("name", "description", "niche", "target_status", "timezone", "pinned_device_id",
           "on_reply")


def list_sequences(conn: Connection, user_id: int, limit: int = 50,
                   after: int | None = None) -> list[dict[str, Any]]:
    """The user's sequences by id, with step_count and active_contacts."""
    rows = conn.execute(queries.text("sequences_list"),
                        {"user_id": user_id, "limit": limit, "after": after}).mappings()
    return [dict(row) for row in rows]


def get_sequence(conn: Connection, user_id: int, sequence_id: int) -> dict[str, Any] | None:
    """One sequence with its steps, or None."""
    row = conn.execute(queries.text("sequences_get"),
                       {"user_id": user_id, "sequence_id": sequence_id}).mappings().first()
    if row is None:
        return None
    sequence = dict(row)
    sequence["steps"] = list_steps(conn, user_id, sequence_id)
    return sequence


def owned(conn: Connection, user_id: int, sequence_id: int) -> bool:
    """Is sequence_id one of the user's sequences?"""
    return bool(conn.execute(queries.text("sequences_owned"),
                             {"user_id": user_id, "sequence_id": sequence_id}).scalar_one())


def lock_sequence(conn: Connection, user_id: int, sequence_id: int) -> dict[str, Any] | None:
    """Lock the sequence row for this transaction; its id and status, or None."""
    row = conn.execute(queries.text("sequences_lock"),
                       {"user_id": user_id, "sequence_id": sequence_id}).mappings().first()
    return dict(row) if row else None


def insert_sequence(conn: Connection, user_id: int, values: dict[str, Any]) -> int:
    """Insert a sequence (no steps); its id."""
    params = {key: values[key] for key in _FIELDS}
    return conn.execute(queries.text("sequences_insert"), {"user_id": user_id, **params}
                        ).scalar_one()


def update_sequence(conn: Connection, user_id: int, sequence_id: int,
                    values: dict[str, Any]) -> bool:
    """Replace the sequence's own fields; False if not found."""
    params = {key: values[key] for key in _FIELDS}
    row = conn.execute(queries.text("sequences_update"),
                       {"user_id": user_id, "sequence_id": sequence_id, **params}).first()
    return row is not None


def set_status(conn: Connection, user_id: int, sequence_id: int, status: str) -> None:
    """Set draft / active / paused."""
    conn.execute(queries.text("sequences_set_status"),
                 {"user_id": user_id, "sequence_id": sequence_id, "status": status})


def delete_sequence(conn: Connection, user_id: int, sequence_id: int) -> bool:
    """Delete the sequence (steps, contacts and logs cascade); False if not found."""
    row = conn.execute(queries.text("sequences_delete"),
                       {"user_id": user_id, "sequence_id": sequence_id}).first()
    return row is not None


def list_steps(conn: Connection, user_id: int, sequence_id: int) -> list[dict[str, Any]]:
    """The sequence's steps by day (send_time as HH:MM)."""
    rows = conn.execute(queries.text("sequence_steps_list"),
                        {"user_id": user_id, "sequence_id": sequence_id}).mappings()
    return [dict(row) for row in rows]


def replace_steps(conn: Connection, user_id: int, sequence_id: int,
                  steps: list[dict[str, Any]]) -> None:
    """Make the steps exactly `steps`: days kept are updated in place, others removed."""
    conn.execute(queries.text("sequence_steps_delete_other_days"),
                 {"user_id": user_id, "sequence_id": sequence_id,
                  "days": [step["day"] for step in steps]})
    if steps:
        conn.execute(queries.text("sequence_steps_upsert"), [
            {"user_id": user_id, "sequence_id": sequence_id, "day": s["day"],
             "send_time": s["send_time"], "message_type": s["message_type"], "body": s["body"],
             "media_url": s.get("media_url"), "media_id": s.get("media_id"),
             "caption": s.get("caption"), "filename": s.get("filename")}
            for s in steps
        ])


def first_step(conn: Connection, user_id: int, sequence_id: int) -> dict[str, Any] | None:
    """Day and send_time of the first step, or None without steps."""
    row = conn.execute(queries.text("sequence_first_step"),
                       {"user_id": user_id, "sequence_id": sequence_id}).mappings().first()
    return dict(row) if row else None


def hold_messages(conn: Connection, user_id: int, sequence_id: int) -> int:
    """queued → held for this sequence; how many."""
    return conn.execute(queries.text("sequence_messages_hold"),
                        {"user_id": user_id, "sequence_id": sequence_id}).rowcount


def release_messages(conn: Connection, user_id: int, sequence_id: int) -> int:
    """held → queued for this sequence; how many."""
    return conn.execute(queries.text("sequence_messages_release"),
                        {"user_id": user_id, "sequence_id": sequence_id}).rowcount


def cancel_messages(conn: Connection, user_id: int, sequence_id: int,
                    contact_id: int | None = None) -> None:
    """queued/held → cancelled for the sequence (or one of its contacts)."""
    messages.cancel_waiting(conn, user_id, sequence_id=sequence_id, contact_id=contact_id)


def add_contacts(conn: Connection, user_id: int, sequence_id: int, lead_ids: list[int],
                 next_due_at: datetime | None) -> list[int]:
    """Enrol the user's leads; the lead ids that were newly enrolled."""
    rows = conn.execute(queries.text("sequence_contacts_insert"), {
        "user_id": user_id, "sequence_id": sequence_id, "lead_ids": lead_ids,
        "next_due_at": next_due_at,
    }).scalars()
    return list(rows)


def list_contacts(conn: Connection, user_id: int, sequence_id: int, limit: int = 50,
                  after: int | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Contacts with lead phone/name, status, current_day of total_days, sent_days, next_due_at."""
    rows = conn.execute(queries.text("sequence_contacts_list"), {
        "user_id": user_id, "sequence_id": sequence_id, "limit": limit, "after": after,
        "status": status, "contact_id": None,
    }).mappings()
    return [dict(row) for row in rows]


def get_contact(conn: Connection, user_id: int, sequence_id: int,
                contact_id: int) -> dict[str, Any] | None:
    """One contact as list_contacts shows it, or None."""
    row = conn.execute(queries.text("sequence_contacts_list"), {
        "user_id": user_id, "sequence_id": sequence_id, "limit": 1, "after": None,
        "status": None, "contact_id": contact_id,
    }).mappings().first()
    return dict(row) if row else None


def delete_contact(conn: Connection, user_id: int, sequence_id: int, contact_id: int) -> bool:
    """Remove a contact (its logs cascade); False if not found."""
    row = conn.execute(queries.text("sequence_contacts_delete"), {
        "user_id": user_id, "sequence_id": sequence_id, "contact_id": contact_id,
    }).first()
    return row is not None


def list_logs(conn: Connection, user_id: int, sequence_id: int, limit: int = 50,
              before_id: int | None = None) -> list[dict[str, Any]]:
    """The sequence's log rows, newest first."""
    rows = conn.execute(queries.text("sequence_logs_list"), {
        "user_id": user_id, "sequence_id": sequence_id, "limit": limit, "before_id": before_id,
    }).mappings()
    return [dict(row) for row in rows]
