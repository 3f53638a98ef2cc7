"""A media file chosen in a page's form, stored by the same media service as POST /api/media."""

from typing import Any

from flask import current_app
from sqlalchemy import Connection
from werkzeug.datastructures import FileStorage

from webapp.services.errors import ServiceError


class MediaUnavailable(ServiceError):
    """Media upload is not available in this build."""

    status = 501
    code = "not_implemented"


def save_upload(conn: Connection, user_id: int, upload: FileStorage | None) -> int | None:
    """Store the uploaded file as the user's media; its id, or None when no file was chosen."""
    if upload is None or not upload.filename:
        return None
    try:
        from webapp.services import media
    except ModuleNotFoundError as error:
        if error.name != "webapp.services.media":
            raise
        raise MediaUnavailable("media upload is not available yet: give a media URL") from None
    stored: dict[str, Any] = media.upload(
        conn, user_id, upload.filename, upload.read(), upload.mimetype or None,
        current_app.config["MAX_MEDIA_BYTES"])
    return int(stored["id"])
