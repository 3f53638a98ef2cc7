"""Media uploads and the monitoring endpoints."""

import io

import pytest
from sqlalchemy import text

from tests.webapp.conftest import assert_error

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def upload(account, data: bytes, name: str = "a.png", mimetype: str = "image/png"):
    return account.post("/api/media", data={"file": (io.BytesIO(data), name, mimetype)},
                        content_type="multipart/form-data")


def test_upload_get_content_and_use_in_a_step(alice):
    response = upload(alice, PNG, mimetype="application/octet-stream")
    assert response.status_code == 201, response.get_json()
    media = response.get_json()
    assert media["content_type"] == "image/png" and media["size_bytes"] == len(PNG)
    assert alice.get(f"/api/media/{media['id']}").get_json() == media
    content = alice.get(f"/api/media/{media['id']}/content")
    assert content.data == PNG and content.mimetype == "image/png"
    assert alice.get("/api/media").get_json()["items"][0]["id"] == media["id"]
    step = {"day": 1, "send_time": "09:00", "message_type": "image", "media_id": media["id"]}
    created = alice.post("/api/sequences", json={"name": "s", "niche": "n", "steps": [step]})
    assert created.status_code == 201
    assert created.get_json()["steps"][0]["media_id"] == media["id"]


@pytest.mark.parametrize("data,mimetype,status", [
    (b"", "image/png", 400),
    (b"MZ\x90\x00binary", "application/x-msdownload", 415),
    (b"hello", "text/html", 415),
])
def test_refused_uploads(alice, data, mimetype, status):
    assert_error(upload(alice, data, mimetype=mimetype), status, "file")


def test_media_over_the_limit_is_413(alice, app):
    app.config["MAX_MEDIA_BYTES"] = 32
    assert_error(upload(alice, PNG), 413, "file")


def test_another_users_media_is_404(alice, bob):
    media = upload(bob, PNG).get_json()
    assert_error(alice.get(f"/api/media/{media['id']}"), 404)
    assert_error(alice.get(f"/api/media/{media['id']}/content"), 404)
    step = {"day": 1, "send_time": "09:00", "message_type": "image", "media_id": media["id"]}
    assert_error(alice.post("/api/sequences", json={"name": "s", "niche": "n", "steps": [step]}),
                 422, "steps.0.media_id")


def _job_with_messages(engine, user_id: int) -> tuple[int, int]:
    with engine.begin() as conn:
        device = conn.execute(text("INSERT INTO devices (user_id, name, status) "
                                   "VALUES (:u, 'd', 'online') RETURNING id"),
                              {"u": user_id}).scalar_one()
        job = conn.execute(text("INSERT INTO broadcast_jobs (user_id, source, total_count) "
                                "VALUES (:u, 'api', 3) RETURNING id"), {"u": user_id}
                           ).scalar_one()
        for n, status in enumerate(("queued", "queued", "sent")):
            conn.execute(text(
                "INSERT INTO message_queue (user_id, device_id, phone, body, source, "
                "broadcast_job_id, dedupe_key, status, sent_at) VALUES (:u, :d, "
                "'+60123456789', 'x', 'api', :j, :k, :s, "
                "CASE WHEN :s = 'sent' THEN now() END)"),
                {"u": user_id, "d": device, "j": job, "k": f"api:{user_id}:{n}", "s": status})
    return device, job


def test_jobs_and_queue_stats(alice, engine):
    device, job = _job_with_messages(engine, alice.id)
    jobs = alice.get("/api/broadcast-jobs").get_json()
    assert [j["id"] for j in jobs["items"]] == [job] and jobs["next_before"] is None
    assert alice.get("/api/broadcast-jobs", query_string={"source": "campaign"}
                     ).get_json()["items"] == []
    detail = alice.get(f"/api/broadcast-jobs/{job}").get_json()
    assert detail["messages"] == {"queued": 2, "sent": 1} and detail["total_count"] == 3
    stats = alice.get("/api/queue/stats").get_json()
    assert stats["devices"][0]["device_id"] == device
    assert (stats["totals"]["queued"], stats["totals"]["sent_24h"]) == (2, 1)
    assert_error(alice.get("/api/broadcast-jobs", query_string={"source": "x"}), 422, "source")


def test_another_users_job_is_404_and_stats_are_scoped(alice, bob, engine):
    _, job = _job_with_messages(engine, bob.id)
    assert_error(alice.get(f"/api/broadcast-jobs/{job}"), 404)
    assert alice.get("/api/broadcast-jobs").get_json()["items"] == []
    assert alice.get("/api/queue/stats").get_json()["devices"] == []
