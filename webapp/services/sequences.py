"""Sequences: definitions with steps, contacts, start / pause (holding queued messages), logs."""

from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import Connection

from dripfleet.local_time import first_due_at
from dripfleet.phones import try_normalize_phone
from dripfleet.stores import campaigns, leads, replies, sequences
from webapp.services.content import (
    SAME_MESSAGE_AUDIENCE,
    audience_problems,
    content_problems,
    variety_warnings,
)
from webapp.services.errors import Conflict, Invalid, not_found


def list_sequences(conn: Connection, user_id: int, limit: int = 50,
                   after: int | None = None) -> list[dict[str, Any]]:
    """The user's sequences (without steps)."""
    return sequences.list_sequences(conn, user_id, limit, after)


def get_sequence(conn: Connection, user_id: int, sequence_id: int) -> dict[str, Any]:
    """One sequence with its steps; NotFound if missing or another user's."""
    sequence = sequences.get_sequence(conn, user_id, sequence_id)
    if sequence is None:
        raise not_found("sequence", sequence_id)
    audience = campaigns.audience_count_capped(conn, user_id, sequence["niche"],
                                               sequence["target_status"], SAME_MESSAGE_AUDIENCE)
    sequence["warnings"] = [warning for index, step in enumerate(sequence["steps"])
                            for warning in variety_warnings(step, audience, f"steps.{index}.")]
    return sequence


def _check(conn: Connection, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
    values = dict(data)
    problems = audience_problems(conn, user_id, values)
    if values.get("niche") is None:
        problems["niche"] = "a sequence needs a niche (the tag that enrols leads)"
    steps = values.get("steps")
    if steps is not None:
        seen: set[int] = set()
        for index, step in enumerate(steps):
            if step["day"] in seen:
                problems[f"steps.{index}.day"] = f"day {step['day']} appears twice"
            seen.add(step["day"])
            problems.update(content_problems(conn, user_id, step, f"steps.{index}."))
    if problems:
        raise Invalid(problems)
    return values


def create_sequence(conn: Connection, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Create a draft sequence with its steps."""
    values = _check(conn, user_id, {"on_reply": "stop", **data,
                                    "steps": data.get("steps") or []})
    sequence_id = sequences.insert_sequence(conn, user_id, values)
    sequences.replace_steps(conn, user_id, sequence_id, values["steps"])
    return get_sequence(conn, user_id, sequence_id)


def update_sequence(conn: Connection, user_id: int, sequence_id: int,
                    data: dict[str, Any]) -> dict[str, Any]:
    """Replace the sequence's fields and, when given, its steps (same day = same step row)."""
    if sequences.lock_sequence(conn, user_id, sequence_id) is None:
        raise not_found("sequence", sequence_id)
    values = _check(conn, user_id, data)
    if "on_reply" not in values:
        # a form that does not show the setting keeps it
        values["on_reply"] = get_sequence(conn, user_id, sequence_id)["on_reply"]
    sequences.update_sequence(conn, user_id, sequence_id, values)
    if values.get("steps") is not None:
        sequences.replace_steps(conn, user_id, sequence_id, values["steps"])
    return get_sequence(conn, user_id, sequence_id)


def delete_sequence(conn: Connection, user_id: int, sequence_id: int) -> None:
    """Delete a sequence; its waiting messages are cancelled first."""
    if sequences.lock_sequence(conn, user_id, sequence_id) is None:
        raise not_found("sequence", sequence_id)
    sequences.cancel_messages(conn, user_id, sequence_id)
    sequences.delete_sequence(conn, user_id, sequence_id)


def start_sequence(conn: Connection, user_id: int, sequence_id: int) -> dict[str, Any]:
    """draft/paused → active; held messages go back to the queue in the same transaction."""
    row = sequences.lock_sequence(conn, user_id, sequence_id)
    if row is None:
        raise not_found("sequence", sequence_id)
    if sequences.first_step(conn, user_id, sequence_id) is None:
        raise Conflict("a sequence needs at least one step before it can start",
                       {"steps": "no steps"})
    if row["status"] != "active":
        sequences.set_status(conn, user_id, sequence_id, "active")
    sequences.release_messages(conn, user_id, sequence_id)
    return get_sequence(conn, user_id, sequence_id)


def pause_sequence(conn: Connection, user_id: int, sequence_id: int) -> dict[str, Any]:
    """active → paused; its queued messages become held in the same transaction."""
    row = sequences.lock_sequence(conn, user_id, sequence_id)
    if row is None:
        raise not_found("sequence", sequence_id)
    if row["status"] == "draft":
        raise Conflict("a draft sequence has not started", {"status": "draft"})
    sequences.set_status(conn, user_id, sequence_id, "paused")
    sequences.hold_messages(conn, user_id, sequence_id)
    return get_sequence(conn, user_id, sequence_id)


def add_contacts(conn: Connection, user_id: int, sequence_id: int, lead_ids: list[int],
                 phones: list[str], region: str) -> dict[str, Any]:
    """Enrol leads by id and by phone (unknown phones become new leads)."""
    sequence = sequences.lock_sequence(conn, user_id, sequence_id)
    if sequence is None:
        raise not_found("sequence", sequence_id)
    if not lead_ids and not phones:
        raise Invalid({"lead_ids": "give lead_ids or phones (or both)"})
    problems: dict[str, str] = {}
    normalised: list[str] = []
    for index, raw in enumerate(phones):
        phone, reason = try_normalize_phone(raw, region)
        if phone is None:
            problems[f"phones.{index}"] = f"{raw!r}: {reason}"
        else:
            normalised.append(phone)
    wanted = sorted(set(lead_ids))
    missing = sorted(set(wanted) - leads.owned_ids(conn, user_id, wanted)) if wanted else []
    if missing:
        problems["lead_ids"] = f"no such leads: {', '.join(map(str, missing[:20]))}"
    if problems:
        raise Invalid(problems)
    by_phone, created = leads.ensure_phones(conn, user_id, sorted(set(normalised)))
    all_ids = sorted(set(wanted) | set(by_phone.values()))
    added = sequences.add_contacts(conn, user_id, sequence_id, all_ids,
                                   _first_due(conn, user_id, sequence_id))
    return {"added": len(added), "already_enrolled": len(all_ids) - len(added),
            "leads_created": created, "lead_ids": sorted(added)}


def _first_due(conn: Connection, user_id: int, sequence_id: int) -> datetime | None:
    step = sequences.first_step(conn, user_id, sequence_id)
    sequence = sequences.get_sequence(conn, user_id, sequence_id)
    if step is None or sequence is None:
        return None
    send_time: time = step["send_time"]
    return first_due_at(datetime.now(UTC), send_time, sequence["timezone"])


def list_contacts(conn: Connection, user_id: int, sequence_id: int, limit: int = 50,
                  after: int | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Contacts with status, day x of N and next due time."""
    get_sequence_row(conn, user_id, sequence_id)
    return sequences.list_contacts(conn, user_id, sequence_id, limit, after, status)


def remove_contact(conn: Connection, user_id: int, sequence_id: int, contact_id: int) -> None:
    """Remove a contact from the sequence; its waiting messages are cancelled."""
    # the sequence locked first, like a delete: a tick batch in flight is waited for (its step
    # for the contact is then cancelled below), and no batch starts meanwhile
    if sequences.lock_sequence(conn, user_id, sequence_id) is None:
        raise not_found("sequence", sequence_id)
    sequences.cancel_messages(conn, user_id, sequence_id, contact_id)
    if not sequences.delete_contact(conn, user_id, sequence_id, contact_id):
        raise not_found("contact", contact_id)


def resume_contact(conn: Connection, user_id: int, sequence_id: int,
                   contact_id: int) -> dict[str, Any]:
    """A contact paused by a reply goes on: active again, its held messages queued again unless
    the sequence is paused. NotFound for another user's sequence or contact; Conflict unless the
    contact is paused."""
    # the sequence locked first, like every change of it: a tick batch in flight is waited for
    if sequences.lock_sequence(conn, user_id, sequence_id) is None:
        raise not_found("sequence", sequence_id)
    contact = sequences.get_contact(conn, user_id, sequence_id, contact_id)
    if contact is None:
        raise not_found("contact", contact_id)
    resumed = replies.resume_contact(conn, user_id, sequence_id, contact_id)
    if resumed is None:
        raise Conflict(f"contact {contact_id} is {contact['status']}, not paused",
                       {"status": contact["status"]})
    return {"contact": sequences.get_contact(conn, user_id, sequence_id, contact_id),
            "released": resumed["released"]}


def list_logs(conn: Connection, user_id: int, sequence_id: int, limit: int = 50,
              before_id: int | None = None) -> list[dict[str, Any]]:
    """Send log of the sequence, newest first."""
    get_sequence_row(conn, user_id, sequence_id)
    return sequences.list_logs(conn, user_id, sequence_id, limit, before_id)


def get_sequence_row(conn: Connection, user_id: int, sequence_id: int) -> None:
    """NotFound unless the sequence is the user's."""
    if not sequences.owned(conn, user_id, sequence_id):
        raise not_found("sequence", sequence_id)
