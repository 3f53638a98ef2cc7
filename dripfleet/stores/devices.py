"""Devices: CRUD, pairing requests, logout, ownership checks."""

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require("devices_exists", "devices_owned_ids")


def exists(conn: Connection, user_id: int, device_id: int) -> bool:
    """Is device_id one of the user's devices?"""
    return bool(conn.execute(queries.text("devices_exists"),
                             {"user_id": user_id, "device_id": device_id}).scalar_one())


def owned_ids(conn: Connection, user_id: int, ids: list[int]) -> set[int]:
    """The subset of ids that are the user's devices."""
    return set(conn.execute(queries.text("devices_owned_ids"),
                            {"user_id": user_id, "ids": ids}).scalars())
