"""Media schemas."""

from apiflask import Schema
from apiflask.fields import File, Integer, List, Nested, String

from webapp.schemas.common import Instant


class MediaForm(Schema):
    """A multipart upload."""

    file = File(required=True)


class Media(Schema):
    """An uploaded file's metadata: use `id` as media_id in steps and campaigns."""

    id = Integer(required=True)
    filename = String(required=True)
    content_type = String(required=True)
    size_bytes = Integer(required=True)
    sha256 = String(required=True)
    created_at = Instant(required=True)


class MediaItem(Media):
    """A file in a list."""


class MediaList(Schema):
    """A page of files."""

    items = List(Nested(MediaItem), required=True)
    next_after = Integer(allow_none=True, required=True)
