"""Media uploads stored in PostgreSQL: type sniffed from the bytes, size limited."""

import hashlib
from typing import Any

from sqlalchemy import Connection

from dripfleet import media_types
from dripfleet.stores import media
from webapp.services.errors import BadFile, TooLarge, UnsupportedFile, not_found

# what POST /api/media may store, named in its OpenAPI description
CONTENT_TYPES = media_types.ACCEPTED_TYPES


def upload(conn: Connection, user_id: int, filename: str, data: bytes, declared: str | None,
           max_bytes: int) -> dict[str, Any]:
    """Store a file for use by steps and campaigns; its metadata."""
    if not data:
        raise BadFile("the file is empty", {"file": "empty"})
    if len(data) > max_bytes:
        raise TooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB",
                       {"file": "too large"})
    kind = media_types.sniff(data, filename or "", declared)
    if kind not in media_types.ACCEPTED_TYPES:
        raise UnsupportedFile("only images (JPEG, PNG, WebP, GIF), MP4/3GP video, PDF and "
                              "office documents are accepted", {"file": "unsupported type"})
    name = (filename or "file").replace("\x00", "").strip()[:255] or "file"
    return media.insert_media(conn, user_id, name, kind, data, hashlib.sha256(data).hexdigest())


def list_media(conn: Connection, user_id: int, limit: int = 50,
               after: int | None = None) -> list[dict[str, Any]]:
    """The user's uploads (metadata)."""
    return media.list_media(conn, user_id, limit, after)


def get_media(conn: Connection, user_id: int, media_id: int) -> dict[str, Any]:
    """Metadata of one upload; NotFound otherwise."""
    row = media.get_media(conn, user_id, media_id)
    if row is None:
        raise not_found("media", media_id)
    return row


def media_content(conn: Connection, user_id: int, media_id: int) -> dict[str, Any]:
    """filename, content_type and data of one upload; NotFound otherwise."""
    row = media.media_content(conn, user_id, media_id)
    if row is None:
        raise not_found("media", media_id)
    return row
