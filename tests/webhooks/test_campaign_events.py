"""Issue 14, acceptance 1, end to end: a campaign to 20 leads goes through a real tick and a real
device worker on the simulated network (every lead reads); the statements that record the sends
and receipts write the events; a real `dripfleet webhooks` process delivers them to a receiver that
verifies every signature and answers 500 to the first attempt of each event. Every sent,
delivered and read event arrives, each webhook-id is acknowledged once, none is lost."""

import json
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import text

from pipelines.tick import run_tick
from tests.conftest import scalar
from tests.device_host.conftest import fast_settings, run_worker  # noqa: F401 (fixtures)
from tests.webhooks.conftest import add_endpoint, new_secret, wait_for

LEADS = 20


def _fail_first(_received, seen):
    return (500, {}, b"not yet") if seen == 0 else (204, {}, b"")


def test_a_campaigns_sends_and_receipts_reach_the_endpoint_once_each(
        engine, make_user, receiver, dispatchers, database_url, run_worker):  # noqa: F811
    user = make_user()["id"]
    secret = new_secret()
    server = receiver([secret], _fail_first)
    add_endpoint(engine, user, server.url(), secret)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO devices (user_id, name, status, min_delay_s, max_delay_s)"
                          " VALUES (:u, 'p', 'online', 0, 0)"),
                     {"u": user})
        conn.execute(text("INSERT INTO leads (user_id, phone, niches) SELECT :u,"
                          " '+6013777' || lpad(g::text, 4, '0'), ARRAY['yoga']"
                          " FROM generate_series(1, :n) g"), {"u": user, "n": LEADS})
        campaign = conn.execute(text(
            "INSERT INTO campaigns (user_id, title, niche, body, status, scheduled_at)"
            " VALUES (:u, 'Retreat', 'yoga', 'Hi', 'scheduled', :at) RETURNING id"),
            {"u": user, "at": datetime.now(UTC)}).scalar_one()
    dispatcher = dispatchers(database_url)
    assert run_tick(database_url=database_url).success
    run_worker(sim_deliver_seconds=0.05, sim_read_rate=1.0)
    wanted = {"message.sent": LEADS, "message.delivered": LEADS, "message.read": LEADS}

    def all_delivered() -> bool:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT event_type, count(*) FROM webhook_deliveries WHERE status = 'delivered'"
                " GROUP BY 1")).all()
        return {k: v for k, v in rows if k in wanted} == wanted

    try:
        wait_for(all_delivered, 90, "every sent, delivered and read event delivered",
                 dispatcher.check_running)
    except AssertionError as error:
        with engine.connect() as conn:
            state = conn.execute(text(
                "SELECT event_type, status, count(*) FROM webhook_deliveries GROUP BY 1, 2"
                " ORDER BY 1, 2")).all()
            messages = conn.execute(text(
                "SELECT status, count(delivered_at), count(read_at) FROM message_queue"
                " GROUP BY 1")).all()
        raise AssertionError(f"{error}; deliveries {state}; messages {messages};"
                             f" dispatcher log:\n{dispatcher.tail()}") from None
    assert dispatcher.terminate() == 0

    assert server.bad_signatures == [] and server.truncated == []
    events = {}
    for request in server.requests:
        payload = json.loads(request.body)
        events[request.headers["webhook-id"]] = payload
    mine = {i: p for i, p in events.items() if p["type"] in wanted}
    assert Counter(p["type"] for p in mine.values()) == Counter(wanted)
    assert all(server.acked[i] == 1 and server.seen[i] == 2 for i in mine)
    assert {p["data"]["campaign_id"] for p in mine.values()} == {campaign}
    # each lead: its message sent, delivered and read, one event each
    per_message = Counter((p["data"]["id"], p["type"]) for p in mine.values())
    assert len(per_message) == 3 * LEADS and set(per_message.values()) == {1}
    assert scalar(engine, "SELECT count(*) FROM webhook_deliveries WHERE user_id <> :u",
                  u=user) == 0
