"""Acceptance 6: media by URL fails readably on timeout, oversize, wrong type and unreachable
URLs; stored media goes through without a download (a local http.server plays the web)."""

import pytest
from sqlalchemy import text

from device_host.transports.base import DeviceInfo, PermanentError, TransientError
from device_host.transports.media_fetch import fetch_media, load_media
from tests.neonize.offline import closed_port
from tests.neonize.web import HTML, LIMIT, PNG, Web


def _row(kind: str = "image", **values) -> dict:
    return {"user_id": 1, "message_type": kind, "media_id": None, "media_url": None, **values}


def test_a_good_image_url_is_downloaded_and_typed(web: str) -> None:
    media = fetch_media(f"{web}/photo.png", LIMIT, timeout=1)
    assert media.data == PNG and media.mimetype == "image/png" and media.filename == "photo.png"


@pytest.mark.parametrize("path, error, words", [
    ("/slow.png", TransientError, "media URL could not be downloaded"),
    ("/big.png", PermanentError, "is too large"),
    ("/login.png", PermanentError, "wrong media type: login.png is text/html, not an image"),
    ("/missing.png", PermanentError, "media URL answered 404"),
])
def test_bad_media_urls_fail_the_message_readably(web: str, path, error, words) -> None:
    with pytest.raises(error) as raised:
        load_media(None, _row(media_url=f"{web}{path}"), LIMIT, timeout=0.5)
    assert words in str(raised.value)
    assert f"{web}{path}" in str(raised.value) or "login.png" in str(raised.value)


def test_unreachable_media_url_fails_readably(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    url = f"http://127.0.0.1:{closed_port()}/photo.png"
    with pytest.raises(TransientError) as raised:
        load_media(None, _row(media_url=url), LIMIT, timeout=0.5)
    # the same words as a timeout: a refused connection must not tell which ports are open
    assert str(raised.value) == f"media URL could not be downloaded: {url}"


def test_stored_media_is_read_from_the_database_without_a_download(
    factory, nz_database_url: str, web: str
) -> None:
    from dripfleet.database import get_engine

    engine = get_engine(nz_database_url)
    with engine.begin() as conn:
        user = conn.execute(text("INSERT INTO users (email, name) VALUES"
                                 " ('media@example.com', 'm') RETURNING id")).scalar_one()
        media_id = conn.execute(text(
            "INSERT INTO media (user_id, filename, content_type, size_bytes, sha256, data)"
            " VALUES (:u, 'logo.png', 'image/png', :n, 'x', :d) RETURNING id"),
            {"u": user, "n": len(PNG), "d": PNG}).scalar_one()
        media = load_media(conn, _row(user_id=user, media_id=media_id,
                                      media_url=f"{web}/photo.png"), LIMIT)
    assert media.data == PNG and media.mimetype == "image/png" and media.filename == "logo.png"
    assert Web.hits == []  # no download happened


def test_transport_refuses_wrong_type_and_video_without_ffmpeg(factory) -> None:
    session = factory.open(DeviceInfo(device_id=31, user_id=1, name="m"))
    with pytest.raises(PermanentError, match="text/html, not an image"):
        session.send_image("+60123456789", HTML)
    if factory.video_problem:
        with pytest.raises(PermanentError, match="ffmpeg"):
            session.send_video("+60123456789", b"\x00\x00\x00\x18ftypmp42")
    else:
        with pytest.raises(PermanentError, match="not a video"):
            session.send_video("+60123456789", PNG)
