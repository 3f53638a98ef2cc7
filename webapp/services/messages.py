"""One-off sends (source 'api') under the rules of every message, and reading messages."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.materialise.device_choice import BUFFER_FULL, load_chooser
from dripfleet.materialise.rendering import render_or_problem
from dripfleet.phones import try_normalize_phone
from dripfleet.stores import leads, messages
from webapp.services.content import content_problems, device_problem
from webapp.services.errors import Conflict, Invalid, not_found

# Idempotency-Key → dedupe key: the same key of the same user names the same message
_IDEMPOTENCY = uuid.UUID("5d0c6d1e-7a0e-4d8e-9a55-0e5a3c1f2b61")


def dedupe_key(user_id: int, idempotency_key: str | None) -> str:
    """`api:<uuid>`: random, or derived from the user and their Idempotency-Key."""
    if idempotency_key is None:
        return f"api:{uuid.uuid4()}"
    return f"api:{uuid.uuid5(_IDEMPOTENCY, f'{user_id}:{idempotency_key}')}"


def timeline(message: dict[str, Any]) -> list[dict[str, Any]]:
    """What happened to a message, oldest first.

    The one place a timeline is built: the row's own times, and the receipts WhatsApp reported
    (message_events: delivered, read, played)."""
    events: list[dict[str, Any]] = [{"kind": "queued", "at": message["created_at"]}]
    if message["sent_at"] is not None:
        events.append({"kind": "sent", "at": message["sent_at"]})
    for receipt in message.get("receipts") or []:
        events.append({"kind": receipt["kind"], "at": datetime.fromisoformat(receipt["at"])})
    status = message["status"]
    if status == "failed":
        # the outcome statement stamps updated_at when it records the failure
        events.append({"kind": "failed", "at": message["updated_at"],
                       "error": message["last_error"],
                       "failure_class": message["failure_class"]})
    elif status in ("cancelled", "expired"):
        events.append({"kind": status, "at": message["updated_at"]})
    return sorted(events, key=lambda event: event["at"])


def get_message(conn: Connection, user_id: int, message_id: int) -> dict[str, Any]:
    """One message with its timeline; NotFound if missing or another user's."""
    row = messages.get_message(conn, user_id, message_id)
    if row is None:
        raise not_found("message", message_id)
    return {**{k: v for k, v in row.items() if k != "receipts"}, "timeline": timeline(row)}


def list_messages(conn: Connection, user_id: int, limit: int = 50, before: int | None = None,
                  **filters: Any) -> list[dict[str, Any]]:
    """The user's messages newest first (filters: lead_id, campaign_id, sequence_id, status)."""
    return messages.list_messages(conn, user_id, limit, before, **filters)


def send_message(conn: Connection, user_id: int, data: dict[str, Any], region: str,
                 buffer_size: int, idempotency_key: str | None = None,
                 ) -> tuple[dict[str, Any], bool]:
    """Queue one message to a lead (by id, or by phone: a new phone becomes a lead); returns
    (the message, created). A repeated Idempotency-Key returns the first message uncreated."""
    key = dedupe_key(user_id, idempotency_key)
    if idempotency_key is not None:
        existing = messages.id_by_dedupe_key(conn, user_id, key)
        if existing is not None:
            return get_message(conn, user_id, existing), False
    values = _checked(conn, user_id, data, region)
    lead = _lead(conn, user_id, values)
    values.update(lead_id=lead["id"], phone=lead["phone"], dedupe_key=key)
    for name in ("body", "caption"):
        # seeded by the dedupe key, as campaign and sequence bodies are: a repeat renders the same
        text, problem = render_or_problem(values.get(name), lead["name"], lead["phone"],
                                          lead["attributes"], key)
        if problem is not None:
            raise Invalid({name: problem})
        values[name] = text
    values["body"] = values["body"] or ""
    values["lane"] = 2 if values.pop("priority", "normal") == "high" else 1  # migration 0085
    values["device_id"], values["pinned"] = _device(conn, user_id, lead["preferred_device_id"],
                                                    values.get("device_id"), buffer_size)
    message_id = messages.insert_message(conn, user_id, values)
    if message_id is None:  # a request with the same Idempotency-Key committed meanwhile
        message_id = messages.id_by_dedupe_key(conn, user_id, key)
        if message_id is None:
            raise Conflict("a message with this Idempotency-Key belongs to another request",
                           {"Idempotency-Key": "in use"})
        return get_message(conn, user_id, message_id), False
    return get_message(conn, user_id, message_id), True


def _checked(conn: Connection, user_id: int, data: dict[str, Any],
             region: str) -> dict[str, Any]:
    """The request's values with the phone normalised; Invalid naming every bad field."""
    values = dict(data)
    problems: dict[str, str] = {}
    if (values.get("lead_id") is None) == (values.get("phone") is None):
        problems["lead_id"] = "give lead_id or phone (one of them)"
    elif values.get("phone") is not None:
        phone, reason = try_normalize_phone(values["phone"], region)
        if phone is None:
            problems["phone"] = f"{values['phone']!r}: {reason}"
        values["phone"] = phone
    problems.update(content_problems(conn, user_id, values))
    problem = device_problem(conn, user_id, values.get("device_id"))
    if problem:
        problems["device_id"] = problem
    if problems:
        raise Invalid(problems)
    return values


def _lead(conn: Connection, user_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """The recipient, locked against a concurrent opt-out or delete; Conflict if opted out."""
    lead_id = values.get("lead_id")
    if lead_id is None:
        by_phone, _ = leads.ensure_phones(conn, user_id, [values["phone"]])
        lead_id = by_phone[values["phone"]]
    lead = messages.lead_for_send(conn, user_id, lead_id)
    if lead is None:
        raise Invalid({"lead_id": f"no lead {lead_id}"})
    if lead["opted_out_at"] is not None:
        raise Conflict(f"lead {lead_id} has opted out: nothing is sent to it",
                       {"lead_id": "opted out"})
    return lead


def _device(conn: Connection, user_id: int, preferred: int | None, requested: int | None,
            buffer_size: int) -> tuple[int, bool]:
    """(device id, pinned) by the rule of every message; Conflict when none can take it."""
    messages.lock_buffers(conn)
    chooser = load_chooser(conn, [user_id], buffer_size)
    choice = chooser.choose(user_id, preferred, requested)
    if choice.device_id is None:
        usable = chooser.loads.get(user_id, {})
        if choice.reason != BUFFER_FULL or not usable:
            raise Conflict("no usable device: none of your devices is online",
                           {"device_id": "no usable device"})
        if choice.pinned:
            device = preferred if preferred in usable else requested
            raise Conflict(f"device {device} already holds {buffer_size} queued messages (the "
                           "QUEUE_BUFFER_SIZE limit): try again once it has sent some",
                           {"device_id": f"device {device} is full"})
        raise Conflict(f"every usable device already holds {buffer_size} queued messages (the "
                       "QUEUE_BUFFER_SIZE limit): try again once they have sent some",
                       {"device_id": "every usable device is full"})
    if not messages.lock_device(conn, user_id, choice.device_id):
        # went offline or was deleted since the loads were read
        raise Conflict(f"device {choice.device_id} is no longer usable: try again",
                       {"device_id": "no usable device"})
    return choice.device_id, choice.pinned
