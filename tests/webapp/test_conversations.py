"""A lead's conversation (both directions, keyset-paged), the inbox, and marking read."""

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from dripfleet.stores.sending import record_inbound
from tests.webapp.conftest import assert_error

_numbers = itertools.count(4_000_000)
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def make_lead(account, name: str = "Ann Lee") -> dict:
    response = account.post("/api/leads", json={"phone": f"+6012{next(_numbers):07d}",
                                                "name": name})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_device(account) -> int:
    return account.post("/api/devices", json={"name": "d"}).get_json()["id"]


def outbound(engine, account, lead: dict, device: int, *, created: datetime,
             sent: datetime | None = None, status: str = "queued", body: str = "hi",
             **extra) -> int:
    """A message of ours to the lead, as the pipelines or the API queue it."""
    values = {"user_id": account.id, "device_id": device, "lead_id": lead["id"],
              "phone": lead["phone"], "body": body, "status": status, "created": created,
              "sent": sent, "key": f"test:{next(_numbers)}", "message_type": "text",
              "caption": None, "delivered": None, "read": None, "failure_class": None, **extra}
    with engine.begin() as conn:
        return conn.execute(text(
            "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, status, "
            "created_at, sent_at, source, dedupe_key, message_type, caption, delivered_at, "
            "read_at, failure_class) VALUES (:user_id, :device_id, :lead_id, :phone, :body, "
            ":status, :created, :sent, 'api', :key, :message_type, :caption, :delivered, :read, "
            ":failure_class) RETURNING id"), values).scalar_one()


def inbound(engine, lead: dict, device: int, at: datetime, body: str = "hello",
            message_type: str = "text") -> int:
    """A message the lead writes, through the device host's own statement."""
    provider_id = f"P{next(_numbers)}"
    with engine.begin() as conn:
        record_inbound(conn, [{"device_id": device, "phone": lead["phone"],
                               "message_type": message_type, "text": body,
                               "provider_message_id": provider_id,
                               "quoted_provider_id": None, "received_at": at}])
        return conn.execute(text("SELECT id FROM inbound_messages WHERE device_id = :d AND "
                                 "provider_message_id = :p"),
                            {"d": device, "p": provider_id}).scalar_one()


def conversation(account, lead_id: int, **query) -> dict:
    response = account.get(f"/api/leads/{lead_id}/conversation", query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def all_pages(account, lead_id: int, limit: int) -> list[tuple[str, int]]:
    seen, before = [], None
    while True:
        query = {"limit": limit} | ({"before": before} if before else {})
        body = conversation(account, lead_id, **query)
        seen += [(item["direction"], item["id"]) for item in body["items"]]
        before = body["next_before"]
        if before is None:
            return seen


def test_conversation_interleaves_both_directions_newest_first(alice, engine):
    lead = make_lead(alice)
    device = make_device(alice)
    first = outbound(engine, alice, lead, device, created=T0, sent=T0 + timedelta(minutes=1),
                     status="sent", body="Day 1", delivered=T0 + timedelta(minutes=2),
                     read=T0 + timedelta(minutes=3))
    reply = inbound(engine, lead, device, T0 + timedelta(minutes=5), "Tell me more")
    photo = inbound(engine, lead, device, T0 + timedelta(minutes=6), "my gym", "image")
    failed = outbound(engine, alice, lead, device, created=T0 + timedelta(minutes=7),
                      status="failed", failure_class="recipient", message_type="image",
                      body="", caption="Our plans")
    queued = outbound(engine, alice, lead, device, created=T0 + timedelta(minutes=8))
    other = make_lead(alice)  # someone else's thread never shows here
    inbound(engine, other, device, T0 + timedelta(minutes=4))
    outbound(engine, alice, other, device, created=T0 + timedelta(minutes=4))

    items = conversation(alice, lead["id"])["items"]
    assert [(i["direction"], i["id"]) for i in items] == [
        ("out", queued), ("out", failed), ("in", photo), ("in", reply), ("out", first)]
    by_id = {(i["direction"], i["id"]): i for i in items}
    sent = by_id["out", first]
    assert sent["text"] == "Day 1" and sent["status"] == "sent"
    assert sent["at"] == "2026-03-01T09:01:00+00:00"  # sent_at, not created_at
    assert (sent["delivered_at"], sent["read_at"]) == ("2026-03-01T09:02:00+00:00",
                                                        "2026-03-01T09:03:00+00:00")
    assert "quoted_message_id" not in sent
    media = by_id["out", failed]
    assert (media["text"], media["message_type"], media["failure_class"]) == (
        "Our plans", "image", "recipient")
    assert by_id["out", queued]["at"] == "2026-03-01T09:08:00+00:00"  # created_at while unsent
    mine = by_id["in", photo]
    assert (mine["text"], mine["message_type"], mine["device_id"], mine["read_at"]) == (
        "my gym", "image", device, None)
    assert "status" not in mine and mine["quoted_message_id"] is None


def test_paging_has_no_gaps_nor_duplicates_across_equal_instants(alice, engine):
    lead = make_lead(alice)
    device = make_device(alice)
    expected = []
    for minute in range(4):
        at = T0 + timedelta(minutes=minute)
        # three of ours and three of theirs at the very same microsecond
        outs = [outbound(engine, alice, lead, device, created=at - timedelta(hours=1), sent=at,
                         status="sent") for _ in range(3)]
        ins = [inbound(engine, lead, device, at) for _ in range(3)]
        expected = ([("out", i) for i in sorted(outs, reverse=True)]
                    + [("in", i) for i in sorted(ins, reverse=True)] + expected)
    whole = [(i["direction"], i["id"]) for i in conversation(alice, lead["id"],
                                                             limit=500)["items"]]
    assert whole == expected
    for limit in (1, 2, 4, 5, 7, 24, 25):
        assert all_pages(alice, lead["id"], limit) == expected, limit


def test_next_before_is_null_on_the_last_page(alice, engine):
    lead = make_lead(alice)
    device = make_device(alice)
    inbound(engine, lead, device, T0)
    assert conversation(alice, lead["id"], limit=2)["next_before"] is None
    page = conversation(alice, lead["id"], limit=1)
    assert page["next_before"] is not None
    assert conversation(alice, lead["id"], before=page["next_before"])["items"] == []


def test_a_malformed_cursor_is_refused_naming_before(alice):
    lead = make_lead(alice)
    for bad in ("abc", "1-x-2", "-1-o-2", "1-o-", "12345678901234567-o-1",
                "1-o-1234567890123456789", "1-o-2 "):
        response = alice.get(f"/api/leads/{lead['id']}/conversation",
                             query_string={"before": bad})
        assert_error(response, 422, "before")
    assert_error(alice.get("/api/inbox", query_string={"before": "1-o-2"}), 422, "before")
    assert_error(alice.get("/api/inbox", query_string={"limit": 0}), 422, "limit")


def test_another_users_lead_is_not_found(alice, bob, engine):
    lead = make_lead(alice)
    device = make_device(alice)
    inbound(engine, lead, device, T0)
    assert_error(bob.get(f"/api/leads/{lead['id']}/conversation"), 404)
    assert_error(bob.post(f"/api/leads/{lead['id']}/read"), 404)
    assert_error(alice.get("/api/leads/999999999/conversation"), 404)
    assert bob.get("/api/inbox").get_json() == {"items": [], "next_before": None}
    assert scalar_unread(engine, lead["id"]) == 1  # bob's attempt marked nothing


def scalar_unread(engine, lead_id: int) -> int:
    with engine.begin() as conn:
        return conn.execute(text("SELECT count(*) FROM inbound_messages WHERE lead_id = :l "
                                 "AND read_at IS NULL"), {"l": lead_id}).scalar_one()


def test_inbox_has_one_row_per_lead_with_its_latest_message_and_unread_count(alice, engine):
    device = make_device(alice)
    ann, bea, cat = make_lead(alice, "Ann"), make_lead(alice, "Bea"), make_lead(alice, "Cat")
    inbound(engine, ann, device, T0, "ann 1")
    inbound(engine, bea, device, T0 + timedelta(minutes=1), "bea 1")
    inbound(engine, ann, device, T0 + timedelta(minutes=2), "ann 2")
    inbound(engine, cat, device, T0 + timedelta(minutes=3), "a photo", "image")
    inbound(engine, ann, device, T0 + timedelta(minutes=4), "ann 3")
    make_lead(alice, "Silent")  # never wrote: not in the inbox
    outbound(engine, alice, bea, device, created=T0 + timedelta(minutes=9))  # ours don't count

    rows = alice.get("/api/inbox").get_json()["items"]
    assert [(r["name"], r["text"], r["unread"]) for r in rows] == [
        ("Ann", "ann 3", 3), ("Cat", "a photo", 1), ("Bea", "bea 1", 1)]
    assert rows[0]["phone"] == ann["phone"] and rows[0]["at"] == "2026-03-01T09:04:00+00:00"
    assert rows[1]["message_type"] == "image" and rows[0]["lead_id"] == ann["id"]

    # paged one row at a time: the same rows, each once
    seen, before = [], None
    while True:
        body = alice.get("/api/inbox", query_string={"limit": 1} | (
            {"before": before} if before else {})).get_json()
        seen += [r["lead_id"] for r in body["items"]]
        before = body["next_before"]
        if before is None:
            break
    assert seen == [ann["id"], cat["id"], bea["id"]]

    response = alice.post(f"/api/leads/{ann['id']}/read")
    assert response.status_code == 200
    assert response.get_json() == {"lead_id": ann["id"], "marked": 3}
    assert alice.post(f"/api/leads/{ann['id']}/read").get_json()["marked"] == 0
    rows = alice.get("/api/inbox").get_json()["items"]
    assert [(r["name"], r["unread"]) for r in rows] == [("Ann", 0), ("Cat", 1), ("Bea", 1)]
    assert all(i["read_at"] is not None
               for i in conversation(alice, ann["id"])["items"] if i["direction"] == "in")
    inbound(engine, ann, device, T0 + timedelta(minutes=10), "ann 4")
    assert alice.get("/api/inbox").get_json()["items"][0]["unread"] == 1
