"""Leads: create / read / update / delete with normalised phones and niches, CSV import/export."""

from typing import Any

from sqlalchemy import Connection

from dripfleet import csv_import
from dripfleet.niches import normalize_niche, normalize_niches
from dripfleet.phones import try_normalize_phone
from dripfleet.stores import leads, pages
from webapp.services.content import device_problem
from webapp.services.errors import (
    BadFile,
    Conflict,
    Invalid,
    ServiceError,
    TooLarge,
    UnsupportedFile,
    not_found,
)


def list_leads(conn: Connection, user_id: int, limit: int = 50, after: int | None = None,
               niche: str | None = None, target_status: str | None = None,
               opted_out: bool | None = None, search: str | None = None) -> list[dict[str, Any]]:
    """A page of leads; `niche` is normalised like stored tags (a bad tag matches nothing)."""
    tag = None
    if niche is not None:
        try:
            tag = normalize_niche(niche)
        except ValueError as error:
            raise Invalid({"niche": str(error)}) from None
    return [_out(row) for row in leads.list_leads(
        conn, user_id, limit, after, tag, target_status, opted_out, search or None)]


def leads_page(conn: Connection, user_id: int, after: int | None, before: int | None,
               limit: int, cap: int, niche: str | None = None,
               target_status: str | None = None, opted_out: bool | None = None,
               search: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """The leads page's rows in either direction and their total counted up to `cap`."""
    tag = None
    if niche is not None:
        try:
            tag = normalize_niche(niche)
        except ValueError as error:
            raise Invalid({"niche": str(error)}) from None
    rows, total = pages.leads_page(conn, user_id, after, before, limit, cap, tag, target_status,
                                   opted_out, search or None)
    return [_out(row) for row in rows], total


def get_lead(conn: Connection, user_id: int, lead_id: int) -> dict[str, Any]:
    """One lead; NotFound if missing or another user's."""
    row = leads.get_lead(conn, user_id, lead_id)
    if row is None:
        raise not_found("lead", lead_id)
    return _out(row)


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "opted_out": row["opted_out_at"] is not None}


def _check(conn: Connection, user_id: int, data: dict[str, Any], region: str,
           lead_id: int | None = None) -> dict[str, Any]:
    problems: dict[str, str] = {}
    values = dict(data)
    phone, reason = try_normalize_phone(values["phone"], values.get("region") or region)
    if phone is None:
        problems["phone"] = f"invalid phone number: {reason}"
    else:
        values["phone"] = phone
        if leads.phone_taken(conn, user_id, phone, lead_id):
            raise Conflict(f"a lead with phone {phone} exists", {"phone": "already exists"})
    try:
        values["niches"] = normalize_niches(values.get("niches") or [])
    except TypeError as error:
        problems["niches"] = str(error)
    problem = device_problem(conn, user_id, values.get("preferred_device_id"))
    if problem:
        problems["preferred_device_id"] = problem
    if problems:
        raise Invalid(problems)
    return values


def create_lead(conn: Connection, user_id: int, data: dict[str, Any],
                region: str) -> dict[str, Any]:
    """Create a lead (phone normalised with `region` unless the data names one)."""
    values = _check(conn, user_id, data, region)
    lead_id = leads.insert_lead(conn, user_id, values)
    if lead_id is None:
        raise Conflict(f"a lead with phone {values['phone']} exists", {"phone": "already exists"})
    return get_lead(conn, user_id, lead_id)


def update_lead(conn: Connection, user_id: int, lead_id: int, changes: dict[str, Any],
                region: str) -> dict[str, Any]:
    """Apply the given fields to a lead; opting out cancels its waiting messages."""
    current = leads.get_lead(conn, user_id, lead_id)
    if current is None:
        raise not_found("lead", lead_id)
    merged = {**_out(current), **changes}
    values = _check(conn, user_id, merged, region, lead_id)
    opting_out = values["opted_out"] and current["opted_out_at"] is None
    if opting_out:  # waits for a tick batch queueing for the lead: its rows are cancelled below
        leads.lock_lead(conn, user_id, lead_id)
    leads.update_lead(conn, user_id, lead_id, values)
    if opting_out:
        leads.cancel_open_messages(conn, user_id, lead_id)
    return get_lead(conn, user_id, lead_id)


def delete_lead(conn: Connection, user_id: int, lead_id: int) -> None:
    """Delete a lead; its waiting messages are cancelled first."""
    # locked first, so a tick batch queueing for the lead is waited for and its rows cancelled
    if not leads.lock_lead(conn, user_id, lead_id):
        raise not_found("lead", lead_id)
    leads.cancel_open_messages(conn, user_id, lead_id)
    leads.delete_lead(conn, user_id, lead_id)


_REFUSALS: dict[int, type[ServiceError]] = {400: BadFile, 413: TooLarge, 415: UnsupportedFile}


def import_csv(conn: Connection, user_id: int, data: bytes, *, region: str,
               niche: str | None = None, target_status: str | None = None,
               max_bytes: int | None = None) -> dict[str, Any]:
    """Import a lead CSV; a refused file raises BadFile / TooLarge / UnsupportedFile."""
    if niche is not None:
        try:
            normalize_niches(niche)
        except TypeError as error:
            raise Invalid({"niche": str(error)}) from None
    try:
        report = csv_import.import_leads(conn, user_id, data, region=region, niche=niche,
                                         target_status=target_status, max_bytes=max_bytes)
    except csv_import.CsvRefused as refused:
        raise _REFUSALS[refused.status](refused.message, {"file": refused.message}) from None
    return report.as_dict()


def export_csv(conn: Connection, user_id: int) -> str:
    """All the user's leads as CSV (re-importing it changes nothing)."""
    return csv_import.export_leads_csv(conn, user_id)
