"""Devices: CRUD, pairing requests, logout, ownership checks."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries
from dripfleet.stores import messages

queries.require(
    "devices_exists", "devices_owned_ids", "devices_list", "devices_lock",
    "devices_insert", "devices_update", "devices_open_messages",
    "devices_delete", "devices_request_pairing", "devices_pairing", "devices_logout",
    "devices_set_warmup", "devices_lift_restriction",
)

FIELDS = ("name", "min_delay_s", "max_delay_s", "hourly_cap", "daily_cap", "quiet_start",
          "quiet_end", "timezone")


def exists(conn: Connection, user_id: int, device_id: int) -> bool:
    """Is device_id one of the user's devices?"""
    return bool(conn.execute(queries.text("devices_exists"),
                             {"user_id": user_id, "device_id": device_id}).scalar_one())


def owned_ids(conn: Connection, user_id: int, ids: list[int]) -> set[int]:
    """The subset of ids that are the user's devices."""
    return set(conn.execute(queries.text("devices_owned_ids"),
                            {"user_id": user_id, "ids": ids}).scalars())


def list_devices(conn: Connection, user_id: int, limit: int = 100,
                 after: int | None = None) -> list[dict[str, Any]]:
    """A page of the user's devices by id."""
    rows = conn.execute(queries.text("devices_list"), {
        "user_id": user_id, "limit": limit, "after": after, "device_id": None}).mappings()
    return [dict(row) for row in rows]


def get_device(conn: Connection, user_id: int, device_id: int) -> dict[str, Any] | None:
    """One device (status, heartbeat, last error …), or None."""
    row = conn.execute(queries.text("devices_list"), {
        "user_id": user_id, "limit": 1, "after": None, "device_id": device_id}).mappings().first()
    return dict(row) if row else None


def lock_device(conn: Connection, user_id: int, device_id: int) -> dict[str, Any] | None:
    """Lock the device row; id and status, or None."""
    row = conn.execute(queries.text("devices_lock"),
                       {"user_id": user_id, "device_id": device_id}).mappings().first()
    return dict(row) if row else None


def insert_device(conn: Connection, user_id: int, values: dict[str, Any],
                  warmup: bool = False) -> int:
    """Insert a device (status 'new'), warmed up as a new number when warmup; its id."""
    params = {key: values.get(key) for key in FIELDS}
    return conn.execute(queries.text("devices_insert"),
                        {"user_id": user_id, "warmup": warmup, **params}).scalar_one()


def set_warmup(conn: Connection, user_id: int, device_id: int, warmup: bool,
               since: datetime | None, plan_days: int) -> None:
    """Turn the warm-up on or off and set since when the number exists (its stage follows)."""
    conn.execute(queries.text("devices_set_warmup"), {
        "user_id": user_id, "device_id": device_id, "warmup": warmup, "since": since,
        "plan_days": plan_days})


def lift_restriction(conn: Connection, user_id: int, device_id: int) -> None:
    """End a timelock or temporary ban now (a user's decision)."""
    conn.execute(queries.text("devices_lift_restriction"),
                 {"user_id": user_id, "device_id": device_id})


def update_device(conn: Connection, user_id: int, device_id: int, values: dict[str, Any]) -> None:
    """Replace the device's settings."""
    params = {key: values.get(key) for key in FIELDS}
    conn.execute(queries.text("devices_update"),
                 {"user_id": user_id, "device_id": device_id, **params})


def open_messages(conn: Connection, user_id: int, device_id: int) -> dict[str, int]:
    """How many of the device's messages are sending / waiting (queued or held)."""
    row = conn.execute(queries.text("devices_open_messages"),
                       {"user_id": user_id, "device_id": device_id}).mappings().one()
    return dict(row)


def cancel_waiting(conn: Connection, user_id: int, device_id: int) -> None:
    """queued/held → cancelled for this device."""
    messages.cancel_waiting(conn, user_id, device_id=device_id)


def delete_device(conn: Connection, user_id: int, device_id: int) -> bool:
    """Delete; False if not found."""
    return conn.execute(queries.text("devices_delete"),
                        {"user_id": user_id, "device_id": device_id}).first() is not None


def request_pairing(conn: Connection, user_id: int, device_id: int, mode: str,
                    phone: str | None) -> None:
    """status 'pairing' with the mode; the device host fills in the QR or code."""
    conn.execute(queries.text("devices_request_pairing"),
                 {"user_id": user_id, "device_id": device_id, "mode": mode, "phone": phone})


def pairing(conn: Connection, user_id: int, device_id: int) -> dict[str, Any] | None:
    """Pairing columns of the device, or None."""
    row = conn.execute(queries.text("devices_pairing"),
                       {"user_id": user_id, "device_id": device_id}).mappings().first()
    return dict(row) if row else None


def logout(conn: Connection, user_id: int, device_id: int) -> None:
    """status 'logged_out': the host stops the session and logs out of WhatsApp."""
    conn.execute(queries.text("devices_logout"), {"user_id": user_id, "device_id": device_id})
