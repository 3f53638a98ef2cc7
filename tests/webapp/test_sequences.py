"""The seed's nine sequence endpoints, contacts removal, logs, and pause/start holding messages."""

import pytest
from sqlalchemy import text

from tests.conftest import scalar
from tests.webapp.conftest import assert_error

STEPS = [
    {"day": 1, "send_time": "09:00", "message_type": "text", "body": "{Hi|Hello} {{ name }}"},
    {"day": 3, "send_time": "18:30", "message_type": "image", "media": "https://x.test/a.png",
     "caption": "Day 3"},
]


def make_sequence(account, **overrides) -> dict:
    body = {"name": "Welcome", "niche": " Fitness ", "timezone": "Asia/Kuala_Lumpur",
            "steps": STEPS, **overrides}
    response = account.post("/api/sequences", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_get_list(alice):
    created = make_sequence(alice)
    assert created["niche"] == "fitness"
    assert created["status"] == "draft"
    assert [s["day"] for s in created["steps"]] == [1, 3]
    assert created["steps"][1]["media"] == "https://x.test/a.png"
    got = alice.get(f"/api/sequences/{created['id']}").get_json()
    assert got == created
    listed = alice.get("/api/sequences").get_json()
    assert [s["id"] for s in listed["items"]] == [created["id"]]
    assert listed["items"][0]["step_count"] == 2


def test_put_replaces_steps_without_duplicating(alice, engine):
    created = make_sequence(alice)
    day1 = created["steps"][0]["id"]
    new_steps = [{"day": 1, "send_time": "10:00", "body": "changed"},
                 {"day": 2, "send_time": "10:00", "body": "two"}]
    for _ in range(2):
        response = alice.put(f"/api/sequences/{created['id']}",
                             json={"name": "W2", "niche": "yoga", "steps": new_steps})
        assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [(s["day"], s["body"]) for s in body["steps"]] == [(1, "changed"), (2, "two")]
    assert body["steps"][0]["id"] == day1
    assert scalar(engine, "SELECT count(*) FROM sequence_steps WHERE user_id = :u",
                  u=alice.id) == 2
    # PUT without steps keeps them
    alice.put(f"/api/sequences/{created['id']}", json={"name": "W3", "niche": "yoga"})
    assert scalar(engine, "SELECT count(*) FROM sequence_steps WHERE user_id = :u",
                  u=alice.id) == 2


@pytest.mark.parametrize("change,field", [
    ({"name": ""}, "name"),
    ({"niche": "a,b"}, "niche"),
    ({"timezone": "Nowhere/Land"}, "timezone"),
    ({"pinned_device_id": 999}, "pinned_device_id"),
    ({"steps": [{"day": 1, "send_time": "25:00", "body": "x"}]}, "steps.0.send_time"),
    ({"steps": [{"day": 1, "send_time": "09:00", "body": ""}]}, "steps.0.body"),
    ({"steps": [{"day": 1, "send_time": "09:00", "body": "{% for x in y %}"}]}, "steps.0.body"),
    ({"steps": [{"day": 1, "send_time": "09:00", "message_type": "video"}]}, "steps.0.media"),
    ({"steps": [{"day": 1, "send_time": "09:00", "body": "a"},
                {"day": 1, "send_time": "10:00", "body": "b"}]}, "steps.1.day"),
    ({"steps": [{"day": 1, "send_time": "09:00", "message_type": "image", "media_id": 7}]},
     "steps.0.media_id"),
    ({"name": "nul\x00"}, "name"),
])
def test_validation_names_the_field(alice, change, field):
    body = {"name": "S", "niche": "fitness", **change}
    assert_error(alice.post("/api/sequences", json=body), 422, field)


def test_missing_required_fields(alice):
    error = assert_error(alice.post("/api/sequences", json={}), 422)
    assert {"name", "niche"} <= set(error["fields"])


def test_contacts_by_id_and_phone(alice, engine):
    seq = make_sequence(alice)
    lead = alice.post("/api/leads", json={"phone": "+60123456789", "name": "Ann"}).get_json()
    response = alice.post(f"/api/sequences/{seq['id']}/contacts",
                          json={"lead_ids": [lead["id"]],
                                "phones": ["012-345 6780", "+60123456789"]})
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["added"] == 2 and report["leads_created"] == 1
    again = alice.post(f"/api/sequences/{seq['id']}/contacts", json={"lead_ids": [lead["id"]]})
    assert again.get_json()["already_enrolled"] == 1
    contacts = alice.get(f"/api/sequences/{seq['id']}/contacts").get_json()["items"]
    assert {c["phone"] for c in contacts} == {"+60123456789", "+60123456780"}
    first = contacts[0]
    assert first["status"] == "active" and first["current_day"] == 0
    assert first["total_days"] == 2
    assert first["next_due_at"].endswith("+00:00")
    assert_error(alice.post(f"/api/sequences/{seq['id']}/contacts", json={"phones": ["abc"]}),
                 422, "phones.0")
    assert_error(alice.post(f"/api/sequences/{seq['id']}/contacts", json={"lead_ids": [99999]}),
                 422, "lead_ids")
    assert_error(alice.post(f"/api/sequences/{seq['id']}/contacts", json={}), 422, "lead_ids")
    response = alice.delete(f"/api/sequences/{seq['id']}/contacts/{first['id']}")
    assert response.status_code == 204
    assert len(alice.get(f"/api/sequences/{seq['id']}/contacts").get_json()["items"]) == 1
    assert_error(alice.delete(f"/api/sequences/{seq['id']}/contacts/{first['id']}"), 404)


def _queue_message(engine, user_id: int, sequence_id: int, status: str = "queued") -> int:
    with engine.begin() as conn:
        device = conn.execute(text(
            "INSERT INTO devices (user_id, name, status) VALUES (:u, 'd', 'online') RETURNING id"
        ), {"u": user_id}).scalar_one()
        lead = conn.execute(text(
            "INSERT INTO leads (user_id, phone) VALUES (:u, '+60123000111') "
            "ON CONFLICT (user_id, phone) DO UPDATE SET name = leads.name RETURNING id"
        ), {"u": user_id}).scalar_one()
        contact = conn.execute(text(
            "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id) VALUES (:u, :s, :l) "
            "ON CONFLICT (sequence_id, lead_id) DO UPDATE SET status = 'active' RETURNING id"
        ), {"u": user_id, "s": sequence_id, "l": lead}).scalar_one()
        return conn.execute(text(
            "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source, "
            "sequence_id, contact_id, dedupe_key, status) VALUES (:u, :d, :l, '+60123000111', "
            "'hi', 'sequence', :s, :c, :k, :st) RETURNING id"
        ), {"u": user_id, "d": device, "l": lead, "s": sequence_id, "c": contact,
            "k": f"seq:{contact}:{status}", "st": status}).scalar_one()


def test_start_and_pause_move_queued_and_held(alice, engine):
    seq = make_sequence(alice)
    assert_error(alice.post(f"/api/sequences/{seq['id']}/pause"), 409)
    started = alice.post(f"/api/sequences/{seq['id']}/start")
    assert started.status_code == 200 and started.get_json()["status"] == "active"
    message = _queue_message(engine, alice.id, seq["id"])
    paused = alice.post(f"/api/sequences/{seq['id']}/pause")
    assert paused.get_json()["status"] == "paused"
    assert scalar(engine, "SELECT status FROM message_queue WHERE id = :i", i=message) == "held"
    alice.post(f"/api/sequences/{seq['id']}/start")
    assert scalar(engine, "SELECT status FROM message_queue WHERE id = :i", i=message) == "queued"


def test_start_without_steps_is_409(alice):
    seq = make_sequence(alice, steps=[])
    assert_error(alice.post(f"/api/sequences/{seq['id']}/start"), 409, "steps")


def test_delete_cancels_waiting_messages(alice, engine):
    seq = make_sequence(alice)
    message = _queue_message(engine, alice.id, seq["id"])
    assert alice.delete(f"/api/sequences/{seq['id']}").status_code == 204
    assert scalar(engine, "SELECT status FROM message_queue WHERE id = :i", i=message) == \
        "cancelled"
    assert_error(alice.get(f"/api/sequences/{seq['id']}"), 404)


def test_logs(alice, engine):
    seq = make_sequence(alice)
    message = _queue_message(engine, alice.id, seq["id"])
    with engine.begin() as conn:
        conn.execute(text(
            # the message of a step is its log entry
            "UPDATE message_queue SET step_day = 1 WHERE id = :m"
        ), {"m": message})
    logs = alice.get(f"/api/sequences/{seq['id']}/logs").get_json()
    assert [(g["day"], g["status"], g["phone"]) for g in logs["items"]] == \
        [(1, "queued", "+60123000111")]
    assert logs["next_before"] is None


SEQUENCE_CALLS = [
    ("GET", "/api/sequences/{id}", None),
    ("PUT", "/api/sequences/{id}", {"name": "x", "niche": "y"}),
    ("DELETE", "/api/sequences/{id}", None),
    ("POST", "/api/sequences/{id}/contacts", {"phones": ["+60123456789"]}),
    ("GET", "/api/sequences/{id}/contacts", None),
    ("POST", "/api/sequences/{id}/start", None),
    ("POST", "/api/sequences/{id}/pause", None),
    ("GET", "/api/sequences/{id}/logs", None),
    ("DELETE", "/api/sequences/{id}/contacts/1", None),
]


@pytest.mark.parametrize("method,path,body", SEQUENCE_CALLS)
def test_another_users_sequence_is_404(alice, bob, engine, method, path, body):
    seq = make_sequence(bob)
    response = alice.client.open(path.format(id=seq["id"]), method=method, json=body,
                                 headers=alice.headers)
    assert_error(response, 404)
    assert bob.get(f"/api/sequences/{seq['id']}").get_json()["name"] == "Welcome"
    assert scalar(engine, "SELECT count(*) FROM leads WHERE user_id = :u", u=alice.id) == 0


def test_on_reply_defaults_to_stop_is_validated_and_kept_by_a_put_without_it(alice):
    created = make_sequence(alice)
    assert created["on_reply"] == "stop"
    assert_error(alice.post("/api/sequences", json={"name": "x", "niche": "y",
                                                    "on_reply": "ignore"}), 422, "on_reply")
    changed = alice.put(f"/api/sequences/{created['id']}",
                        json={"name": "Welcome", "niche": "fitness", "on_reply": "pause"})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["on_reply"] == "pause"
    assert alice.get(f"/api/sequences/{created['id']}").get_json()["on_reply"] == "pause"


def test_resume_a_contact_paused_by_a_reply(alice, bob, engine):
    seq = make_sequence(alice, on_reply="pause")
    alice.post(f"/api/sequences/{seq['id']}/start")
    message = _queue_message(engine, alice.id, seq["id"], status="held")
    contact = scalar(engine, "SELECT contact_id FROM message_queue WHERE id = :i", i=message)
    url = f"/api/sequences/{seq['id']}/contacts/{contact}/resume"
    # an active contact is not paused
    assert_error(alice.post(url), 409, "status")
    with engine.begin() as conn:
        conn.execute(text("UPDATE sequence_contacts SET status = 'paused', replied_at = now()"
                          " WHERE id = :c"), {"c": contact})
    assert_error(bob.post(url), 404)
    assert_error(alice.post(f"/api/sequences/{seq['id']}/contacts/999999/resume"), 404)
    listed = alice.get(f"/api/sequences/{seq['id']}/contacts?status=paused").get_json()["items"]
    assert [c["id"] for c in listed] == [contact] and listed[0]["replied_at"] is not None
    response = alice.post(url)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["contact"]["status"] == "active" and body["released"] == 1
    assert scalar(engine, "SELECT status FROM message_queue WHERE id = :i", i=message) == "queued"
