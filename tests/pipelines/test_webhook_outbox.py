"""The webhook outbox (issue 14): the statements that change state write the events' deliveries in
the same statement, for the enabled endpoints of the event's user that take its type, and for
nobody else."""

import json
from datetime import timedelta

from sqlalchemy import text

from dripfleet.materialise.campaigns import materialise_campaign_messages
from dripfleet.materialise.sequences import materialise_sequence_messages
from dripfleet.stores import replies, sending
from tests.pipelines.races import NOW, sequence_world


def endpoint(world, user: int, events: list[str] | None = None, enabled: bool = True) -> int:
    return world.value(
        "INSERT INTO webhook_endpoints (user_id, url, events, enabled, secret)"
        " VALUES (:u, 'https://hooks.example.com/in', :e, :on, 'whsec_dGVzdA==') RETURNING id",
        u=user, e=events or ["*"], on=enabled)


def deliveries(world, endpoint_id: int, event_type: str | None = None) -> list[dict]:
    rows = world.sql("SELECT event_type, event_id, payload, status FROM webhook_deliveries"
                     " WHERE endpoint_id = :e AND (CAST(:t AS text) IS NULL OR event_type = :t)"
                     " ORDER BY id", e=endpoint_id, t=event_type)
    for row in rows:
        payload = row["payload"]
        row["payload"] = json.loads(payload) if isinstance(payload, str) else payload
    return rows


def incoming(world, engine, device: int, phone: str, text_: str = "hello") -> dict:
    with engine.begin() as conn:
        return replies.record_incoming(conn, [{
            "device_id": device, "phone": phone, "message_type": "text", "text": text_,
            "provider_message_id": f"IN-{phone}-{text_}", "quoted_provider_id": None,
            "received_at": NOW}])


def test_an_incoming_message_is_a_message_received_event_for_its_user_only(world, engine):
    user, device, sequence = sequence_world(world)
    mine = endpoint(world, user)
    disabled = endpoint(world, user, enabled=False)
    other_user = world.user()
    theirs = endpoint(world, other_user)
    phone = world.value("SELECT phone FROM leads WHERE user_id = :u LIMIT 1", u=user)
    incoming(world, engine, device, phone, "Is it still on?")

    [event] = deliveries(world, mine, "message.received")
    assert event["status"] == "pending" and event["event_id"].startswith("msg_")
    payload = event["payload"]
    assert payload["type"] == "message.received"
    assert payload["timestamp"] == "2026-05-04T09:00:00.000000+00:00"
    assert payload["data"]["text"] == "Is it still on?"
    assert payload["data"]["phone"] == phone and payload["data"]["device_id"] == device
    assert deliveries(world, disabled) == [] and deliveries(world, theirs) == []


def test_a_reply_that_stops_a_contact_is_a_contact_replied_event(world, engine):
    user, device, sequence = sequence_world(world)
    materialise_sequence_messages(engine, NOW, 1000)
    hook = endpoint(world, user, ["contact.replied"])
    lead, phone = world.sql("SELECT lead_id, l.phone FROM sequence_contacts c JOIN leads l"
                            " ON l.id = c.lead_id WHERE sequence_id = :s ORDER BY c.id LIMIT 1",
                            s=sequence)[0].values()
    incoming(world, engine, device, phone)
    [event] = deliveries(world, hook)
    data = event["payload"]["data"]
    assert event["event_type"] == "contact.replied"
    assert (data["lead_id"], data["sequence_id"], data["status"]) == (lead, sequence, "replied")
    assert data["replied_at"] == "2026-05-04T09:00:00.000000+00:00"
    assert data["current_day"] == 1 and data["total_days"] == 2


def test_opting_out_is_one_lead_opted_out_event(world, engine):
    user = world.user()
    hook = endpoint(world, user)
    lead = world.lead(user, name="Ann")
    phone = world.value("SELECT phone FROM leads WHERE id = :l", l=lead)
    for _ in range(2):  # a second STOP changes nothing, and says nothing
        with engine.begin() as conn:
            sending.opt_out_lead(conn, user, phone)
    [event] = deliveries(world, hook, "lead.opted_out")
    assert event["payload"]["data"]["id"] == lead
    assert event["payload"]["data"]["name"] == "Ann"
    assert event["payload"]["data"]["opted_out_at"].endswith("+00:00")


def test_a_tick_says_contact_completed_and_message_queued_only_to_who_asks(world, engine):
    user, device, sequence = sequence_world(world)
    everything = endpoint(world, user)  # '*' leaves message.queued out
    queued_too = endpoint(world, user, ["message.queued", "contact.completed"])
    materialise_sequence_messages(engine, NOW, 1000)  # day 1 for every contact
    assert deliveries(world, everything) == []
    first = deliveries(world, queued_too, "message.queued")
    assert len(first) == 4
    data = first[0]["payload"]["data"]
    assert data["source"] == "sequence" and data["status"] == "queued"
    assert data["body"].endswith("day 1") and data["sequence_id"] == sequence
    assert world.value("SELECT count(*) FROM message_queue WHERE id = :m",
                       m=data["id"]) == 1
    # day 2 is the last step: its tick completes every contact
    materialise_sequence_messages(engine, NOW + timedelta(days=2), 1000)
    completed = deliveries(world, everything, "contact.completed")
    assert len(completed) == 4 and len(deliveries(world, queued_too, "contact.completed")) == 4
    assert {e["payload"]["data"]["status"] for e in completed} == {"completed"}
    assert all(e["payload"]["data"]["completed_at"] for e in completed)


def test_a_campaign_that_completes_is_a_campaign_completed_event(world, engine):
    user = world.user()
    world.device(user)
    world.lead(user, niches=["fitness"])
    campaign = world.campaign(user, NOW - timedelta(minutes=1), niche="fitness")
    hook = endpoint(world, user, ["campaign.completed"])
    materialise_campaign_messages(engine, NOW, 1000)
    world.mark_sent()
    materialise_campaign_messages(engine, NOW + timedelta(minutes=1), 1000)
    [event] = deliveries(world, hook)
    data = event["payload"]["data"]
    assert (data["id"], data["status"], data["sent"], data["audience_size"]) == (
        campaign, "completed", 1, 1)


def test_a_device_status_change_is_an_event_and_other_updates_are_not(world, engine):
    user = world.user()
    device = world.device(user, status="online")
    hook = endpoint(world, user, ["device.status_changed"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE devices SET next_send_at = now(), status = 'online'"
                          " WHERE id = :d"), {"d": device})
        conn.execute(text("UPDATE devices SET status = 'offline' WHERE id = :d"), {"d": device})
    [event] = deliveries(world, hook)
    data = event["payload"]["data"]
    assert (data["id"], data["status"], data["previous_status"]) == (device, "offline", "online")


def test_campaign_and_one_off_messages_are_message_queued_for_who_asks(world, engine):
    from webapp.services import messages

    user = world.user()
    device = world.device(user)
    lead = world.lead(user, niches=["fitness"])
    campaign = world.campaign(user, NOW - timedelta(minutes=1), niche="fitness")
    hook = endpoint(world, user, ["message.queued"])
    silent = endpoint(world, user)
    materialise_campaign_messages(engine, NOW, 1000)
    with engine.begin() as conn:
        sent, _ = messages.send_message(conn, user, {"lead_id": lead, "message_type": "text",
                                                     "body": "one-off"}, "MY", 1000)
    events = deliveries(world, hook, "message.queued")
    assert [(e["payload"]["data"]["source"], e["payload"]["data"]["device_id"]) for e in events
            ] == [("campaign", device), ("api", device)]
    assert events[0]["payload"]["data"]["campaign_id"] == campaign
    assert events[1]["payload"]["data"]["id"] == sent["id"]
    assert events[1]["payload"]["data"]["body"] == "one-off"
    assert deliveries(world, silent) == []
