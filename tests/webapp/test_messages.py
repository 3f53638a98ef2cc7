"""One-off sends: POST /api/messages under the rules of every message, the list, the timeline."""

import itertools
import threading
import time
from dataclasses import replace

import pytest
from sqlalchemy import text

from tests.conftest import scalar

# the device host's own in-process worker fixture: a real worker on the simulated network
from tests.device_host.conftest import fast_settings, run_worker  # noqa: F401
from tests.webapp.conftest import assert_error

_numbers = itertools.count(3_000_000)


def new_phone() -> str:
    return f"+6012{next(_numbers):07d}"


def make_lead(account, **fields) -> dict:
    response = account.post("/api/leads", json={"phone": new_phone(), "name": "Ann Lee",
                                                **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_device(account, engine, status: str = "online", delay: float = 0.0) -> int:
    device = account.post("/api/devices", json={"name": "d"}).get_json()["id"]
    with engine.begin() as conn:  # what the device host does once the phone is linked
        conn.execute(text("UPDATE devices SET status = :s, min_delay_s = :d, max_delay_s = :d "
                          "WHERE id = :id"), {"s": status, "d": delay, "id": device})
    return device


def send(account, **body):
    return account.post("/api/messages", json=body)


def wait_until(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- acceptance 3 ------------------------------------------------------------------------------

def test_one_off_sends_are_delivered_through_the_leads_device_with_its_delays(
        alice, engine, run_worker):  # noqa: F811 - the fixture imported above
    device = make_device(alice, engine, delay=0.5)
    make_device(alice, engine)  # idle and online: the least loaded, yet not chosen
    leads = [make_lead(alice, preferred_device_id=device, attributes={"city": "Ipoh"})
             for _ in range(3)]
    ids = []
    for lead in leads:
        response = send(alice, lead_id=lead["id"], body="Hi {{ first_name }} from {{ city }}")
        assert response.status_code == 201, response.get_json()
        message = response.get_json()
        assert (message["source"], message["status"], message["device_id"]) == (
            "api", "queued", device)
        assert message["body"] == "Hi Ann from Ipoh" and message["phone"] == lead["phone"]
        assert [e["kind"] for e in message["timeline"]] == ["queued"]
        ids.append(message["id"])
    assert scalar(engine, "SELECT count(*) FROM message_queue WHERE id = ANY(:ids) AND "
                  "broadcast_job_id IS NULL AND pinned", ids=ids) == 3

    run_worker()
    wait_until(lambda: all(alice.get(f"/api/messages/{i}").get_json()["status"] == "sent"
                           for i in ids))
    with engine.begin() as conn:
        sends = conn.execute(text(
            "SELECT message_id, content, started_at, delivered_at FROM sim_deliveries "
            "WHERE device_id = :d ORDER BY id"), {"d": device}).all()
    assert sorted(s.message_id for s in sends) == ids
    assert {s.content for s in sends} == {"Hi Ann from Ipoh"}
    for before, after in itertools.pairwise(sends):
        assert after.started_at >= before.delivered_at  # one at a time
        assert (after.delivered_at - before.delivered_at).total_seconds() >= 0.5
    detail = alice.get(f"/api/messages/{ids[0]}").get_json()
    assert [e["kind"] for e in detail["timeline"]] == ["queued", "sent"]
    assert detail["sent_at"] is not None and detail["provider_message_id"]


def test_an_opted_out_lead_is_a_409_and_nothing_is_queued(alice, engine):
    make_device(alice, engine)
    lead = make_lead(alice, opted_out=True)
    error = assert_error(send(alice, lead_id=lead["id"], body="hi"), 409, "lead_id")
    assert "opted out" in error["message"]
    assert assert_error(send(alice, phone=lead["phone"], body="hi"), 409, "lead_id")
    assert scalar(engine, "SELECT count(*) FROM message_queue WHERE user_id = :u",
                  u=alice.id) == 0


def test_another_users_rows_are_404_in_paths_and_422_in_bodies(alice, bob, engine):
    make_device(alice, engine)
    bobs_device = make_device(bob, engine)
    bobs_lead = make_lead(bob)
    assert_error(send(alice, lead_id=bobs_lead["id"], body="hi"), 422, "lead_id")
    lead = make_lead(alice)
    assert_error(send(alice, lead_id=lead["id"], body="hi", device_id=bobs_device), 422,
                 "device_id")
    media = bob.post("/api/media", data={"file": (_png(), "a.png", "image/png")},
                     content_type="multipart/form-data").get_json()["id"]
    assert_error(send(alice, lead_id=lead["id"], message_type="image", media_id=media), 422,
                 "media_id")
    mine = send(alice, lead_id=lead["id"], body="hi").get_json()["id"]
    assert_error(bob.get(f"/api/messages/{mine}"), 404)
    assert bob.get("/api/messages").get_json()["items"] == []
    assert bob.get(f"/api/messages?lead_id={lead['id']}").get_json()["items"] == []


def test_a_new_phone_becomes_a_lead_and_a_known_phone_is_its_lead(alice, engine):
    make_device(alice, engine)
    lead = make_lead(alice)
    known = send(alice, phone=lead["phone"].replace("+60", "0"), body="hi").get_json()
    assert known["lead_id"] == lead["id"]
    created = send(alice, phone="012-345 9876", body="hi")
    assert created.status_code == 201
    message = created.get_json()
    assert message["phone"] == "+60123459876"
    assert alice.get(f"/api/leads/{message['lead_id']}").get_json()["phone"] == "+60123459876"
    abroad = send(alice, phone="0412 345 678", region="au", body="hi").get_json()
    assert abroad["phone"] == "+61412345678"


def test_a_refused_send_creates_no_lead(alice, engine):
    phone = new_phone()
    assert_error(send(alice, phone=phone, body="hi"), 409, "device_id")  # no device online
    assert alice.get(f"/api/leads?search={phone[1:]}").get_json()["items"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"body": "hi"}, "lead_id"),
    ({"lead_id": 1, "phone": "+60123456789", "body": "hi"}, "lead_id"),
    ({"phone": "12", "body": "hi"}, "phone"),
    ({"phone": "+60123456789"}, "body"),
    ({"phone": "+60123456789", "body": "Hi {{ name"}, "body"),
    ({"phone": "+60123456789", "message_type": "image"}, "media"),
    ({"phone": "+60123456789", "message_type": "image", "media": "http://127.0.0.1/a.png"},
     "media"),
    ({"phone": "+60123456789", "message_type": "sticker", "body": "hi"}, "message_type"),
    ({"phone": "+60123456789", "message_type": "image", "media_id": 0}, "media_id"),
    ({"phone": "+60123456789", "body": "hi", "caption": "{{ x"}, "caption"),
])
def test_validation_errors_name_the_field(alice, engine, body, field):
    make_device(alice, engine)
    assert_error(send(alice, **body), 422, field)


def test_device_choice_preferred_then_given_then_least_loaded(alice, engine, app):
    assert_error(send(alice, phone=new_phone(), body="hi"), 409, "device_id")
    offline = make_device(alice, engine, status="offline")
    busy = make_device(alice, engine)
    idle = make_device(alice, engine)
    lead = make_lead(alice, preferred_device_id=offline)
    first = send(alice, lead_id=lead["id"], body="hi", device_id=busy).get_json()
    assert (first["device_id"], _pinned(engine, first["id"])) == (busy, True)
    # the given device is not usable: the least loaded usable device takes it
    second = send(alice, lead_id=lead["id"], body="hi", device_id=offline).get_json()
    assert (second["device_id"], _pinned(engine, second["id"])) == (idle, False)

    app.config["SETTINGS"] = replace(app.config["SETTINGS"], queue_buffer_size=1)
    error = assert_error(send(alice, lead_id=lead["id"], body="hi"), 409, "device_id")
    assert "QUEUE_BUFFER_SIZE" in error["message"]
    error = assert_error(send(alice, lead_id=lead["id"], body="hi", device_id=busy), 409,
                         "device_id")
    assert f"device {busy}" in error["message"]


def test_the_same_idempotency_key_returns_the_same_message(alice, bob, engine):
    make_device(alice, engine)
    make_device(bob, engine)
    lead = make_lead(alice)
    key = {"Idempotency-Key": "order-1234"}
    first = alice.post("/api/messages", json={"lead_id": lead["id"], "body": "{Hi|Hey} you"},
                       headers=key)
    again = alice.post("/api/messages", json={"lead_id": lead["id"], "body": "{Hi|Hey} you"},
                       headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    other = alice.post("/api/messages", json={"lead_id": lead["id"], "body": "x"},
                       headers={"Idempotency-Key": "order-1235"})
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]
    bobs = bob.post("/api/messages", json={"phone": new_phone(), "body": "x"}, headers=key)
    assert bobs.status_code == 201  # keys are per user
    assert scalar(engine, "SELECT count(*) FROM message_queue WHERE user_id = :u",
                  u=alice.id) == 2
    dedupe = scalar(engine, "SELECT dedupe_key FROM message_queue WHERE id = :i",
                    i=first.get_json()["id"])
    assert dedupe.startswith("api:") and len(dedupe) == len("api:") + 36
    for bad in ("", "a b", "x" * 256):
        assert_error(alice.post("/api/messages", json={"lead_id": lead["id"], "body": "x"},
                                headers={"Idempotency-Key": bad}), 422, "Idempotency-Key")


def test_a_racing_request_with_the_same_key_gets_the_first_message(alice, engine, app):
    """Two connections: the second request checks for the key before the first commits, then
    waits for it (the buffer lock) and answers with its message instead of a second one."""
    from webapp.services import messages

    make_device(alice, engine)
    lead = make_lead(alice)
    data = {"lead_id": lead["id"], "body": "hi", "message_type": "text"}
    results = {}
    first = engine.connect()
    transaction = first.begin()
    results["first"] = messages.send_message(first, alice.id, dict(data), "MY", 1000, "k-race")

    def second() -> None:
        with engine.begin() as conn:
            results["second"] = messages.send_message(conn, alice.id, dict(data), "MY", 1000,
                                                      "k-race")

    thread = threading.Thread(target=second)
    thread.start()
    wait_until(lambda: scalar(engine, "SELECT count(*) FROM pg_stat_activity WHERE "
                              "wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%'"
                              " AND datname = current_database()") == 1)
    transaction.commit()
    first.close()
    thread.join(timeout=30)
    assert results["first"][1] is True and results["second"][1] is False
    assert results["second"][0]["id"] == results["first"][0]["id"]
    assert scalar(engine, "SELECT count(*) FROM message_queue WHERE lead_id = :l",
                  l=lead["id"]) == 1


def test_list_filters_and_pages_newest_first(alice, bob, engine):
    make_device(alice, engine)
    make_device(bob, engine)
    ann, ben = make_lead(alice), make_lead(alice)
    ids = [send(alice, lead_id=lead["id"], body="hi").get_json()["id"]
           for lead in (ann, ben, ann, ben, ann)]
    send(bob, phone=new_phone(), body="not alice's")
    campaign = alice.post("/api/campaigns", json={"title": "c", "body": "x"}).get_json()["id"]
    sequence = alice.post("/api/sequences", json={"name": "s", "niche": "n"}).get_json()["id"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE message_queue SET campaign_id = :c, status = 'sent', "
                          "sent_at = now() WHERE id = :i"), {"c": campaign, "i": ids[0]})
        conn.execute(text("UPDATE message_queue SET sequence_id = :s WHERE id = :i"),
                     {"s": sequence, "i": ids[1]})

    listed = alice.get("/api/messages").get_json()
    assert [m["id"] for m in listed["items"]] == ids[::-1] and listed["next_before"] is None
    assert "timeline" not in listed["items"][0]
    assert [m["id"] for m in alice.get(f"/api/messages?lead_id={ann['id']}").get_json()[
        "items"]] == [ids[4], ids[2], ids[0]]
    assert [m["id"] for m in alice.get(f"/api/messages?campaign_id={campaign}").get_json()[
        "items"]] == [ids[0]]
    assert [m["id"] for m in alice.get(f"/api/messages?sequence_id={sequence}").get_json()[
        "items"]] == [ids[1]]
    assert [m["id"] for m in alice.get("/api/messages?status=sent").get_json()[
        "items"]] == [ids[0]]
    assert [m["id"] for m in alice.get(
        f"/api/messages?status=queued&lead_id={ann['id']}").get_json()["items"]] == [
        ids[4], ids[2]]

    seen, before = [], None
    while True:
        query = "/api/messages?limit=2" + (f"&before={before}" if before else "")
        body = alice.get(query).get_json()
        seen += [m["id"] for m in body["items"]]
        before = body["next_before"]
        if before is None:
            break
    assert seen == ids[::-1]
    assert_error(alice.get("/api/messages?status=lost"), 422, "status")
    assert_error(alice.get("/api/messages?lead_id=0"), 422, "lead_id")


def test_the_timeline_of_a_failed_message_says_why(alice, engine):
    make_device(alice, engine)
    message = send(alice, phone=new_phone(), body="hi").get_json()
    with engine.begin() as conn:
        conn.execute(text("UPDATE message_queue SET status = 'failed', attempts = 1, "
                          "last_error = 'not on WhatsApp', failure_class = 'recipient', "
                          "updated_at = now() + interval '1 second' WHERE id = :i"),
                     {"i": message["id"]})
    detail = alice.get(f"/api/messages/{message['id']}").get_json()
    assert detail["status"] == "failed" and detail["failure_class"] == "recipient"
    assert [(e["kind"], e.get("error"), e.get("failure_class")) for e in detail["timeline"]] == [
        ("queued", None, None), ("failed", "not on WhatsApp", "recipient")]


def test_the_timeline_carries_the_receipts_in_order(alice, engine):
    make_device(alice, engine)
    message = send(alice, phone=new_phone(), body="hi").get_json()
    with engine.begin() as conn:
        conn.execute(text(
            "UPDATE message_queue SET status = 'sent', sent_at = created_at + interval '1 second',"
            " provider_message_id = 'P', delivered_at = created_at + interval '2 seconds',"
            " read_at = created_at + interval '9 seconds' WHERE id = :i"), {"i": message["id"]})
        conn.execute(text(
            "INSERT INTO message_events (message_id, kind, at) SELECT id, k, created_at + d"
            " FROM message_queue, (VALUES ('read', interval '9 seconds'),"
            " ('delivered', interval '2 seconds')) AS x(k, d) WHERE id = :i"),
            {"i": message["id"]})
    detail = alice.get(f"/api/messages/{message['id']}").get_json()
    assert [e["kind"] for e in detail["timeline"]] == ["queued", "sent", "delivered", "read"]
    assert detail["delivered_at"] < detail["read_at"]
    listed = alice.get("/api/messages").get_json()["items"][0]
    assert (listed["delivered_at"], listed["read_at"]) == (detail["delivered_at"],
                                                           detail["read_at"])


def test_a_cookie_send_needs_the_csrf_header(alice, engine, app):
    make_device(alice, engine)
    browser = app.test_client()
    assert browser.post("/api/auth/login", json={"email": alice.user["email"],
                                                 "password": "correct horse battery"},
                        ).status_code == 200
    body = {"phone": new_phone(), "body": "hi"}
    assert_error(browser.post("/api/messages", json=body), 403, "X-CSRFToken")
    token = browser.get("/api/auth/csrf").get_json()["csrf_token"]
    assert browser.post("/api/messages", json=body,
                        headers={"X-CSRFToken": token}).status_code == 201


def _pinned(engine, message_id: int) -> bool:
    return scalar(engine, "SELECT pinned FROM message_queue WHERE id = :i", i=message_id)


def _png():
    import io

    return io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
