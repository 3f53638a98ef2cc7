"""One media-type sniffing: what POST /api/media stores, the device host sends as the same type
(uploaded or downloaded), and a disguised file is refused by both."""

import io
import zipfile
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from device_host.transports.base import ContentError
from device_host.transports.media_fetch import load_media
from dripfleet.public_urls import UrlPolicy
from tests.local_http import LocalServer
from tests.webapp.conftest import assert_error

LIMIT = 100_000
PRIVATE_OK = UrlPolicy(allow_private=True)


def _zip(*names: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return out.getvalue()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
HTML = b"<!DOCTYPE html><html><body>Please log in</body></html>"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# (file name, bytes, declared type, message type it is sent as, the type both ends read)
GOOD = [
    ("photo.png", PNG, "application/octet-stream", "image", "image/png"),
    ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64, "image/jpeg", "image",
     "image/jpeg"),
    ("clip.mp4", b"\x00\x00\x00\x18ftypmp41" + b"\x00" * 64, "video/mp4", "video", "video/mp4"),
    ("plan.pdf", b"%PDF-1.4\n" + b"\x00" * 64, "application/pdf", "document", "application/pdf"),
    ("cv.docx", _zip("[Content_Types].xml", "word/document.xml"), "application/octet-stream",
     "document", DOCX),
    ("leads.csv", b"name,phone\nAli,+60123456789\n", "text/csv", "document", "text/csv"),
    ("photo.png", PNG, "image/png", "document", "image/png"),  # a photo sent as a file
]
# (file name, bytes, declared type, the message type the disguise claims)
DISGUISED = [
    ("photo.png", EXE, "image/png", "image"),
    ("plan.pdf", EXE, "application/pdf", "document"),
    ("letter.doc", EXE, "application/msword", "document"),
    ("photo.png", HTML, "image/png", "image"),
    ("clip.mp4", HTML, "video/mp4", "video"),
]


def upload(account, data: bytes, name: str, declared: str):
    return account.post("/api/media", data={"file": (io.BytesIO(data), name, declared)},
                        content_type="multipart/form-data")


@pytest.fixture
def web() -> Iterator[LocalServer]:
    """Serves web.files (path -> (Content-Type, bytes)); 404 for any other path."""
    files: dict[str, tuple[str, bytes]] = {}
    server = LocalServer(lambda path: (200, {"Content-Type": files[path][0]}, files[path][1])
                         if path in files else (404, {}, b"not found"))
    server.files = files  # type: ignore[attr-defined]
    yield server
    server.close()


def _row(user_id: int, kind: str, media_id: int | None = None, url: str | None = None) -> dict:
    return {"user_id": user_id, "message_type": kind, "media_id": media_id, "media_url": url}


@pytest.mark.parametrize("name, data, declared, kind, expected", GOOD)
def test_an_accepted_upload_is_sent_as_the_same_type_stored_or_by_url(
        alice, engine: Engine, web: LocalServer, name, data, declared, kind, expected) -> None:
    response = upload(alice, data, name, declared)
    assert response.status_code == 201, response.get_json()
    stored = response.get_json()
    assert stored["content_type"] == expected
    with engine.begin() as conn:
        sent = load_media(conn, _row(alice.id, kind, media_id=stored["id"]), LIMIT)
    assert sent.mimetype == expected and sent.data == data
    web.files[f"/{name}"] = (declared, data)
    fetched = load_media(None, _row(alice.id, kind, url=f"{web.url}/{name}"), LIMIT,
                         policy=PRIVATE_OK)
    assert fetched.mimetype == expected and fetched.data == data


@pytest.mark.parametrize("name, data, declared, kind", DISGUISED)
def test_a_disguised_file_is_refused_by_upload_and_by_the_sender(
        alice, web: LocalServer, name, data, declared, kind) -> None:
    assert_error(upload(alice, data, name, declared), 415, "file")
    web.files[f"/{name}"] = (declared, data)
    with pytest.raises(ContentError, match=f"wrong media type: {name} is "):
        load_media(None, _row(alice.id, kind, url=f"{web.url}/{name}"), LIMIT, policy=PRIVATE_OK)


def test_an_upload_of_one_kind_is_refused_as_another_at_send(alice, engine: Engine) -> None:
    pdf = upload(alice, b"%PDF-1.4\n" + b"\x00" * 64, "plan.pdf", "application/pdf").get_json()
    with engine.begin() as conn, pytest.raises(
            ContentError, match="wrong media type: plan.pdf is application/pdf, not an image"):
        load_media(conn, _row(alice.id, "image", media_id=pdf["id"]), LIMIT)
