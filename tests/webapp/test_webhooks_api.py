"""Webhook endpoints at the API (issue 14, build 1; acceptance 3 and 4): CRUD, the secret shown
once (never in GET, never logged), rotation, the delivery log, retry, the test event, URL and
event rules, and another user's ids answering 404 on every route."""

import base64
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from tests.conftest import scalar
from tests.webapp.conftest import assert_error
from webapp import create_app
from webapp.schemas.webhooks import EVENT_TYPES
from webapp.services.webhooks import MAX_ENDPOINTS

URL = "https://hooks.example.com/dripfleet"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def create(account, **body) -> dict:
    response = account.post("/api/webhooks", json={"url": URL, **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def delivery(engine: Engine, account, endpoint_id: int, status: str = "failed",
             attempts: list[tuple[int | None, str | None]] = (), at: datetime = T0) -> int:
    """A delivery as the dispatcher leaves it, with its attempts (status code, error)."""
    with engine.begin() as conn:
        delivery_id = conn.execute(text(
            "INSERT INTO webhook_deliveries (user_id, endpoint_id, event_type, payload, status, "
            "attempts, next_attempt_at, last_status_code, last_error, created_at, finished_at) "
            "VALUES (:u, :e, 'message.sent', CAST(:p AS jsonb), :s, :n, :at + interval '1 day', "
            ":code, :error, :at, CASE WHEN :s <> 'pending' THEN CAST(:at AS timestamptz) END) "
            "RETURNING id"), {
                "u": account.id, "e": endpoint_id, "s": status, "n": len(attempts), "at": at,
                "p": '{"type": "message.sent", "timestamp": "2026-03-01T09:00:00+00:00", '
                     '"data": {"id": 7}}',
                "code": attempts[-1][0] if attempts else None,
                "error": attempts[-1][1] if attempts else None}).scalar_one()
        for index, (code, error) in enumerate(attempts):
            conn.execute(text(
                "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, "
                "latency_ms, response_excerpt, error) VALUES (:d, :at, :code, :ms, :body, :err)"),
                {"d": delivery_id, "at": at + timedelta(seconds=5 * index), "code": code,
                 "ms": 100 + index, "body": "oops" if code else None, "err": error})
    return delivery_id


# ---- create, read, change, delete ---------------------------------------------------------------


def test_create_shows_the_secret_once(alice):
    created = create(alice, events=["message.delivered", "message.read"],
                     description="CRM sync")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert created["events"] == ["message.delivered", "message.read"]
    assert created["enabled"] is True and created["disabled_reason"] is None
    assert created["secret_hint"] == "whsec_…" + secret.rstrip("=")[-4:]
    shown = alice.get(f"/api/webhooks/{created['id']}")
    assert shown.status_code == 200
    assert "secret" not in shown.get_json() and secret not in shown.get_data(as_text=True)
    assert shown.get_json() == {k: v for k, v in created.items() if k != "secret"}
    listed = alice.get("/api/webhooks")
    assert secret not in listed.get_data(as_text=True)
    assert [item["id"] for item in listed.get_json()["items"]] == [created["id"]]
    # each endpoint its own secret
    assert create(alice)["secret"] != secret


def test_defaults_and_duplicate_events(alice, engine):
    created = create(alice)
    assert created["events"] == ["*"] and created["description"] == ""
    again = create(alice, events=["message.read", "*", "message.read", "message.queued"],
                   enabled=False)
    assert again["events"] == ["message.read", "*", "message.queued"]
    assert again["enabled"] is False
    assert scalar(engine, "SELECT secret FROM webhook_endpoints WHERE id = :i",
                  i=again["id"]).startswith("whsec_")


def test_list_is_keyset_paged(alice, bob):
    ids = [create(alice)["id"] for _ in range(3)]
    create(bob)
    first = alice.get("/api/webhooks?limit=2").get_json()
    assert [item["id"] for item in first["items"]] == ids[:2]
    assert first["next_after"] == ids[1]
    rest = alice.get(f"/api/webhooks?limit=2&after={first['next_after']}").get_json()
    assert [item["id"] for item in rest["items"]] == ids[2:] and rest["next_after"] is None


def test_patch_changes_fields_and_keeps_the_rest(alice):
    created = create(alice, description="first")
    changed = alice.patch(f"/api/webhooks/{created['id']}",
                          json={"url": "https://other.example.org/h", "events": ["lead.opted_out"]})
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert (body["url"], body["events"], body["description"]) == \
        ("https://other.example.org/h", ["lead.opted_out"], "first")
    assert "secret" not in body and body["secret_hint"] == created["secret_hint"]
    assert_error(alice.patch(f"/api/webhooks/{created['id']}", json={"url": "http://10.1.2.3/"}),
                 422, "url")
    assert alice.get(f"/api/webhooks/{created['id']}").get_json()["url"] == \
        "https://other.example.org/h"


def test_reenabling_clears_the_dispatchers_reason(alice, engine):
    created = create(alice)
    with engine.begin() as conn:
        conn.execute(text("UPDATE webhook_endpoints SET enabled = false, failing_since = :at, "
                          "disabled_reason = 'failing for 24 h: answered 500' WHERE id = :i"),
                     {"i": created["id"], "at": T0})
    shown = alice.get(f"/api/webhooks/{created['id']}").get_json()
    assert shown["enabled"] is False
    assert shown["disabled_reason"] == "failing for 24 h: answered 500"
    assert shown["failing_since"] == T0.isoformat()
    # an edit that leaves it off keeps the reason
    kept = alice.patch(f"/api/webhooks/{created['id']}", json={"description": "x"}).get_json()
    assert kept["disabled_reason"] == "failing for 24 h: answered 500"
    body = alice.patch(f"/api/webhooks/{created['id']}", json={"enabled": True}).get_json()
    assert body["enabled"] is True
    assert body["disabled_reason"] is None and body["failing_since"] is None
    # turned off by hand: no reason
    off = alice.patch(f"/api/webhooks/{created['id']}", json={"enabled": False}).get_json()
    assert off["enabled"] is False and off["disabled_reason"] is None


def test_delete_removes_the_endpoint_and_its_log(alice, engine):
    created = create(alice)
    delivery(engine, alice, created["id"], attempts=[(500, None)])
    assert alice.delete(f"/api/webhooks/{created['id']}").status_code == 204
    assert_error(alice.get(f"/api/webhooks/{created['id']}"), 404)
    assert_error(alice.delete(f"/api/webhooks/{created['id']}"), 404)
    assert scalar(engine, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :i",
                  i=created["id"]) == 0
    assert scalar(engine, "SELECT count(*) FROM webhook_attempts") == 0


def test_endpoints_per_user_are_capped(make_account):
    carol = make_account()
    for _ in range(MAX_ENDPOINTS):
        create(carol)
    assert_error(carol.post("/api/webhooks", json={"url": URL}), 409, "url")


# ---- the secret ---------------------------------------------------------------------------------


def test_rotation_shows_a_new_secret_and_keeps_the_old_one_for_a_day(alice, engine):
    created = create(alice)
    rotated = alice.post(f"/api/webhooks/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.get_json()
    body = rotated.get_json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    assert body["secret_hint"] == "whsec_…" + body["secret"].rstrip("=")[-4:]
    assert body["previous_secret_until"] is not None
    with engine.begin() as conn:
        row = conn.execute(text(
            "SELECT secret, previous_secret, previous_secret_until - updated_at AS grace "
            "FROM webhook_endpoints WHERE id = :i"), {"i": created["id"]}).mappings().one()
    assert (row["secret"], row["previous_secret"]) == (body["secret"], created["secret"])
    assert row["grace"] == timedelta(hours=24)
    shown = alice.get(f"/api/webhooks/{created['id']}").get_data(as_text=True)
    assert body["secret"] not in shown and created["secret"] not in shown


def test_secrets_are_never_logged(alice, caplog):
    caplog.set_level(logging.DEBUG)
    created = create(alice)
    rotated = alice.post(f"/api/webhooks/{created['id']}/rotate-secret").get_json()
    alice.get(f"/api/webhooks/{created['id']}")
    alice.patch(f"/api/webhooks/{created['id']}", json={"enabled": False})
    for secret in (created["secret"], rotated["secret"]):
        assert secret not in caplog.text
        assert secret.removeprefix("whsec_") not in caplog.text


# ---- deliveries, retry, test event ---------------------------------------------------------------


def test_test_event_goes_to_that_endpoint_only(alice, engine):
    endpoint = create(alice)
    other = create(alice)
    response = alice.post(f"/api/webhooks/{endpoint['id']}/test")
    assert response.status_code == 202, response.get_json()
    sent = response.get_json()
    assert sent["event_type"] == "webhook.test" and sent["status"] == "pending"
    assert sent["event_id"].startswith("msg_") and sent["attempt_log"] == []
    assert sent["payload"]["type"] == "webhook.test"
    assert sent["payload"]["data"] == {"webhook_id": endpoint["id"]}
    assert datetime.fromisoformat(sent["payload"]["timestamp"]).utcoffset() == timedelta(0)
    assert scalar(engine, "SELECT next_attempt_at <= now() FROM webhook_deliveries "
                          "WHERE id = :i", i=sent["id"]) is True
    listed = alice.get(f"/api/webhooks/{endpoint['id']}/deliveries").get_json()["items"]
    assert [item["id"] for item in listed] == [sent["id"]]
    assert alice.get(f"/api/webhooks/{other['id']}/deliveries").get_json()["items"] == []


def test_deliveries_newest_first_with_their_attempts(alice, engine):
    endpoint = create(alice)
    old = delivery(engine, alice, endpoint["id"], "delivered", [(500, None), (200, None)])
    failed = delivery(engine, alice, endpoint["id"], "failed",
                      [(None, "connection refused"), (503, None)])
    pending = delivery(engine, alice, endpoint["id"], "pending")
    page = alice.get(f"/api/webhooks/{endpoint['id']}/deliveries?limit=2").get_json()
    assert [item["id"] for item in page["items"]] == [pending, failed]
    assert page["next_before"] == failed
    item = page["items"][1]
    assert (item["status"], item["attempts"], item["last_status_code"]) == ("failed", 2, 503)
    assert item["event_type"] == "message.sent" and item["payload"]["data"] == {"id": 7}
    assert item["finished_at"] == T0.isoformat()
    log = item["attempt_log"]
    assert [(a["status_code"], a["error"], a["latency_ms"]) for a in log] == \
        [(None, "connection refused", 100), (503, None, 101)]
    assert datetime.fromisoformat(log[1]["attempted_at"]) == T0 + timedelta(seconds=5)
    older = alice.get(f"/api/webhooks/{endpoint['id']}/deliveries?limit=2&before={failed}")
    assert [item["id"] for item in older.get_json()["items"]] == [old]
    assert older.get_json()["next_before"] is None
    only_failed = alice.get(f"/api/webhooks/{endpoint['id']}/deliveries?status=failed")
    assert [item["id"] for item in only_failed.get_json()["items"]] == [failed]
    one = alice.get(f"/api/webhooks/{endpoint['id']}/deliveries/{old}").get_json()
    assert [a["status_code"] for a in one["attempt_log"]] == [500, 200]
    assert_error(alice.get(f"/api/webhooks/{endpoint['id']}/deliveries?status=lost"), 422,
                 "status")


def test_retry_makes_a_failed_delivery_due_now_with_the_same_id(alice, engine):
    endpoint = create(alice)
    failed = delivery(engine, alice, endpoint["id"], "failed", [(500, None)])
    event_id = scalar(engine, "SELECT event_id FROM webhook_deliveries WHERE id = :i", i=failed)
    response = alice.post(f"/api/webhooks/{endpoint['id']}/deliveries/{failed}/retry")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["event_id"], body["finished_at"]) == ("pending", event_id, None)
    assert len(body["attempt_log"]) == 1  # the history stays
    assert scalar(engine, "SELECT next_attempt_at <= now() FROM webhook_deliveries "
                          "WHERE id = :i", i=failed) is True
    # a pending one (waiting for its next try) is brought forward too
    pending = delivery(engine, alice, endpoint["id"], "pending", [(500, None)])
    assert alice.post(f"/api/webhooks/{endpoint['id']}/deliveries/{pending}/retry"
                      ).get_json()["status"] == "pending"
    assert scalar(engine, "SELECT next_attempt_at <= now() FROM webhook_deliveries "
                          "WHERE id = :i", i=pending) is True


def test_retry_of_a_delivered_one_is_409(alice, engine):
    endpoint = create(alice)
    done = delivery(engine, alice, endpoint["id"], "delivered", [(200, None)])
    assert_error(alice.post(f"/api/webhooks/{endpoint['id']}/deliveries/{done}/retry"), 409,
                 "status")
    assert scalar(engine, "SELECT status FROM webhook_deliveries WHERE id = :i",
                  i=done) == "delivered"


def test_a_disabled_endpoint_takes_no_retry_or_test(alice, engine):
    endpoint = create(alice, enabled=False)
    failed = delivery(engine, alice, endpoint["id"], "failed", [(500, None)])
    assert_error(alice.post(f"/api/webhooks/{endpoint['id']}/test"), 409, "enabled")
    assert_error(alice.post(f"/api/webhooks/{endpoint['id']}/deliveries/{failed}/retry"), 409,
                 "enabled")
    assert scalar(engine, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :i",
                  i=endpoint["id"]) == 1


def test_events_of_one_user_reach_only_that_users_endpoints(alice, bob, engine):
    mine = create(alice, events=["message.sent"])
    create(bob, events=["*"])
    with engine.begin() as conn:
        written = conn.execute(text(
            "SELECT webhook_emit(ARRAY[CAST(:u AS bigint)], ARRAY['message.sent'], "
            "ARRAY[now()], ARRAY[CAST('{\"id\": 1}' AS jsonb)])"), {"u": alice.id}).scalar_one()
    assert written == 1
    assert scalar(engine, "SELECT count(*) FROM webhook_deliveries WHERE user_id = :u",
                  u=bob.id) == 0
    assert [item["event_type"] for item in alice.get(
        f"/api/webhooks/{mine['id']}/deliveries").get_json()["items"]] == ["message.sent"]


# ---- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("events,field", [
    (["message.sent", "message.sen"], "events.1"),
    (["nope"], "events.0"),
    ([], "events"),
    ("*", "events"),
])
def test_unknown_event_types_are_422_naming_the_item(alice, events, field):
    assert_error(alice.post("/api/webhooks", json={"url": URL, "events": events}), 422, field)
    assert alice.get("/api/webhooks").get_json()["items"] == []


@pytest.mark.parametrize("value", [0, 1, "true", None])
def test_enabled_is_a_json_boolean(alice, value):
    assert_error(alice.post("/api/webhooks", json={"url": URL, "enabled": value}), 422,
                 "enabled")
    endpoint = create(alice)
    assert_error(alice.patch(f"/api/webhooks/{endpoint['id']}", json={"enabled": value}), 422,
                 "enabled")


def test_every_event_type_is_accepted(alice):
    created = create(alice, events=[*EVENT_TYPES, "*"])
    assert created["events"] == [*EVENT_TYPES, "*"]


@pytest.mark.parametrize("url", [
    "http://hooks.example.com/h",  # https only
    "https://127.0.0.1/h", "https://localhost/h", "https://api.localhost/h", "https://[::1]/h",
    "https://10.0.0.5/h", "https://192.168.1.1/h", "https://169.254.169.254/latest",
    "https://2130706433/h", "https://[::ffff:10.0.0.1]/h",
    "ftp://hooks.example.com/h", "hooks.example.com", "https://user:pw@hooks.example.com/",
    "", "https://" + "a" * 2000 + ".com/",
])
def test_urls_must_be_https_on_public_addresses(alice, url):
    error = assert_error(alice.post("/api/webhooks", json={"url": url}), 422, "url")
    assert error["message"].startswith("url: ")
    assert alice.get("/api/webhooks").get_json()["items"] == []


def test_allow_private_urls_lets_http_and_local_addresses_in(database_url, make_account,
                                                             monkeypatch):
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                      "PAGES": False})
    account = make_account()
    account.client = app.test_client()
    for url in ("http://127.0.0.1:8080/hook", "http://localhost/h", "https://10.0.0.5/h",
                "http://hooks.example.com/h"):
        response = account.post("/api/webhooks", json={"url": url})
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["url"] == url
    # still http(s) only, and a well-formed URL
    for url in ("ftp://10.0.0.1/h", "localhost:8080"):
        assert_error(account.post("/api/webhooks", json={"url": url}), 422, "url")


# ---- tenancy (acceptance 4) ----------------------------------------------------------------------


def test_another_users_ids_are_404_on_every_route(alice, bob, engine):
    endpoint = create(alice)
    failed = delivery(engine, alice, endpoint["id"], "failed", [(500, None)])
    one = f"/api/webhooks/{endpoint['id']}"
    calls = [
        ("get", one, None), ("patch", one, {"description": "mine now"}), ("delete", one, None),
        ("post", f"{one}/rotate-secret", None), ("get", f"{one}/deliveries", None),
        ("get", f"{one}/deliveries/{failed}", None),
        ("post", f"{one}/deliveries/{failed}/retry", None), ("post", f"{one}/test", None),
    ]
    for method, path, body in calls:
        response = getattr(bob, method)(path, json=body) if body else getattr(bob, method)(path)
        assert_error(response, 404)
    # alice's delivery under bob's own endpoint is not bob's either
    theirs = create(bob)
    assert_error(bob.get(f"/api/webhooks/{theirs['id']}/deliveries/{failed}"), 404)
    assert_error(bob.post(f"/api/webhooks/{theirs['id']}/deliveries/{failed}/retry"), 404)
    assert bob.get("/api/webhooks").get_json()["items"] == [
        {k: v for k, v in theirs.items() if k != "secret"}]
    # nothing of alice's changed
    shown = alice.get(one).get_json()
    assert shown["description"] == "" and shown["secret_hint"] == endpoint["secret_hint"]
    assert scalar(engine, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :i",
                  i=endpoint["id"]) == 1
    assert scalar(engine, "SELECT status FROM webhook_deliveries WHERE id = :i",
                  i=failed) == "failed"


def test_a_delivery_of_another_endpoint_is_404(alice, engine):
    first, second = create(alice), create(alice)
    failed = delivery(engine, alice, first["id"], "failed", [(500, None)])
    assert_error(alice.get(f"/api/webhooks/{second['id']}/deliveries/{failed}"), 404)
    assert_error(alice.post(f"/api/webhooks/{second['id']}/deliveries/{failed}/retry"), 404)


# ---- the document --------------------------------------------------------------------------------


def test_the_document_lists_the_events_and_the_payload(client):
    spec = client.get("/api/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    events = schemas["WebhookIn"]["properties"]["events"]
    assert events["items"]["enum"] == [*EVENT_TYPES, "*"]
    assert "message.queued" in events["description"]
    assert set(schemas["WebhookEvent"]["properties"]) == {"type", "timestamp", "data"}
    assert "secret" in schemas["WebhookWithSecret"]["properties"]
    assert "secret" not in schemas["Webhook"]["properties"]
    assert "secret" not in schemas["WebhookItem"]["properties"]
    for path in ("/api/webhooks", "/api/webhooks/{webhook_id}",
                 "/api/webhooks/{webhook_id}/rotate-secret",
                 "/api/webhooks/{webhook_id}/deliveries",
                 "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
                 "/api/webhooks/{webhook_id}/test"):
        assert path in spec["paths"], path
