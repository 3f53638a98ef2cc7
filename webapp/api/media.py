"""Media: upload (stored in PostgreSQL), list, metadata, content."""

from apiflask import APIBlueprint
from flask import Response, current_app

from webapp import auth, db
from webapp.api.paging import page
from webapp.schemas.common import ID_PATH, PageQuery
from webapp.schemas.media import Media, MediaForm, MediaList
from webapp.services import media

bp = APIBlueprint("media", __name__, tag="Media", url_prefix="/api/media")
ONE = f"/<{ID_PATH}:media_id>"


@bp.post("")
@bp.input(MediaForm, location="form_and_files", arg_name="form")
@bp.output(Media, status_code=201)
@bp.doc(responses={400: "Empty file", 413: "File too large", 415: "Type not accepted"})
def upload_media(form):
    """Upload an image, video or document; use its id as media_id."""
    upload = form["file"]
    data = upload.read()
    with db.transaction() as conn:
        return media.upload(conn, auth.current_user_id(), upload.filename or "file", data,
                            upload.mimetype, current_app.config["MAX_MEDIA_BYTES"]), 201


@bp.get("")
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(MediaList)
def list_media(query):
    """The user's uploads."""
    with db.transaction() as conn:
        items = media.list_media(conn, auth.current_user_id(), query["limit"], query["after"])
    return page(items, query["limit"])


@bp.get(ONE)
@bp.output(Media)
def get_media(media_id: int):
    """Metadata of an upload."""
    with db.transaction() as conn:
        return media.get_media(conn, auth.current_user_id(), media_id)


@bp.get(f"{ONE}/content")
@bp.doc(responses={200: {"description": "The file's bytes, with its own content type",
                         "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                                     for kind in media.CONTENT_TYPES}}})
def media_content(media_id: int):
    """The file itself, with its content type."""
    with db.transaction() as conn:
        row = media.media_content(conn, auth.current_user_id(), media_id)
    return Response(bytes(row["data"]), mimetype=row["content_type"], headers={
        "Content-Disposition": f'inline; filename="{_ascii(row["filename"])}"',
        "X-Content-Type-Options": "nosniff"})


def _ascii(name: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)
