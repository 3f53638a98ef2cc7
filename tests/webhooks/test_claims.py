"""The dispatcher's statements on a real PostgreSQL: claims never overlap, outcomes are fenced,
and the sender's address rule (a name resolving to a private address is refused)."""

import asyncio
import threading

from dripfleet.public_urls import UrlPolicy
from dripfleet.stores import webhook_dispatch as store
from tests.conftest import scalar
from tests.webhooks.conftest import add_endpoint, deliveries, emit, new_secret
from webhooks.retry import SCHEDULE, decide, retry_delay
from webhooks.sending import Sender


def _claim(conn, batch=10, per_endpoint=20, busy=None):
    return store.claim(conn, batch, per_endpoint, busy or {}, 60, 60, 1000)


def test_two_dispatchers_claiming_at_once_never_take_the_same_delivery(engine, make_user):
    user = make_user()["id"]
    add_endpoint(engine, user, "https://hooks.example.com/a", new_secret())
    emit(engine, user, 20)
    barrier = threading.Barrier(2, timeout=30)
    claimed: list[list[int]] = [[], []]

    def claim(index: int) -> None:
        with engine.connect() as conn, conn.begin():
            barrier.wait()  # both transactions open
            claimed[index] = [d.id for d in _claim(conn)]
            barrier.wait()  # both hold their locks before either commits

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(claimed[0]) == len(claimed[1]) == 10
    assert set(claimed[0]).isdisjoint(claimed[1])
    assert set(claimed[0]) | set(claimed[1]) == {d["id"] for d in deliveries(engine)}
    # claimed means leased: nothing is due now, and each attempt is counted
    with engine.begin() as conn:
        assert _claim(conn) == []
    assert {d["attempts"] for d in deliveries(engine)} == {1}


def test_a_claim_takes_at_most_the_endpoints_room(engine, make_user):
    user = make_user()["id"]
    busy_endpoint, _ = add_endpoint(engine, user, "https://a.example.com/", new_secret())
    emit(engine, user, 10)
    other, _ = add_endpoint(engine, user, "https://b.example.com/", new_secret())
    emit(engine, user, 10, start=10)  # 10 more for each endpoint
    with engine.begin() as conn:
        got = _claim(conn, batch=100, per_endpoint=4, busy={busy_endpoint: 3})
    per_endpoint = {e: sum(1 for d in got if d.endpoint_id == e) for e in (busy_endpoint, other)}
    assert per_endpoint == {busy_endpoint: 1, other: 4}


def test_a_late_outcome_of_a_reclaimed_delivery_decides_nothing_unless_it_succeeded(
        engine, make_user):
    user = make_user()["id"]
    add_endpoint(engine, user, "https://hooks.example.com/", new_secret())
    emit(engine, user, 2)
    with engine.begin() as conn:
        stale = _claim(conn)
    # both leases run out (the dispatcher stalled); another dispatcher claims them again
    scalar(engine, "UPDATE webhook_deliveries SET next_attempt_at = now() RETURNING 1")
    with engine.begin() as conn:
        fresh = _claim(conn)
    assert [d.attempt for d in fresh] == [2, 2]

    def outcome(delivery, result):
        return store.Outcome(delivery, result, 30.0 if result == "retry" else None,
                             500 if result == "retry" else 200, 5, "x", None, 0.0)

    with engine.begin() as conn:
        result = store.record(conn, [outcome(stale[0], "retry"), outcome(stale[1], "delivered")],
                              0.0)
    assert result["recorded"] == 1 and result["attempts_logged"] == 2
    first, second = deliveries(engine)
    assert first["status"] == "pending" and first["last_status_code"] is None  # still fresh's
    assert second["status"] == "delivered"


def _send_once(policy: UrlPolicy, delivery: store.Claimed):
    async def run():
        sender = Sender(policy, 2)
        try:
            return await sender.send(delivery)
        finally:
            await sender.close()

    return asyncio.run(run())


def test_a_name_resolving_to_a_private_address_is_refused_at_send_time(receiver):
    secret = new_secret()
    server = receiver([secret])
    delivery = store.Claimed(1, 1, "msg_1", '{"type": "webhook.test"}', 1, 0.0,
                             f"http://hooks.example.com:{server.port}/hook", secret, None)

    def resolves_to(address):
        return lambda _host, _port: [address]

    refused = _send_once(UrlPolicy(resolver=resolves_to("10.1.2.3")), delivery)
    assert refused.status_code is None
    assert refused.error == "refused: hooks.example.com does not resolve to a public address"
    # allowed, the request goes to the address checked (no second lookup), named in Host
    sent = _send_once(UrlPolicy(allow_private=True, resolver=resolves_to("127.0.0.1")), delivery)
    assert sent.status_code == 200 and sent.error is None
    [request] = server.requests
    assert request.headers["host"] == f"hooks.example.com:{server.port}"
    assert request.verified_by == [0]


def test_the_retry_schedule_spans_a_day_in_about_15_attempts():
    assert [decide(code, None, 1, 0)[0] for code in (200, 204, 410)] == [
        "delivered", "delivered", "failed"]
    assert decide(None, "connection failed: refused", 1, 0)[0] == "retry"
    assert 4 <= retry_delay(1) <= 6 and 24 <= retry_delay(2) <= 36
    elapsed, attempts = 0.0, 1
    while True:
        outcome, delay, error = decide(500, None, attempts, elapsed)
        if outcome == "failed":
            break
        elapsed += delay
        attempts += 1
    assert 13 <= attempts <= 18
    assert error.startswith(f"gave up after {attempts} attempts in 24 h: answered 500")
    assert SCHEDULE[:3] == (5, 30, 120)
