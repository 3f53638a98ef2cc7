"""A message's media as bytes: an uploaded file from the `media` table, or a URL downloaded here.

neonize fetches URLs itself with no timeout and no size limit, so the host downloads media first
(a connect/read timeout, MAX_MEDIA_MB checked against Content-Length and while streaming) and
passes bytes. The type comes from the bytes' signature (the server's Content-Type as fallback),
and a message whose media is not what it claims (an HTML error page sent as an "image") fails
with a readable error. Unreachable or slow URLs are transient (retried); answers that can never
become right (4xx, too large, wrong type) are permanent.
"""

import time
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import requests
from sqlalchemy import Connection, Engine

from device_host.transports.base import PermanentError, TransientError
from dripfleet.stores import sending

DOWNLOAD_TIMEOUT_SECONDS = 20.0
_CHUNK = 64 * 1024

# byte signatures: (offset, magic, mimetype)
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\xd0\xcf\x11\xe0", "application/msword"),
)
_ZIP_DOCUMENTS = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
KINDS = {"image": "image/", "video": "video/"}


@dataclass(frozen=True)
class Media:
    """Media bytes ready for the transport."""

    data: bytes
    filename: str
    mimetype: str


def sniff_mimetype(data: bytes, filename: str = "", declared: str | None = None) -> str:
    """The mimetype of data from its leading bytes; declared / a text guess when unknown."""
    head = data[:64]
    for offset, magic, mimetype in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            if mimetype == "application/zip":
                suffix = filename[filename.rfind("."):].lower() if "." in filename else ""
                return _ZIP_DOCUMENTS.get(suffix, mimetype)
            return mimetype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"3g"):
            return "video/3gpp"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand in (b"heic", b"heix", b"mif1"):
            return "image/heic"
        return "video/mp4"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "text/html"
    if declared:
        return declared.split(";")[0].strip().lower()
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


def check_kind(kind: str, media: Media) -> None:
    """Raise PermanentError when media cannot be sent as kind (image / video / document)."""
    prefix = KINDS.get(kind)
    if prefix is not None and not media.mimetype.startswith(prefix):
        raise PermanentError(
            f"wrong media type: {media.filename or 'the file'} is {media.mimetype}, not an {kind}"
            if kind == "image" else
            f"wrong media type: {media.filename or 'the file'} is {media.mimetype}, not a {kind}"
        )


def stored_media(conn: Connection, user_id: int, media_id: int) -> Media:
    """An uploaded file from the media table (no download)."""
    row = sending.media_data(conn, user_id, media_id)
    if row is None:
        raise PermanentError("the message's media file was deleted")
    data = bytes(row["data"])
    return Media(data, row["filename"] or "file",
                 sniff_mimetype(data, row["filename"] or "", row["content_type"]))


def _filename(url: str) -> str:
    name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
    return name or "file"


def fetch_media(url: str, limit: int, timeout: float = DOWNLOAD_TIMEOUT_SECONDS) -> Media:
    """Download url (at most limit bytes, timeout seconds per connect/read) with readable errors."""
    if urlparse(url).scheme not in ("http", "https"):
        raise PermanentError(f"media URL must be http:// or https://: {url}")
    try:
        with requests.get(url, timeout=timeout, stream=True) as response:
            if 400 <= response.status_code < 500:
                raise PermanentError(
                    f"media URL answered {response.status_code} {response.reason}: {url}")
            if response.status_code >= 500:
                raise TransientError(
                    f"media URL answered {response.status_code} {response.reason}: {url}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise PermanentError(_too_large(url, int(declared), limit))
            chunks, size = [], 0
            # the read timeout is per chunk: a server trickling bytes is cut off here
            deadline = time.monotonic() + 3 * timeout
            for chunk in response.iter_content(_CHUNK):
                if time.monotonic() > deadline:
                    raise requests.Timeout("the whole download took too long")
                size += len(chunk)
                if size > limit:
                    raise PermanentError(_too_large(url, None, limit))
                chunks.append(chunk)
            content_type = response.headers.get("content-type")
    except requests.Timeout as error:
        raise TransientError(
            f"media download timed out after {timeout:g} s: {url}") from error
    except requests.ConnectionError as error:
        raise TransientError(f"media URL is unreachable: {url} ({_reason(error)})") from error
    except requests.RequestException as error:
        raise TransientError(f"could not download media from {url}: {error}") from error
    data = b"".join(chunks)
    if not data:
        raise PermanentError(f"media URL returned an empty file: {url}")
    name = _filename(url)
    return Media(data, name, sniff_mimetype(data, name, content_type))


def _too_large(url: str, size: int | None, limit: int) -> str:
    mb = limit / (1024 * 1024)
    what = f"{size / (1024 * 1024):.1f} MB" if size is not None else "more than that"
    return f"media at {url} is too large: {what}, the limit is {mb:g} MB (MAX_MEDIA_MB)"


def _reason(error: BaseException) -> str:
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "No route to host",
                   "Temporary failure in name resolution", "Network is unreachable"):
        if marker in text:
            return marker.lower()
    return type(error).__name__


def load_media(db: Engine | Connection | None, row: dict, limit: int,
               timeout: float = DOWNLOAD_TIMEOUT_SECONDS) -> Media:
    """A message_queue row's media: stored (media_id) without download, else its media_url.

    Given an Engine, a connection is taken only to read stored media: none is held while a URL
    downloads."""
    if row.get("media_id") is not None:
        if isinstance(db, Engine):
            with db.begin() as conn:
                media = stored_media(conn, row["user_id"], row["media_id"])
        else:
            media = stored_media(db, row["user_id"], row["media_id"])
    elif row.get("media_url"):
        media = fetch_media(row["media_url"], limit, timeout)
    else:
        raise PermanentError("the message has no media")
    check_kind(row["message_type"], media)
    return media
