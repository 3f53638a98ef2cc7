"""Media uploads stored in PostgreSQL: type sniffed from the bytes, size limited."""

import hashlib
from typing import Any

from sqlalchemy import Connection

from dripfleet.stores import media
from webapp.services.errors import BadFile, TooLarge, UnsupportedFile, not_found

# leading bytes -> content type; WhatsApp accepts these as image / video / document
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
_DOCUMENT_TYPES = {
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/zip", "text/plain", "text/csv",
}

CONTENT_TYPES = tuple(sorted({kind for _, kind in _SIGNATURES} | _DOCUMENT_TYPES
                             | {"image/webp", "video/mp4", "video/3gpp"}))


def sniff_type(data: bytes, declared: str | None) -> str | None:
    """The content type the bytes really have, or None when not accepted."""
    for magic, kind in _SIGNATURES:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/3gpp" if data[8:11] == b"3gp" else "video/mp4"
    declared = (declared or "").split(";")[0].strip().lower()
    if declared in _DOCUMENT_TYPES and (declared != "application/zip" or data[:2] == b"PK"):
        if declared.startswith("text/") and b"\x00" in data[:4096]:
            return None
        return declared
    if data[:2] == b"PK" and declared.startswith("application/vnd.openxmlformats"):
        return declared
    return None


def upload(conn: Connection, user_id: int, filename: str, data: bytes, declared: str | None,
           max_bytes: int) -> dict[str, Any]:
    """Store a file for use by steps and campaigns; its metadata."""
    if not data:
        raise BadFile("the file is empty", {"file": "empty"})
    if len(data) > max_bytes:
        raise TooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB",
                       {"file": "too large"})
    kind = sniff_type(data, declared)
    if kind is None:
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
