"""A sequence's on_reply rule: stop, pause (and resume) or continue when a contact writes in, which
message a reply answers, and the rule holds against a tick batch in flight (two connections and a
barrier, see tests/pipelines/races.py)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Connection, text

from dripfleet.materialise import sequences, staging
from dripfleet.materialise.sequences import materialise_sequence_messages
from dripfleet.stores import replies
from tests.pipelines.races import (
    LEADS,
    NOW,
    WAIT_S,
    count,
    deliveries_after_worker,
    race,
    run_sequence_batch,
    sequence_world,
    wait_until_blocked_or_done,
)
from webapp.services import sequences as sequence_service
from webapp.services.errors import Conflict

_provider_ids = iter(range(1, 1_000_000))


def reply(conn: Connection, device: int, phone: str, at=NOW, quoted: str | None = None) -> dict:
    """The device host's write for one incoming message (store it, apply the rules)."""
    return replies.record_incoming(conn, [{
        "device_id": device, "phone": phone, "message_type": "text", "text": "thanks!",
        "provider_message_id": f"IN{next(_provider_ids)}", "quoted_provider_id": quoted,
        "received_at": at}])


def first_contact(world, sequence: int) -> tuple[int, int, str]:
    """(contact id, lead id, phone) of the sequence's first contact."""
    row = world.sql("SELECT c.id, c.lead_id, l.phone FROM sequence_contacts c"
                    " JOIN leads l ON l.id = c.lead_id WHERE c.sequence_id = :s"
                    " ORDER BY c.id LIMIT 1", s=sequence)[0]
    return row["id"], row["lead_id"], row["phone"]


def contact_status(world, contact: int) -> str:
    return world.value("SELECT status FROM sequence_contacts WHERE id = :c", c=contact)


def set_on_reply(world, sequence: int, rule: str) -> None:
    world.sql("UPDATE sequences SET on_reply = :r WHERE id = :s", r=rule, s=sequence)


def test_stop_marks_the_contact_replied_and_cancels_its_waiting_step(world, engine):
    user, device, sequence = sequence_world(world)
    materialise_sequence_messages(engine, NOW, 1000)  # day 1 queued for every contact
    contact, lead, phone = first_contact(world, sequence)
    with engine.begin() as conn:
        result = reply(conn, device, phone)
    assert result["applied"] == {"replied": 1, "paused": 0, "cancelled": 1, "held": 0}
    assert contact_status(world, contact) == "replied"
    assert world.value("SELECT replied_at FROM sequence_contacts WHERE id = :c", c=contact) == NOW
    assert world.value("SELECT next_due_at FROM sequence_contacts WHERE id = :c",
                       c=contact) is None
    message = world.sql("SELECT status, last_error FROM message_queue WHERE contact_id = :c",
                        c=contact)[0]
    assert message == {"status": "cancelled", "last_error": "lead replied"}
    assert world.sql("SELECT status, error FROM sequence_logs WHERE contact_id = :c",
                     c=contact)[0] == {"status": "skipped", "error": "lead replied"}
    # the other contacts go on
    assert count(world, "sequence_id = :s AND status = 'queued'", s=sequence) == LEADS - 1
    # its day 2 is never queued, however late the tick
    materialise_sequence_messages(engine, NOW + timedelta(days=3), 1000)
    assert count(world, "contact_id = :c AND status <> 'cancelled'", c=contact) == 0
    assert count(world, "sequence_id = :s AND status = 'queued'", s=sequence) == 2 * (LEADS - 1)


def test_pause_holds_the_contact_until_resumed(world, engine):
    user, device, sequence = sequence_world(world)
    set_on_reply(world, sequence, "pause")
    materialise_sequence_messages(engine, NOW, 1000)
    contact, lead, phone = first_contact(world, sequence)
    with engine.begin() as conn:
        assert reply(conn, device, phone)["applied"] == {
            "replied": 0, "paused": 1, "cancelled": 0, "held": 1}
    assert contact_status(world, contact) == "paused"
    assert count(world, "contact_id = :c AND status = 'held'", c=contact) == 1
    # resuming the whole sequence does not release a contact a reply paused
    with engine.begin() as conn:
        sequence_service.pause_sequence(conn, user, sequence)
    with engine.begin() as conn:
        sequence_service.start_sequence(conn, user, sequence)
    assert count(world, "contact_id = :c AND status = 'held'", c=contact) == 1
    # while paused, its day 2 is not queued
    materialise_sequence_messages(engine, NOW + timedelta(days=1, minutes=1), 1000)
    assert count(world, "contact_id = :c", c=contact) == 1

    with engine.begin() as conn:
        resumed = sequence_service.resume_contact(conn, user, sequence, contact)
    assert resumed["released"] == 1 and resumed["contact"]["status"] == "active"
    assert count(world, "contact_id = :c AND status = 'queued'", c=contact) == 1
    # and its next step follows at the next tick
    materialise_sequence_messages(engine, NOW + timedelta(days=1, minutes=2), 1000)
    assert count(world, "contact_id = :c AND status = 'queued'", c=contact) == 2
    with engine.begin() as conn, pytest.raises(Conflict, match="not paused"):
        sequence_service.resume_contact(conn, user, sequence, contact)


def test_resume_while_the_sequence_is_paused_keeps_the_messages_held(world, engine):
    user, device, sequence = sequence_world(world)
    set_on_reply(world, sequence, "pause")
    materialise_sequence_messages(engine, NOW, 1000)
    contact, _, phone = first_contact(world, sequence)
    with engine.begin() as conn:
        reply(conn, device, phone)
    with engine.begin() as conn:
        sequence_service.pause_sequence(conn, user, sequence)
        assert sequence_service.resume_contact(conn, user, sequence, contact)["released"] == 0
    assert contact_status(world, contact) == "active"
    assert count(world, "contact_id = :c AND status = 'held'", c=contact) == 1
    with engine.begin() as conn:
        sequence_service.start_sequence(conn, user, sequence)
    assert count(world, "contact_id = :c AND status = 'queued'", c=contact) == 1


def test_continue_changes_nothing(world, engine):
    user, device, sequence = sequence_world(world)
    set_on_reply(world, sequence, "continue")
    materialise_sequence_messages(engine, NOW, 1000)
    contact, _, phone = first_contact(world, sequence)
    with engine.begin() as conn:
        assert reply(conn, device, phone)["applied"] == {
            "replied": 0, "paused": 0, "cancelled": 0, "held": 0}
    assert contact_status(world, contact) == "active"
    materialise_sequence_messages(engine, NOW + timedelta(days=1, minutes=1), 1000)
    assert count(world, "contact_id = :c AND status = 'queued'", c=contact) == 2


def test_a_stopped_contact_whose_last_step_waits_has_it_cancelled(world, engine):
    """The last step queued completes the contact; a reply before it leaves still stops it."""
    user = world.user()
    device = world.device(user)
    world.lead(user, niches=["fitness"])
    sequence = world.sequence(user, steps=[(1, "09:00")])
    world.sql("INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, next_due_at)"
              " SELECT user_id, :s, id, :due FROM leads WHERE user_id = :u",
              s=sequence, u=user, due=NOW - timedelta(minutes=1))
    materialise_sequence_messages(engine, NOW, 1000)
    contact, _, phone = first_contact(world, sequence)
    assert contact_status(world, contact) == "completed"
    with engine.begin() as conn:
        assert reply(conn, device, phone)["applied"]["cancelled"] == 1
    assert count(world, "contact_id = :c AND status = 'cancelled'", c=contact) == 1


def test_replies_of_other_users_leads_and_campaign_messages_are_left_alone(world, engine):
    user, device, sequence = sequence_world(world)
    materialise_sequence_messages(engine, NOW, 1000)
    _, lead, phone = first_contact(world, sequence)
    # a campaign message waiting for the same lead is not a sequence's to stop
    world.sql("INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source,"
              " dedupe_key) VALUES (:u, :d, :l, :p, 'offer', 'api', 'one-off')",
              u=user, d=device, l=lead, p=phone)
    # the same number is another user's lead in another user's sequence
    other_user, other_device, other_sequence = sequence_world(world)
    world.sql("UPDATE leads SET phone = :p WHERE id = (SELECT lead_id FROM sequence_contacts"
              " WHERE sequence_id = :s ORDER BY id LIMIT 1)", p=phone, s=other_sequence)
    with engine.begin() as conn:
        reply(conn, device, phone)
    assert count(world, "dedupe_key = 'one-off' AND status = 'queued'") == 1
    other_contact, _, _ = first_contact(world, other_sequence)
    assert contact_status(world, other_contact) == "active"


def test_a_reply_answers_the_message_it_quotes_or_the_last_one_sent_within_72_hours(world,
                                                                                    engine):
    user, device, sequence = sequence_world(world)
    _, lead, phone = first_contact(world, sequence)

    def sent(key: str, hours_ago: float, provider_id: str | None = None) -> int:
        return world.value(
            "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source,"
            " dedupe_key, status, sent_at, provider_message_id) VALUES (:u, :d, :l, :p, 'x',"
            " 'api', :k, 'sent', :at, :pid) RETURNING id", u=user, d=device, l=lead, p=phone,
            k=key, at=NOW - timedelta(hours=hours_ago), pid=provider_id)

    old = sent("old", 100, "OLD")
    earlier = sent("earlier", 30, "EARLIER")
    latest = sent("latest", 2)
    with engine.begin() as conn:
        reply(conn, device, phone)  # last touch
        reply(conn, device, phone, quoted="EARLIER")  # names its message
        reply(conn, device, phone, quoted="OLD")  # linked, but past 72 h: not counted
    answered = dict((r["id"], r["replied_at"]) for r in world.sql(
        "SELECT id, replied_at FROM message_queue WHERE id IN (:a, :b, :c)",
        a=old, b=earlier, c=latest))
    assert answered == {old: None, earlier: NOW, latest: NOW}
    linked = [r["reply_to_message_id"] for r in world.sql(
        "SELECT reply_to_message_id FROM inbound_messages ORDER BY id")]
    assert linked == [latest, earlier, old]
    # a lead who never got anything within 72 h answers nothing
    with engine.begin() as conn:
        reply(conn, device, phone, at=NOW + timedelta(days=5))
    assert world.value("SELECT reply_to_message_id FROM inbound_messages ORDER BY id DESC"
                       " LIMIT 1") is None


# -- races with a tick --------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "final"), [("stop", "cancelled"), ("pause", "held")])
def test_a_reply_while_a_batch_is_in_flight_stops_what_the_batch_queued(
    world, engine, database_url, monkeypatch, rule, final
):
    user, device, sequence = sequence_world(world)
    set_on_reply(world, sequence, rule)
    contact, _, phone = first_contact(world, sequence)
    # the batch has read (and locked) the due contacts when the reply comes: the reply waits for
    # the contact, then stops the message the batch queued
    race(engine, monkeypatch, sequences, "load_chooser", run_sequence_batch(engine),
         lambda conn: reply(conn, device, phone))

    assert contact_status(world, contact) == ("replied" if rule == "stop" else "paused")
    assert count(world, "contact_id = :c AND status IN ('queued', 'sending')", c=contact) == 0
    assert count(world, "contact_id = :c AND status = :f", c=contact, f=final) == 1
    assert count(world, "sequence_id = :s AND status = 'queued'", s=sequence) == LEADS - 1
    assert phone not in deliveries_after_worker(world, database_url, user, device, monkeypatch)


def test_a_batch_starting_while_a_reply_is_uncommitted_never_queues_the_step(world, engine):
    user, device, sequence = sequence_world(world)
    contact, _, phone = first_contact(world, sequence)
    batch_pid: list[int] = []
    batch_done = threading.Event()
    real_begin = staging.begin_batch

    def begin(conn: Connection) -> None:
        batch_pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        real_begin(conn)

    def batch() -> None:
        try:
            materialise_sequence_messages(engine, NOW, 1000)
        finally:
            batch_done.set()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(staging, "begin_batch", begin)
        with engine.connect() as conn, ThreadPoolExecutor(1) as pool:
            with conn.begin():
                reply(conn, device, phone)  # holds the contact's row until commit
                future = pool.submit(batch)
                while not batch_pid and not batch_done.is_set():
                    batch_done.wait(0.01)
                # the batch skips the locked contact or waits for it; either way the reply
                # commits with the batch past its read
                wait_until_blocked_or_done(engine, batch_pid[0], batch_done)
            future.result(timeout=WAIT_S)

    assert contact_status(world, contact) == "replied"
    assert count(world, "contact_id = :c AND status <> 'cancelled'", c=contact) == 0
    materialise_sequence_messages(engine, NOW + timedelta(days=2), 1000)
    assert count(world, "contact_id = :c AND status <> 'cancelled'", c=contact) == 0
    assert count(world, "sequence_id = :s AND status = 'queued'", s=sequence) == 2 * (LEADS - 1)


def test_the_claim_stops_a_message_of_a_replied_or_paused_contact(world, engine, database_url,
                                                                   monkeypatch):
    """Whichever way such a message is back in the queue (a rescue, a requeue), it never leaves."""
    user, device, sequence = sequence_world(world)
    materialise_sequence_messages(engine, NOW, 1000)
    stopped, paused = [r["id"] for r in world.sql(
        "SELECT id FROM sequence_contacts WHERE sequence_id = :s ORDER BY id LIMIT 2",
        s=sequence)]
    world.sql("UPDATE sequence_contacts SET status = 'replied' WHERE id = :c", c=stopped)
    world.sql("UPDATE sequence_contacts SET status = 'paused' WHERE id = :c", c=paused)
    stopped_phone, paused_phone = (world.value(
        "SELECT phone FROM message_queue WHERE contact_id = :c", c=c) for c in (stopped, paused))
    delivered = deliveries_after_worker(world, database_url, user, device, monkeypatch)
    assert stopped_phone not in delivered and paused_phone not in delivered
    assert world.sql("SELECT status, last_error FROM message_queue WHERE contact_id = :c",
                     c=stopped)[0] == {"status": "cancelled", "last_error": "lead replied"}
    assert world.value("SELECT status FROM message_queue WHERE contact_id = :c",
                       c=paused) == "held"
