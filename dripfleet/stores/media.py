"""Uploaded media stored in PostgreSQL."""

from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require("media_exists", "media_insert", "media_list", "media_get", "media_content")


def exists(conn: Connection, user_id: int, media_id: int) -> bool:
    """Is media_id one of the user's uploads?"""
    return bool(conn.execute(queries.text("media_exists"),
                             {"user_id": user_id, "media_id": media_id}).scalar_one())


def insert_media(conn: Connection, user_id: int, filename: str, content_type: str, data: bytes,
                 sha256: str) -> dict[str, Any]:
    """Store a file; its metadata."""
    row = conn.execute(queries.text("media_insert"), {
        "user_id": user_id, "filename": filename, "content_type": content_type,
        "size_bytes": len(data), "sha256": sha256, "data": data}).mappings().one()
    return dict(row)


def list_media(conn: Connection, user_id: int, limit: int = 50,
               after: int | None = None) -> list[dict[str, Any]]:
    """Metadata of the user's files by id."""
    rows = conn.execute(queries.text("media_list"),
                        {"user_id": user_id, "limit": limit, "after": after}).mappings()
    return [dict(row) for row in rows]


def get_media(conn: Connection, user_id: int, media_id: int) -> dict[str, Any] | None:
    """Metadata of one file, or None."""
    row = conn.execute(queries.text("media_get"),
                       {"user_id": user_id, "media_id": media_id}).mappings().first()
    return dict(row) if row else None


def media_content(conn: Connection, user_id: int, media_id: int) -> dict[str, Any] | None:
    """filename, content_type and bytes of one file, or None."""
    row = conn.execute(queries.text("media_content"),
                       {"user_id": user_id, "media_id": media_id}).mappings().first()
    return dict(row) if row else None
