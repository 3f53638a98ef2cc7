"""The send path's webhook events (issue 14): a real worker on the simulated network records
outcomes and receipts, and the same statements write message.sent, message.failed (with its
failure class), message.delivered and message.read for the user's endpoints, once each."""

import json

from dripfleet.stores import simulated as sim_store


def _endpoint(fleet, user: int) -> int:
    return fleet.sql("INSERT INTO webhook_endpoints (user_id, url, secret)"
                     " VALUES (:u, 'https://hooks.example.com/in', 'whsec_dGVzdA==')"
                     " RETURNING id", u=user)[0][0]


def _events(fleet, endpoint: int) -> list[tuple[str, dict]]:
    rows = fleet.sql("SELECT event_type, payload FROM webhook_deliveries WHERE endpoint_id = :e"
                     " ORDER BY id", e=endpoint)
    return [(t, p if isinstance(p, dict) else json.loads(p)) for t, p in rows]


def test_sends_failures_and_receipts_are_events_for_the_users_endpoints(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user)
    hook = _endpoint(fleet, user)
    other = fleet.user()
    other_device = fleet.device(other)
    other_hook = _endpoint(fleet, other)
    nowhere = fleet.lead(user)
    with fleet.engine.begin() as conn:
        sim_store.set_phone(conn, nowhere[1], on_whatsapp=False)
    sent = fleet.queue(user, device, 3)
    failed = fleet.queue(user, device, 1, lead=nowhere)[0]
    stranger = fleet.user()
    unwatched = fleet.queue(stranger, fleet.device(stranger), 1)  # no endpoint at all
    run_worker(sim_deliver_seconds=0.05, sim_read_rate=1.0)
    fleet.wait_until(lambda: sum(1 for t, _ in _events(fleet, hook) if t == "message.read") == 3)
    fleet.wait_until(lambda: fleet.settled())

    events = _events(fleet, hook)
    by_type: dict[str, list[int]] = {}
    for event_type, payload in events:
        by_type.setdefault(event_type, []).append(payload["data"]["id"])
        assert payload["type"] == event_type
    assert {k: sorted(v) for k, v in by_type.items()} == {
        "message.sent": sorted(sent), "message.delivered": sorted(sent),
        "message.read": sorted(sent), "message.failed": [failed]}
    data = {(t, p["data"]["id"]): p["data"] for t, p in events}
    first = sent[0]
    assert data[("message.sent", first)]["status"] == "sent"
    assert data[("message.sent", first)]["sent_at"].endswith("+00:00")
    assert data[("message.read", first)]["read_at"] is not None
    assert data[("message.delivered", first)]["delivered_at"] is not None
    assert data[("message.failed", failed)]["failure_class"] == "recipient"
    assert data[("message.failed", failed)]["status"] == "failed"
    assert _events(fleet, other_hook) == [] and other_device
    assert fleet.sql("SELECT count(*) FROM webhook_deliveries WHERE user_id NOT IN (:u)",
                     u=user)[0][0] == 0 and unwatched
