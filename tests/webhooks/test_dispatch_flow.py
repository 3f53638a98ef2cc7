"""The dispatcher process end to end: real `dripfleet webhooks`, real PostgreSQL, a local
receiver that verifies every Standard Webhooks signature."""

import json
import signal
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.conftest import scalar
from tests.webhooks.conftest import (
    add_endpoint,
    deliveries,
    emit,
    new_secret,
    wait_for,
)


def _fail_first(_received, seen):
    return (500, {}, b"try again") if seen == 0 else (200, {}, b"thanks")


def test_every_event_arrives_once_acknowledged_signed_after_a_500(
        engine, make_user, receiver, dispatchers, database_url):
    """Acceptance 1: 60 events through the outbox, the first attempt of each answered 500."""
    user = make_user()["id"]
    secret = new_secret()
    server = receiver([secret], _fail_first)
    add_endpoint(engine, user, server.url(), secret)
    assert emit(engine, user, 60) == 60
    process = dispatchers(database_url)
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM webhook_deliveries"
                                    " WHERE status = 'delivered'") == 60,
             60, "60 deliveries", process.check_running)
    assert process.terminate() == 0
    ids = {d["event_id"] for d in deliveries(engine)}
    assert len(ids) == 60
    assert set(server.acked) == ids and set(server.acked.values()) == {1}
    assert server.bad_signatures == [] and server.truncated == []
    assert all(server.seen[i] == 2 for i in ids)  # the 500, then the success
    # the body is the payload exactly as signed, and it is the event
    first = json.loads(server.requests[0].body)
    assert first["type"] == "message.sent" and set(first) == {"type", "timestamp", "data"}
    assert server.requests[0].headers["content-type"] == "application/json"
    log = engine.connect().execute(text(
        "SELECT status_code, count(*) FROM webhook_attempts GROUP BY 1 ORDER BY 1")).all()
    assert [tuple(r) for r in log] == [(200, 60), (500, 60)]
    excerpts = scalar(engine, "SELECT array_agg(DISTINCT response_excerpt) FROM webhook_attempts")
    assert sorted(excerpts) == ["thanks", "try again"]
    assert scalar(engine, "SELECT failing_since FROM webhook_endpoints") is None


def test_redirects_are_not_followed(engine, make_user, receiver, dispatchers, database_url):
    user = make_user()["id"]
    target = receiver([new_secret()])
    secret = new_secret()
    redirector = receiver([secret], lambda _r, _s: (302, {"Location": target.url()}, b""))
    add_endpoint(engine, user, redirector.url(), secret)
    emit(engine, user, 1)
    process = dispatchers(database_url, WEBHOOK_RETRY_FIRST_SECONDS="60")
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM webhook_attempts") == 1, 30,
             "the attempt", process.check_running)
    assert process.terminate() == 0
    [delivery] = deliveries(engine)
    assert delivery["status"] == "pending" and delivery["last_status_code"] == 302
    assert "redirects are not followed" in delivery["last_error"]
    assert target.requests == [] and len(redirector.requests) == 1


def test_a_private_address_is_refused_unless_allowed(
        engine, make_user, receiver, dispatchers, database_url):
    user = make_user()["id"]
    secret = new_secret()
    server = receiver([secret])
    add_endpoint(engine, user, server.url(), secret)
    emit(engine, user, 1)
    process = dispatchers(database_url, ALLOW_PRIVATE_URLS="false",
                          WEBHOOK_RETRY_FIRST_SECONDS="60")
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM webhook_attempts") == 1, 30,
             "the attempt", process.check_running)
    assert process.terminate() == 0
    assert server.requests == []
    error = scalar(engine, "SELECT error FROM webhook_attempts")
    assert error == "refused: 127.0.0.1 is not a public address"
    # the same endpoint once private addresses are allowed (tests, on-premise)
    scalar(engine, "UPDATE webhook_deliveries SET next_attempt_at = now() RETURNING 1")
    process = dispatchers(database_url, ALLOW_PRIVATE_URLS="true")
    wait_for(lambda: len(server.acked) == 1, 30, "the delivery", process.check_running)
    assert process.terminate() == 0


def test_410_gone_fails_the_delivery_and_disables_the_endpoint(
        engine, make_user, receiver, dispatchers, database_url):
    user = make_user()["id"]
    secret = new_secret()
    server = receiver([secret], lambda _r, _s: (410, {}, b"gone"))
    endpoint, _ = add_endpoint(engine, user, server.url(), secret)
    emit(engine, user, 1)
    process = dispatchers(database_url)
    wait_for(lambda: scalar(engine, "SELECT NOT enabled FROM webhook_endpoints"), 30,
             "the endpoint disabled", process.check_running)
    emit(engine, user, 3)  # a disabled endpoint gets no new deliveries (webhook_emit)
    assert process.terminate() == 0
    [delivery] = deliveries(engine)
    assert delivery["status"] == "failed" and delivery["last_status_code"] == 410
    assert scalar(engine, "SELECT disabled_reason FROM webhook_endpoints WHERE id = :e",
                  e=endpoint) == "the endpoint answered 410 Gone"
    assert len(server.requests) == 1


def test_a_disabled_endpoints_pending_deliveries_are_not_sent(
        engine, make_user, receiver, dispatchers, database_url):
    user = make_user()["id"]
    secret = new_secret()
    server = receiver([secret])
    endpoint, _ = add_endpoint(engine, user, server.url(), secret)
    emit(engine, user, 2)
    scalar(engine, "UPDATE webhook_endpoints SET enabled = false RETURNING 1")
    # one of them is older than the retry window: it fails instead of waiting
    scalar(engine, "UPDATE webhook_deliveries SET created_at = now() - interval '25 hours'"
                   " WHERE id = (SELECT min(id) FROM webhook_deliveries) RETURNING 1")
    process = dispatchers(database_url)
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM webhook_deliveries"
                                    " WHERE status = 'failed'") == 1
             and scalar(engine, "SELECT count(*) FROM webhook_deliveries"
                                " WHERE next_attempt_at > now() + interval '30 seconds'") == 1,
             30, "the old one failed and the other parked", process.check_running)
    assert process.terminate() == 0
    assert server.requests == []
    old, parked = deliveries(engine)
    assert old["last_error"] == "not sent: the endpoint is disabled (by its owner)"
    assert parked["status"] == "pending" and parked["attempts"] == 0


def test_an_endpoint_failing_for_24_hours_is_disabled_with_the_reason(
        engine, make_user, receiver, dispatchers, database_url):
    user = make_user()["id"]
    secret = new_secret()
    server = receiver([secret], lambda _r, _s: (503, {}, b"down"))
    since = datetime.now(UTC) - timedelta(hours=25)
    add_endpoint(engine, user, server.url(), secret, failing_since=since)
    emit(engine, user, 1)
    process = dispatchers(database_url)
    wait_for(lambda: scalar(engine, "SELECT NOT enabled FROM webhook_endpoints"), 30,
             "the endpoint disabled", process.check_running)
    assert process.terminate() == 0
    reason = scalar(engine, "SELECT disabled_reason FROM webhook_endpoints")
    assert reason.startswith("failing since ") and reason.endswith(": answered 503")


def test_after_a_rotation_both_secrets_sign(
        engine, make_user, receiver, dispatchers, database_url):
    user = make_user()["id"]
    old, new = new_secret(), new_secret()
    server = receiver([new, old])
    add_endpoint(engine, user, server.url(), secret=new, previous_secret=old,
                 previous_secret_until=datetime.now(UTC) + timedelta(hours=24))
    emit(engine, user, 1)
    process = dispatchers(database_url)
    wait_for(lambda: len(server.acked) == 1, 30, "the delivery", process.check_running)
    # once the previous secret's day is over, only the new one signs
    scalar(engine, "UPDATE webhook_endpoints SET previous_secret_until = now() RETURNING 1")
    emit(engine, user, 1, start=1)
    wait_for(lambda: len(server.acked) == 2, 30, "the second delivery", process.check_running)
    assert process.terminate() == 0
    first, second = server.requests
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    assert first.verified_by == [0, 1]  # each secret alone verifies it
    assert len(second.headers["webhook-signature"].split(" ")) == 1
    assert second.verified_by == [0]


def test_sigterm_finishes_the_sends_in_flight(
        engine, make_user, receiver, dispatchers, database_url):
    user = make_user()["id"]
    secret = new_secret()
    answered = []

    def slow(_received, _seen):
        server.release.wait(1.0)  # every answer takes a second
        answered.append(1)
        return 200, {}, b"ok"

    server = receiver([secret], slow)
    add_endpoint(engine, user, server.url(), secret)
    emit(engine, user, 5)
    process = dispatchers(database_url)
    wait_for(lambda: len(server.requests) == 5, 30, "5 sends in flight", process.check_running)
    process.proc.send_signal(signal.SIGTERM)
    assert process.proc.wait(timeout=60) == 0
    assert len(answered) == 5
    assert [d["status"] for d in deliveries(engine)] == ["delivered"] * 5
