"""Pause, cancel and delete are final, even while a materialisation batch is in flight.

Each test runs a real batch (the tick's store function) on one thread. A hook placed right after
the batch has read what it will queue (the due contacts, or the campaign's audience page) meets a
second thread at a barrier; that thread pauses / cancels / deletes through the web app's service
on its own connection. The batch goes on only once that transaction has returned or is waiting for
a lock (pg_blocking_pids), so the interleaving is forced by the database, never by timing. Then
nothing of the paused / cancelled / deleted thing may be queued, and a device worker run
afterwards must deliver none of it.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection, text

from dripfleet.materialise import campaigns, sequences, staging
from dripfleet.materialise.sequences import materialise_sequence_messages
from tests.pipelines.races import (
    LEADS,
    NOW,
    WAIT_S,
    campaign_world,
    count,
    deliveries_after_worker,
    phones,
    race,
    run_campaign_page,
    run_sequence_batch,
    sequence_world,
    wait_until_blocked_or_done,
)
from webapp.services import campaigns as campaign_service
from webapp.services import leads as lead_service
from webapp.services import sequences as sequence_service

# -- sequences ----------------------------------------------------------------------------------


def test_pausing_a_sequence_while_its_batch_is_in_flight_holds_what_the_batch_queued(
    world, engine, database_url, monkeypatch
):
    user, device, sequence = sequence_world(world)
    race(engine, monkeypatch, sequences, "load_chooser", run_sequence_batch(engine),
         lambda conn: sequence_service.pause_sequence(conn, user, sequence))

    assert count(world, "sequence_id = :s AND status IN ('queued', 'sending')", s=sequence) == 0
    # the batch had read first, so it queued its rows; the pause waited for it and held them
    assert count(world, "sequence_id = :s AND status = 'held'", s=sequence) == LEADS
    assert deliveries_after_worker(world, database_url, user, device, monkeypatch).isdisjoint(
        phones(world, user, "name <> 'Control'"))


def test_a_batch_starting_while_a_pause_is_uncommitted_waits_for_it_and_queues_nothing(
    world, engine, monkeypatch
):
    user, _, sequence = sequence_world(world)
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

    monkeypatch.setattr(staging, "begin_batch", begin)
    with engine.connect() as conn, ThreadPoolExecutor(1) as pool:
        with conn.begin():
            sequence_service.pause_sequence(conn, user, sequence)
            future = pool.submit(batch)
            while not batch_pid and not batch_done.is_set():
                batch_done.wait(0.01)
            # the batch now waits for the pause (or, without the sequence lock, has read the
            # sequence as still active and waits at its insert): then the pause commits
            wait_until_blocked_or_done(engine, batch_pid[0], batch_done)
        future.result(timeout=WAIT_S)

    assert count(world, "sequence_id = :s", s=sequence) == 0
    assert world.value("SELECT count(*) FROM sequence_contacts WHERE sequence_id = :s"
                       " AND current_day = 0 AND status = 'active'", s=sequence) == LEADS


def test_deleting_a_sequence_while_its_batch_is_in_flight_cancels_what_the_batch_queued(
    world, engine, database_url, monkeypatch
):
    user, device, sequence = sequence_world(world)
    race(engine, monkeypatch, sequences, "load_chooser", run_sequence_batch(engine),
         lambda conn: sequence_service.delete_sequence(conn, user, sequence))

    assert world.value("SELECT count(*) FROM sequences WHERE id = :s", s=sequence) == 0
    # the foreign keys set sequence_id / contact_id to NULL: the dedupe key still says whose
    assert count(world, "user_id = :u AND dedupe_key LIKE 'seq:%%'"
                        " AND status IN ('queued', 'sending')", u=user) == 0
    assert count(world, "user_id = :u AND status = 'cancelled'", u=user) == LEADS
    assert deliveries_after_worker(world, database_url, user, device, monkeypatch).isdisjoint(
        phones(world, user, "name <> 'Control'"))


def test_removing_a_contact_while_its_batch_is_in_flight_cancels_its_message(
    world, engine, database_url, monkeypatch
):
    user, device, sequence = sequence_world(world)
    contact, phone = world.sql(
        "SELECT c.id, l.phone FROM sequence_contacts c JOIN leads l ON l.id = c.lead_id"
        " WHERE c.sequence_id = :s ORDER BY c.id LIMIT 1", s=sequence)[0].values()
    race(engine, monkeypatch, sequences, "load_chooser", run_sequence_batch(engine),
         lambda conn: sequence_service.remove_contact(conn, user, sequence, contact))

    assert count(world, "phone = :p AND status IN ('queued', 'sending')", p=phone) == 0
    # the other contacts were queued as usual
    assert count(world, "sequence_id = :s AND status = 'queued'", s=sequence) == LEADS - 1
    delivered = deliveries_after_worker(world, database_url, user, device, monkeypatch)
    assert phone not in delivered
    assert len(delivered & phones(world, user)) == LEADS  # LEADS - 1 contacts + the control


# -- campaigns ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "final"),
    [
        (campaign_service.pause_campaign, "held"),
        (campaign_service.cancel_campaign, "cancelled"),
        (campaign_service.delete_campaign, "cancelled"),
    ],
    ids=["pause", "cancel", "delete"],
)
def test_a_campaign_stopped_while_its_audience_page_is_in_flight_sends_nothing_more(
    world, engine, database_url, monkeypatch, action, final
):
    user, device, campaign = campaign_world(world)
    race(engine, monkeypatch, campaigns, "_assign", run_campaign_page(engine),
         lambda conn: action(conn, user, campaign))

    mine = "user_id = :u AND dedupe_key LIKE :k"
    key = f"camp:{campaign}:%"
    assert count(world, f"{mine} AND status IN ('queued', 'sending')", u=user, k=key) == 0
    # the page was queued (the campaign row lock made the stop wait for it), then stopped
    assert count(world, f"{mine} AND status = :f", u=user, k=key, f=final) == LEADS
    assert deliveries_after_worker(world, database_url, user, device, monkeypatch).isdisjoint(
        phones(world, user, "name <> 'Control'"))


# -- leads --------------------------------------------------------------------------------------


def _first_lead(world, user: int) -> tuple[int, str]:
    row = world.sql("SELECT id, phone FROM leads WHERE user_id = :u ORDER BY id LIMIT 1",
                    u=user)[0]
    return row["id"], row["phone"]


@pytest.mark.parametrize("source", ["sequence", "campaign"])
def test_deleting_a_lead_while_a_batch_for_it_is_in_flight_leaves_nothing_to_send(
    world, engine, database_url, monkeypatch, source
):
    if source == "sequence":
        user, device, _ = sequence_world(world)
        module, hook, batch = sequences, "load_chooser", run_sequence_batch(engine)
    else:
        user, device, _ = campaign_world(world)
        module, hook, batch = campaigns, "_assign", run_campaign_page(engine)
    lead, phone = _first_lead(world, user)
    race(engine, monkeypatch, module, hook, batch,
         lambda conn: lead_service.delete_lead(conn, user, lead))

    assert world.value("SELECT count(*) FROM leads WHERE id = :l", l=lead) == 0
    assert count(world, "phone = :p AND status IN ('queued', 'sending')", p=phone) == 0
    assert count(world, f"source = '{source}' AND status = 'queued'") == LEADS - 1
    delivered = deliveries_after_worker(world, database_url, user, device, monkeypatch)
    assert phone not in delivered
    assert len(delivered & phones(world, user)) == LEADS  # the other leads + the control


@pytest.mark.parametrize("source", ["sequence", "campaign"])
def test_opting_a_lead_out_while_a_batch_for_it_is_in_flight_leaves_nothing_queued(
    world, engine, database_url, monkeypatch, source
):
    if source == "sequence":
        user, device, _ = sequence_world(world)
        module, hook, batch = sequences, "load_chooser", run_sequence_batch(engine)
    else:
        user, device, _ = campaign_world(world)
        module, hook, batch = campaigns, "_assign", run_campaign_page(engine)
    lead, phone = _first_lead(world, user)
    race(engine, monkeypatch, module, hook, batch,
         lambda conn: lead_service.update_lead(conn, user, lead, {"opted_out": True}, "MY"))

    assert count(world, "phone = :p AND status IN ('queued', 'sending')", p=phone) == 0
    delivered = deliveries_after_worker(world, database_url, user, device, monkeypatch)
    assert phone not in delivered
    assert len(delivered & phones(world, user)) == LEADS
