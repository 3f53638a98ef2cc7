"""A message's media as bytes: an uploaded file from the `media` table, or a URL downloaded here.

neonize fetches URLs itself with no timeout, no size limit and no address check, so the host
downloads media first through dripfleet.public_urls (public addresses only unless
ALLOW_PRIVATE_URLS, every redirect re-checked, time and MAX_MEDIA_MB capped) and passes bytes. The
type comes from the bytes (dripfleet.media_types, the same sniffing as uploads; the server's
Content-Type and the URL's file name only break ties), and a message whose media is not what it
claims (an HTML error page sent as an "image") fails with a readable error.
Every media failure is class 'content': a server that is down, slow or answers 5xx is transient
(retried); what can never become right (refused address, 4xx, too large, wrong type, empty) is a
permanent ContentError.
"""

from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from sqlalchemy import Connection, Engine

from device_host.transports.base import ContentError, TransientError
from dripfleet import media_types, public_urls
from dripfleet.public_urls import FetchFailed, TooLarge, UrlPolicy, UrlRefused
from dripfleet.settings import load_settings
from dripfleet.stores import sending

DOWNLOAD_TIMEOUT_SECONDS = 20.0

# the transports' name for the one sniffing (neonize_transport imports it from here)
sniff_mimetype = media_types.sniff


@dataclass(frozen=True)
class Media:
    """Media bytes ready for the transport."""

    data: bytes
    filename: str
    mimetype: str


def check_kind(kind: str, media: Media) -> None:
    """Raise ContentError when media cannot be sent as kind (image / video / document)."""
    if not media_types.allowed(kind, media.mimetype):
        raise ContentError(
            f"wrong media type: {media.filename or 'the file'} is {media.mimetype}, not an {kind}"
            if kind == "image" else
            f"wrong media type: {media.filename or 'the file'} is {media.mimetype}, not a {kind}"
        )


def stored_media(conn: Connection, user_id: int, media_id: int) -> Media:
    """An uploaded file from the media table (no download)."""
    row = sending.media_data(conn, user_id, media_id)
    if row is None:
        raise ContentError("the message's media file was deleted")
    data = bytes(row["data"])
    return Media(data, row["filename"] or "file",
                 media_types.sniff(data, row["filename"] or "", row["content_type"]))


def _filename(url: str) -> str:
    name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
    return name or "file"


def fetch_media(url: str, limit: int, timeout: float = DOWNLOAD_TIMEOUT_SECONDS,
                policy: UrlPolicy | None = None) -> Media:
    """Download url from public addresses (at most limit bytes, timeout seconds per connect/read,
    3 × timeout in all); ContentError or TransientError('content') with readable texts."""
    try:
        fetched = public_urls.fetch(url, limit, policy or default_policy(), timeout)
    except UrlRefused as error:
        raise ContentError(f"media URL refused: {error}: {url}") from None
    except TooLarge as error:
        raise ContentError(_too_large(url, error.size, limit)) from None
    except FetchFailed as error:
        # the kernel's words: an HTTP status, or a generic text that hides what (did not) answer
        text = f"media URL {error}: {url}"
        if error.permanent:
            raise ContentError(text) from None
        raise TransientError(text, failure_class="content") from None
    if not fetched.data:
        raise ContentError(f"media URL returned an empty file: {url}")
    name = _filename(url)
    return Media(fetched.data, name, media_types.sniff(fetched.data, name, fetched.content_type))


def default_policy() -> UrlPolicy:
    """What media downloads may reach: public addresses, unless ALLOW_PRIVATE_URLS."""
    return UrlPolicy(allow_private=load_settings().allow_private_urls)


def _too_large(url: str, size: int | None, limit: int) -> str:
    mb = limit / (1024 * 1024)
    what = f"{size / (1024 * 1024):.1f} MB" if size is not None else "more than that"
    return f"media at {url} is too large: {what}, the limit is {mb:g} MB (MAX_MEDIA_MB)"


def load_media(db: Engine | Connection | None, row: dict, limit: int,
               timeout: float = DOWNLOAD_TIMEOUT_SECONDS, policy: UrlPolicy | None = None) -> Media:
    """A message_queue row's media: stored (media_id) without download, else its media_url.

    Given an Engine, a connection is taken only to read stored media: none is held while a URL
    downloads. policy None: default_policy() (the environment's ALLOW_PRIVATE_URLS)."""
    if row.get("media_id") is not None:
        if isinstance(db, Engine):
            with db.begin() as conn:
                media = stored_media(conn, row["user_id"], row["media_id"])
        else:
            media = stored_media(db, row["user_id"], row["media_id"])
    elif row.get("media_url"):
        media = fetch_media(row["media_url"], limit, timeout, policy)
    else:
        raise ContentError("the message has no media")
    check_kind(row["message_type"], media)
    return media
