"""Leads: CRUD, search, bulk merge from CSV imports (COPY, update, sorted insert), export."""

import json
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from dripfleet.queries import queries
from dripfleet.stores import messages

UNIQUE_VIOLATION = "23505"

queries.require(
    "leads_owned_ids", "leads_ensure_phones", "leads_ids_by_phone", "leads_list", "leads_get",
    "leads_insert", "leads_update", "leads_phone_taken", "lead_sequences_lock",
    "lead_contacts_lock", "leads_lock",
    "leads_delete",
    "leads_export", "leads_import_lock", "leads_import_stage",
    "leads_import_copy", "leads_import_merge", "leads_import_sort_memory", "leads_import_upsert",
    "leads_import_any", "leads_import_clear", "leads_import_no_jit",
)


def owned_ids(conn: Connection, user_id: int, ids: list[int]) -> set[int]:
    """The subset of ids that are the user's leads."""
    return set(conn.execute(queries.text("leads_owned_ids"),
                            {"user_id": user_id, "ids": ids}).scalars())


def ensure_phones(conn: Connection, user_id: int, phones: list[str]) -> tuple[dict[str, int], int]:
    """Lead id per E.164 phone, creating bare leads for new phones; (ids, how many created)."""
    created = conn.execute(queries.text("leads_ensure_phones"),
                           {"user_id": user_id, "phones": phones}).rowcount
    rows = conn.execute(queries.text("leads_ids_by_phone"), {"user_id": user_id, "phones": phones})
    return {phone: lead_id for lead_id, phone in rows}, created


def list_leads(conn: Connection, user_id: int, limit: int = 50, after: int | None = None,
               niche: str | None = None, target_status: str | None = None,
               opted_out: bool | None = None, search: str | None = None) -> list[dict[str, Any]]:
    """A page of leads by id, filtered (niche is a normalised tag)."""
    rows = conn.execute(queries.text("leads_list"), {
        "user_id": user_id, "limit": limit, "after": after, "niche": niche,
        "target_status": target_status, "opted_out": opted_out, **search_params(search),
    }).mappings()
    return [dict(row) for row in rows]


def search_params(search: str | None) -> dict[str, str | None]:
    """`search` and `search_digits` of the lead filters: the text matched literally against the
    name (wildcards included), its digits against the phone."""
    digits = "".join(ch for ch in search or "" if ch.isdigit()) or None
    if search is not None:
        search = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"search": search, "search_digits": digits}


def get_lead(conn: Connection, user_id: int, lead_id: int) -> dict[str, Any] | None:
    """One lead, or None."""
    row = conn.execute(queries.text("leads_get"),
                       {"user_id": user_id, "lead_id": lead_id}).mappings().first()
    return dict(row) if row else None


def phone_taken(conn: Connection, user_id: int, phone: str, lead_id: int | None = None) -> bool:
    """Does another of the user's leads have this phone?"""
    return bool(conn.execute(queries.text("leads_phone_taken"),
                             {"user_id": user_id, "phone": phone, "lead_id": lead_id}).scalar())


def _params(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "phone": values["phone"], "name": values["name"], "niches": values["niches"],
        "target_status": values["target_status"],
        "preferred_device_id": values.get("preferred_device_id"),
        "attributes": json.dumps(values.get("attributes") or {}),
        "opted_out": bool(values.get("opted_out")),
    }


def insert_lead(conn: Connection, user_id: int, values: dict[str, Any]) -> int | None:
    """Insert a lead; its id, or None when the phone is already taken."""
    return conn.execute(queries.text("leads_insert"),
                        {"user_id": user_id, **_params(values)}).scalar()


def update_lead(conn: Connection, user_id: int, lead_id: int, values: dict[str, Any]) -> bool:
    """Replace a lead's fields; False if not found."""
    row = conn.execute(queries.text("leads_update"),
                       {"user_id": user_id, "lead_id": lead_id, **_params(values)}).first()
    return row is not None


def lock_lead(conn: Connection, user_id: int, lead_id: int) -> bool:
    """Before a delete or an opt-out: lock the lead's sequences, contacts, then the lead; False
    if missing.

    Waits for a tick batch in flight that queues for the lead, so what it queued is visible to
    cancel_open_messages afterwards; a later batch waits for this transaction instead."""
    params = {"user_id": user_id, "lead_id": lead_id}
    conn.execute(queries.text("lead_sequences_lock"), params)
    conn.execute(queries.text("lead_contacts_lock"), params)
    return conn.execute(queries.text("leads_lock"), params).first() is not None


def delete_lead(conn: Connection, user_id: int, lead_id: int) -> bool:
    """Delete a lead (its contacts cascade); False if not found."""
    return conn.execute(queries.text("leads_delete"),
                        {"user_id": user_id, "lead_id": lead_id}).first() is not None


def cancel_open_messages(conn: Connection, user_id: int, lead_id: int) -> None:
    """queued/held → cancelled for one lead."""
    messages.cancel_waiting(conn, user_id, lead_id=lead_id)


def export_rows(conn: Connection, user_id: int) -> Any:
    """Every lead of the user in id order (a result to iterate)."""
    return conn.execute(queries.text("leads_export"), {"user_id": user_id}).mappings()


def begin_import(conn: Connection, user_id: int) -> bool:
    """In the import's transaction: take the user's import lock and create the (empty) stage.
    Returns whether the user had any lead then."""
    conn.execute(queries.text("leads_import_lock"), {"user_id": user_id})
    conn.execute(queries.text("leads_import_stage"))
    conn.execute(queries.text("leads_import_sort_memory"))
    conn.execute(queries.text("leads_import_no_jit"))
    return bool(conn.execute(queries.text("leads_import_any"), {"user_id": user_id}).scalar())


def merge_import(conn: Connection, user_id: int, csv_payload: bytes,
                 default_target_status: str, *, may_exist: bool = True) -> tuple[int, int]:
    """Stage rows (CSV: phone, name, niches "a,b", target_status, device id, attributes JSON)
    with COPY, update the leads that exist and insert the rest; (inserted, updated).

    Call begin_import first, in the same transaction; each call replaces the stage, so an
    import can be merged in chunks (phones unique within a chunk; a phone of an earlier chunk
    updates the lead that chunk wrote). `may_exist=False` says no staged phone can be a lead
    yet (the user had none and no earlier chunk wrote them): the rows are simply inserted. The
    import lock keeps other imports out, but a lead added through the API can still take a
    staged phone meanwhile: the fast statement then fails inside a savepoint and the chunk goes
    through one race-proof upsert, so no row is skipped.
    """
    conn.execute(queries.text("leads_import_clear"))
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(queries["leads_import_copy"].sql) as copy:
        view = memoryview(csv_payload)
        for start in range(0, len(view), 1 << 20):
            copy.write(view[start:start + (1 << 20)])
    params = {"user_id": user_id, "default_target_status": default_target_status,
              "may_exist": may_exist}
    try:
        with conn.begin_nested():
            inserted, updated = conn.execute(queries.text("leads_import_upsert"), params).one()
    except IntegrityError as error:
        if getattr(error.orig, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        inserted, updated = conn.execute(queries.text("leads_import_merge"), params).one()
    return int(inserted), int(updated)
