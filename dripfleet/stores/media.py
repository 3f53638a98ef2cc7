"""Uploaded media stored in PostgreSQL."""

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require("media_exists")


def exists(conn: Connection, user_id: int, media_id: int) -> bool:
    """Is media_id one of the user's uploads?"""
    return bool(conn.execute(queries.text("media_exists"),
                             {"user_id": user_id, "media_id": media_id}).scalar_one())
