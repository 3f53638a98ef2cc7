"""Acceptance 6, end to end: image messages through the real worker and the real transport
(undialled: no WhatsApp here). A slow, oversized, wrong-typed or unreachable media URL fails that
message with a readable error; a stored file reaches the transport without any download."""

import io
import threading
import time
import uuid
from dataclasses import replace

import pytest
import segno
from sqlalchemy import text

from tests.neonize.offline import closed_port
from tests.neonize.undialled import UndialledFactory
from tests.neonize.web import Web


def _png() -> bytes:
    out = io.BytesIO()
    segno.make("dripfleet").save(out, kind="png")
    return out.getvalue()


@pytest.fixture
def send(nz_env, nz_database_url: str, monkeypatch):
    """Queue image messages on one connected device of a running worker; wait for outcomes."""
    import device_host.sending as sending_module
    from device_host.worker import Worker
    from dripfleet.database import get_engine
    from dripfleet.settings import load_settings

    monkeypatch.setenv("HEALTH_CHECK_SECONDS", "0.3")
    monkeypatch.setattr(sending_module, "MEDIA_TIMEOUT_SECONDS", 0.5)
    # the media server of these tests listens on 127.0.0.1
    settings = replace(load_settings(), min_delay_seconds=0, max_delay_seconds=0,
                       retry_backoff_seconds=0.1, max_media_mb=0.001,  # 1,048 bytes
                       allow_private_urls=True)
    engine = get_engine(nz_database_url)
    with engine.begin() as conn:
        user = conn.execute(text("INSERT INTO users (email, name) VALUES (:e, 'm') RETURNING id"),
                            {"e": f"{uuid.uuid4().hex}@example.com"}).scalar_one()
        device = conn.execute(text(
            "INSERT INTO devices (user_id, name, status, min_delay_s, max_delay_s)"
            " VALUES (:u, 'media', 'online', 0, 0) RETURNING id"), {"u": user}).scalar_one()
    factory = UndialledFactory(settings, nz_database_url)
    worker = Worker(settings, nz_database_url, f"test/{uuid.uuid4().hex[:6]}", 5, 4,
                    factory=factory)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while device not in factory.by_device:
        assert time.monotonic() < deadline, "the session never started"
        time.sleep(0.05)
    from neonize import events as ev  # after the factory: it imports neonize the quiet way

    session = factory.by_device[device]
    session.handle(session.client, ev.ConnectedEv(status=True))

    def queue(**media) -> tuple[str, str | None]:
        with engine.begin() as conn:
            if "data" in media:
                media = {"media_id": conn.execute(text(
                    "INSERT INTO media (user_id, filename, content_type, size_bytes, sha256, data)"
                    " VALUES (:u, 'qr.png', 'image/png', :n, 'x', :d) RETURNING id"),
                    {"u": user, "n": len(media["data"]), "d": media["data"]}).scalar_one()}
            message = conn.execute(text(
                "INSERT INTO message_queue (user_id, device_id, phone, message_type, media_url,"
                " media_id, source, dedupe_key, max_attempts) VALUES (:u, :d, '+60123450000',"
                " 'image', :url, :mid, 'api', :k, 1) RETURNING id"),
                {"u": user, "d": device, "url": media.get("media_url"),
                 "mid": media.get("media_id"), "k": f"api:{uuid.uuid4()}"}).scalar_one()
        deadline = time.monotonic() + 30
        while True:
            with engine.begin() as conn:
                row = conn.execute(text("SELECT status, last_error FROM message_queue"
                                        " WHERE id = :m"), {"m": message}).one()
            if row.status in ("sent", "failed") or time.monotonic() > deadline:
                return row.status, row.last_error
            time.sleep(0.05)

    yield queue, factory
    worker.request_stop()
    thread.join(30)


def test_bad_media_urls_fail_their_message_readably(send, web: str) -> None:
    queue, _factory = send
    status, error = queue(media_url=f"{web}/slow.png")
    assert status == "failed" and "media URL could not be downloaded" in error, error
    status, error = queue(media_url=f"{web}/big.png")
    assert status == "failed" and "big.png is too large" in error, error
    assert "(MAX_MEDIA_MB)" in error, error
    status, error = queue(media_url=f"{web}/login.png")
    assert status == "failed", error
    assert error.endswith("wrong media type: login.png is text/html, not an image"), error
    port = closed_port()
    url = f"http://127.0.0.1:{port}/photo.png"
    status, error = queue(media_url=url)
    assert status == "failed", error
    assert error.endswith(f"media URL could not be downloaded: {url}"), error


def test_stored_media_reaches_the_transport_without_a_download(send, web: str) -> None:
    queue, factory = send
    png = _png()
    status, error = queue(data=png)
    assert Web.hits == []
    assert factory.images == [png]  # the stored bytes, handed to neonize
    # with no WhatsApp here the upload itself fails: transient, so the one attempt is used up
    assert status == "failed" and "send image failed: the WhatsApp session is not" in error
