"""Campaigns: CRUD, schedule / pause / resume / cancel moving messages, progress."""

import pytest
from sqlalchemy import text

from tests.conftest import scalar
from tests.webapp.conftest import assert_error

BODY = {"title": "Promo", "niche": "Fitness", "body": "{Hi|Hello} {{ first_name }}",
        "scheduled_at": "2030-01-02T09:00:00+08:00", "timezone": "Asia/Kuala_Lumpur"}


def make_campaign(account, **overrides) -> dict:
    response = account.post("/api/campaigns", json={**BODY, **overrides})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_get_list_update_delete(alice):
    campaign = make_campaign(alice)
    assert campaign["status"] == "draft" and campaign["niche"] == "fitness"
    assert campaign["scheduled_at"] == "2030-01-02T01:00:00+00:00"
    assert alice.get(f"/api/campaigns/{campaign['id']}").get_json() == campaign
    assert [c["id"] for c in alice.get("/api/campaigns").get_json()["items"]] == [campaign["id"]]
    updated = alice.put(f"/api/campaigns/{campaign['id']}",
                        json={**BODY, "title": "Promo 2", "scheduled_at": None,
                              "scheduled_date": "2030-04-05", "scheduled_time": "09:30",
                              "timezone": "Europe/London"}).get_json()
    assert updated["title"] == "Promo 2"
    assert updated["scheduled_at"] == "2030-04-05T08:30:00+00:00"  # BST
    assert alice.delete(f"/api/campaigns/{campaign['id']}").status_code == 204
    assert_error(alice.get(f"/api/campaigns/{campaign['id']}"), 404)


@pytest.mark.parametrize("change,field", [
    ({"title": ""}, "title"),
    ({"body": ""}, "body"),
    ({"body": "{{ name "}, "body"),
    ({"niche": "a|b"}, "niche"),
    ({"scheduled_at": "2030-01-02T09:00:00"}, "scheduled_at"),
    ({"scheduled_at": "tomorrow"}, "scheduled_at"),
    ({"scheduled_at": None, "scheduled_date": "2030-01-02"}, "scheduled_time"),
    ({"message_type": "image"}, "media"),
    ({"message_type": "audio"}, "message_type"),
    ({"media": "ftp://x/y.png"}, "media"),
    ({"pinned_device_id": 4242}, "pinned_device_id"),
    ({"target_status": "everyone"}, "target_status"),
])
def test_validation_names_the_field(alice, change, field):
    assert_error(alice.post("/api/campaigns", json={**BODY, **change}), 422, field)


def _message(engine, user_id: int, campaign_id: int, key: str, status: str = "queued") -> int:
    with engine.begin() as conn:
        device = conn.execute(text(
            "INSERT INTO devices (user_id, name, status) VALUES (:u, :n, 'online') RETURNING id"
        ), {"u": user_id, "n": key}).scalar_one()
        job = conn.execute(text(
            "INSERT INTO broadcast_jobs (user_id, source, campaign_id, total_count) "
            "VALUES (:u, 'campaign', :c, 1) RETURNING id"), {"u": user_id, "c": campaign_id}
        ).scalar_one()
        return conn.execute(text(
            "INSERT INTO message_queue (user_id, device_id, phone, body, source, campaign_id, "
            "broadcast_job_id, dedupe_key, status) VALUES (:u, :d, '+60123456789', 'x', "
            "'campaign', :c, :j, :k, :s) RETURNING id"),
            {"u": user_id, "d": device, "c": campaign_id, "j": job, "k": key, "s": status}
        ).scalar_one()


def status_of(engine, message_id: int) -> str:
    return scalar(engine, "SELECT status FROM message_queue WHERE id = :i", i=message_id)


def test_schedule_pause_resume_cancel_move_messages(alice, engine):
    campaign = make_campaign(alice)
    cid = campaign["id"]
    assert_error(alice.post(f"/api/campaigns/{cid}/pause"), 409, "status")
    scheduled = alice.post(f"/api/campaigns/{cid}/schedule", json={})
    assert scheduled.get_json()["status"] == "scheduled"
    with engine.begin() as conn:
        conn.execute(text("UPDATE campaigns SET status = 'running', started_at = now() "
                          "WHERE id = :c"), {"c": cid})
    message = _message(engine, alice.id, cid, "camp:1")
    sent = _message(engine, alice.id, cid, "camp:2", "sent")
    assert alice.post(f"/api/campaigns/{cid}/pause").get_json()["status"] == "paused"
    assert status_of(engine, message) == "held"
    assert alice.post(f"/api/campaigns/{cid}/resume").get_json()["status"] == "running"
    assert status_of(engine, message) == "queued"
    alice.post(f"/api/campaigns/{cid}/pause")
    assert alice.post(f"/api/campaigns/{cid}/cancel").get_json()["status"] == "cancelled"
    assert status_of(engine, message) == "cancelled" and status_of(engine, sent) == "sent"
    assert scalar(engine, "SELECT sum(cancelled_count) FROM broadcast_jobs WHERE user_id = :u",
                  u=alice.id) == 1
    assert_error(alice.post(f"/api/campaigns/{cid}/cancel"), 409)
    assert_error(alice.put(f"/api/campaigns/{cid}", json=BODY), 409)


def test_schedule_at_a_local_time_and_without_time(alice):
    campaign = make_campaign(alice, scheduled_at=None)
    assert_error(alice.post(f"/api/campaigns/{campaign['id']}/schedule", json={}), 422,
                 "scheduled_at")
    body = alice.post(f"/api/campaigns/{campaign['id']}/schedule", json={
        "scheduled_date": "2030-06-01", "scheduled_time": "08:00"}).get_json()
    assert body["scheduled_at"] == "2030-06-01T00:00:00+00:00"


def test_progress(alice, engine):
    for n in range(3):
        alice.post("/api/leads", json={"phone": f"+6012345670{n}", "niches": ["fitness"]})
    alice.post("/api/leads", json={"phone": "+60123456799", "niches": ["yoga"]})
    campaign = make_campaign(alice)
    _message(engine, alice.id, campaign["id"], "camp:a")
    _message(engine, alice.id, campaign["id"], "camp:b", "sent")
    progress = alice.get(f"/api/campaigns/{campaign['id']}/progress").get_json()
    assert progress["audience_size"] == 3
    # pending: one lead not materialised yet and one message still queued
    assert (progress["queued"], progress["sent"], progress["pending"]) == (1, 1, 2)
    assert (progress["delivered"], progress["read"]) == (0, 0)
    assert len(progress["devices"]) == 2
    assert progress["failed_by_class"] == {"device": 0, "recipient": 0, "content": 0}


def test_progress_counts_failures_by_class(alice, engine):
    campaign = make_campaign(alice)
    for key, failure_class in (("a", "recipient"), ("b", "recipient"), ("c", "content")):
        message = _message(engine, alice.id, campaign["id"], f"camp:fc{key}", "failed")
        with engine.begin() as conn:
            conn.execute(text("UPDATE message_queue SET failure_class = :f WHERE id = :m"),
                         {"f": failure_class, "m": message})
    progress = alice.get(f"/api/campaigns/{campaign['id']}/progress").get_json()
    assert progress["failed"] == 3
    assert progress["failed_by_class"] == {"device": 0, "recipient": 2, "content": 1}


def test_progress_counts_receipts(alice, engine):
    campaign = make_campaign(alice)
    for key, delivered, read in (("a", True, True), ("b", True, False), ("c", False, False)):
        message = _message(engine, alice.id, campaign["id"], f"camp:rc{key}", "sent")
        with engine.begin() as conn:
            conn.execute(text(
                "UPDATE message_queue SET delivered_at = CASE WHEN :d THEN now() END,"
                " read_at = CASE WHEN :r THEN now() END WHERE id = :m"),
                {"d": delivered, "r": read, "m": message})
    progress = alice.get(f"/api/campaigns/{campaign['id']}/progress").get_json()
    assert (progress["sent"], progress["delivered"], progress["read"]) == (3, 2, 1)


CAMPAIGN_CALLS = [
    ("GET", "/api/campaigns/{id}", None), ("PUT", "/api/campaigns/{id}", BODY),
    ("DELETE", "/api/campaigns/{id}", None), ("POST", "/api/campaigns/{id}/schedule", {}),
    ("POST", "/api/campaigns/{id}/pause", None), ("POST", "/api/campaigns/{id}/resume", None),
    ("POST", "/api/campaigns/{id}/cancel", None), ("GET", "/api/campaigns/{id}/progress", None),
]


@pytest.mark.parametrize("method,path,body", CAMPAIGN_CALLS)
def test_another_users_campaign_is_404(alice, bob, method, path, body):
    campaign = make_campaign(bob)
    response = alice.client.open(path.format(id=campaign["id"]), method=method, json=body,
                                 headers=alice.headers)
    assert_error(response, 404)
    assert bob.get(f"/api/campaigns/{campaign['id']}").get_json() == campaign
