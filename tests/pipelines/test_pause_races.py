"""Pause, cancel and delete are final, even while a materialisation batch is in flight.

Each test runs a real batch (the tick's store function) on one thread. A hook placed right after
the batch has read what it will queue (the due contacts, or the campaign's audience page) meets a
second thread at a barrier; that thread pauses / cancels / deletes through the web app's service
on its own connection. The batch goes on only once that transaction has returned or is waiting for
a lock (pg_blocking_pids), so the interleaving is forced by the database, never by timing. Then
nothing of the paused / cancelled / deleted thing may be queued, and a device worker run
afterwards must deliver none of it.
"""

import itertools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from dripfleet.settings import load_settings
from dripfleet.stores import campaign_messages, materialise, sequence_messages
from dripfleet.stores.campaign_messages import materialise_campaign_messages
from dripfleet.stores.sequence_messages import materialise_sequence_messages
from tests.device_host.conftest import FAST_ENV  # the device host's fast timings
from webapp.services import campaigns as campaign_service
from webapp.services import leads as lead_service
from webapp.services import sequences as sequence_service

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
LEADS = 4
WAIT_S = 60
_owners = itertools.count(1)



def race(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, module: Any, hook: str,
    batch: Callable[[], Any], action: Callable[[Connection], Any],
) -> None:
    """Run `batch`; when it first calls module.hook (its read is done, nothing committed), run
    `action` in its own transaction, and let the batch go on once the action has committed or
    waits for a lock. Errors of either side (a deadlock, a foreign key violation) fail the test."""
    barrier = threading.Barrier(2, timeout=WAIT_S)
    real = getattr(module, hook)
    calls = itertools.count()
    action_pid: list[int] = []
    action_done = threading.Event()

    def hooked(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == 0:
            barrier.wait()
            _wait_until_blocked_or_done(engine, action_pid[0], action_done)
        return real(*args, **kwargs)

    def act() -> None:
        try:
            with engine.begin() as conn:
                action_pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
                barrier.wait()
                action(conn)
        finally:
            action_done.set()

    monkeypatch.setattr(module, hook, hooked)
    with ThreadPoolExecutor(2) as pool:
        batch_future = pool.submit(batch)
        action_future = pool.submit(act)
        action_future.result(timeout=WAIT_S)
        batch_future.result(timeout=WAIT_S)
    assert next(calls) > 0, "the batch never reached its hook: nothing raced"


def _wait_until_blocked_or_done(engine: Engine, pid: int, done: threading.Event) -> None:
    """Return once the other transaction has ended or waits for a lock someone holds."""
    with engine.connect() as conn:
        while not done.is_set():
            blocked = conn.execute(
                text("SELECT cardinality(pg_blocking_pids(:pid)) > 0"), {"pid": pid}
            ).scalar_one()
            conn.rollback()
            if blocked:
                return


def count(world, sql: str, **params) -> int:
    """One count(*) over message_queue with a WHERE clause."""
    return world.value(f"SELECT count(*) FROM message_queue WHERE {sql}", **params)


def deliveries_after_worker(world, database_url: str, user_id: int, device_id: int,
                            monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Queue one control message last on the device, run a device worker (simulated network)
    until it is sent, and return every phone that received something."""
    from device_host.transports.simulated import SimulatedFactory
    from device_host.worker import Worker

    control = world.lead(user_id, name="Control")
    world.sql("UPDATE devices SET min_delay_s = 0, max_delay_s = 0 WHERE id = :d", d=device_id)
    world.sql(
        "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source, dedupe_key)"
        " SELECT user_id, :d, id, phone, 'control', 'api', 'control:' || id FROM leads"
        " WHERE id = :l", d=device_id, l=control,
    )
    for key, value in FAST_ENV.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()  # DATABASE_URL is this test's database (the fixture sets it)
    worker = Worker(settings, database_url, f"race/w{next(_owners)}-{os.getpid()}", 10, 4,
                    factory=SimulatedFactory(settings, database_url))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        # the claim takes a device's queued messages in id order: once the control message is
        # sent, every message queued before it has been claimed too
        deadline = time.monotonic() + WAIT_S
        while world.value("SELECT status FROM message_queue WHERE dedupe_key = :k",
                          k=f"control:{control}") not in ("sent", "failed"):
            assert thread.is_alive(), "the worker stopped"
            assert time.monotonic() < deadline, "the control message was never sent"
            worker.stop_event.wait(0.05)
    finally:
        worker.request_stop()
        thread.join(timeout=WAIT_S)
    assert world.value("SELECT status FROM message_queue WHERE dedupe_key = :k",
                       k=f"control:{control}") == "sent"
    return {r["phone"] for r in world.sql("SELECT DISTINCT phone FROM sim_deliveries")}


def _phones(world, user_id: int, where: str = "true", **params) -> set[str]:
    return {r["phone"] for r in world.sql(
        f"SELECT phone FROM leads WHERE user_id = :u AND {where}", u=user_id, **params)}


def sequence_world(world) -> tuple[int, int, int]:
    """A user, an online device, LEADS leads enrolled in an active sequence and due now."""
    user = world.user()
    device = world.device(user)
    for n in range(LEADS):
        world.lead(user, niches=["fitness"], name=f"Lead {n}")
    sequence = world.sequence(user, niche="fitness", steps=[(1, "09:00"), (2, "09:00")])
    world.sql(
        "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, enrolled_at, next_due_at)"
        " SELECT user_id, :s, id, :due, :due FROM leads WHERE user_id = :u",
        s=sequence, u=user, due=NOW - timedelta(minutes=1),
    )
    return user, device, sequence


def campaign_world(world) -> tuple[int, int, int]:
    """A user, an online device, LEADS leads and a running campaign due now for all of them."""
    user = world.user()
    device = world.device(user)
    for n in range(LEADS):
        world.lead(user, niches=["fitness"], name=f"Lead {n}")
    campaign = world.campaign(user, NOW - timedelta(minutes=1), niche="fitness")
    return user, device, campaign


def run_sequence_batch(engine: Engine) -> Callable[[], Any]:
    return lambda: materialise_sequence_messages(engine, NOW, 1000)


def run_campaign_page(engine: Engine) -> Callable[[], Any]:
    return lambda: materialise_campaign_messages(engine, NOW, 1000)


# -- sequences ----------------------------------------------------------------------------------


def test_pausing_a_sequence_while_its_batch_is_in_flight_holds_what_the_batch_queued(
    world, engine, database_url, monkeypatch
):
    user, device, sequence = sequence_world(world)
    race(engine, monkeypatch, sequence_messages, "load_chooser", run_sequence_batch(engine),
         lambda conn: sequence_service.pause_sequence(conn, user, sequence))

    assert count(world, "sequence_id = :s AND status IN ('queued', 'sending')", s=sequence) == 0
    # the batch had read first, so it queued its rows; the pause waited for it and held them
    assert count(world, "sequence_id = :s AND status = 'held'", s=sequence) == LEADS
    assert deliveries_after_worker(world, database_url, user, device, monkeypatch).isdisjoint(
        _phones(world, user, "name <> 'Control'"))


def test_a_batch_starting_while_a_pause_is_uncommitted_waits_for_it_and_queues_nothing(
    world, engine, monkeypatch
):
    user, _, sequence = sequence_world(world)
    batch_pid: list[int] = []
    batch_done = threading.Event()
    real_begin = materialise.begin_batch

    def begin(conn: Connection) -> None:
        batch_pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        real_begin(conn)

    def batch() -> None:
        try:
            materialise_sequence_messages(engine, NOW, 1000)
        finally:
            batch_done.set()

    monkeypatch.setattr(materialise, "begin_batch", begin)
    with engine.connect() as conn, ThreadPoolExecutor(1) as pool:
        with conn.begin():
            sequence_service.pause_sequence(conn, user, sequence)
            future = pool.submit(batch)
            while not batch_pid and not batch_done.is_set():
                batch_done.wait(0.01)
            # the batch now waits for the pause (or, without the sequence lock, has read the
            # sequence as still active and waits at its insert): then the pause commits
            _wait_until_blocked_or_done(engine, batch_pid[0], batch_done)
        future.result(timeout=WAIT_S)

    assert count(world, "sequence_id = :s", s=sequence) == 0
    assert world.value("SELECT count(*) FROM sequence_contacts WHERE sequence_id = :s"
                       " AND current_day = 0 AND status = 'active'", s=sequence) == LEADS


def test_deleting_a_sequence_while_its_batch_is_in_flight_cancels_what_the_batch_queued(
    world, engine, database_url, monkeypatch
):
    user, device, sequence = sequence_world(world)
    race(engine, monkeypatch, sequence_messages, "load_chooser", run_sequence_batch(engine),
         lambda conn: sequence_service.delete_sequence(conn, user, sequence))

    assert world.value("SELECT count(*) FROM sequences WHERE id = :s", s=sequence) == 0
    # the foreign keys set sequence_id / contact_id to NULL: the dedupe key still says whose
    assert count(world, "user_id = :u AND dedupe_key LIKE 'seq:%%'"
                        " AND status IN ('queued', 'sending')", u=user) == 0
    assert count(world, "user_id = :u AND status = 'cancelled'", u=user) == LEADS
    assert deliveries_after_worker(world, database_url, user, device, monkeypatch).isdisjoint(
        _phones(world, user, "name <> 'Control'"))


def test_removing_a_contact_while_its_batch_is_in_flight_cancels_its_message(
    world, engine, database_url, monkeypatch
):
    user, device, sequence = sequence_world(world)
    contact, phone = world.sql(
        "SELECT c.id, l.phone FROM sequence_contacts c JOIN leads l ON l.id = c.lead_id"
        " WHERE c.sequence_id = :s ORDER BY c.id LIMIT 1", s=sequence)[0].values()
    race(engine, monkeypatch, sequence_messages, "load_chooser", run_sequence_batch(engine),
         lambda conn: sequence_service.remove_contact(conn, user, sequence, contact))

    assert count(world, "phone = :p AND status IN ('queued', 'sending')", p=phone) == 0
    # the other contacts were queued as usual
    assert count(world, "sequence_id = :s AND status = 'queued'", s=sequence) == LEADS - 1
    delivered = deliveries_after_worker(world, database_url, user, device, monkeypatch)
    assert phone not in delivered
    assert len(delivered & _phones(world, user)) == LEADS  # LEADS - 1 contacts + the control


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
    race(engine, monkeypatch, campaign_messages, "_assign", run_campaign_page(engine),
         lambda conn: action(conn, user, campaign))

    mine = "user_id = :u AND dedupe_key LIKE :k"
    key = f"camp:{campaign}:%"
    assert count(world, f"{mine} AND status IN ('queued', 'sending')", u=user, k=key) == 0
    # the page was queued (the campaign row lock made the stop wait for it), then stopped
    assert count(world, f"{mine} AND status = :f", u=user, k=key, f=final) == LEADS
    assert deliveries_after_worker(world, database_url, user, device, monkeypatch).isdisjoint(
        _phones(world, user, "name <> 'Control'"))


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
        module, hook, batch = sequence_messages, "load_chooser", run_sequence_batch(engine)
    else:
        user, device, _ = campaign_world(world)
        module, hook, batch = campaign_messages, "_assign", run_campaign_page(engine)
    lead, phone = _first_lead(world, user)
    race(engine, monkeypatch, module, hook, batch,
         lambda conn: lead_service.delete_lead(conn, user, lead))

    assert world.value("SELECT count(*) FROM leads WHERE id = :l", l=lead) == 0
    assert count(world, "phone = :p AND status IN ('queued', 'sending')", p=phone) == 0
    assert count(world, f"source = '{source}' AND status = 'queued'") == LEADS - 1
    delivered = deliveries_after_worker(world, database_url, user, device, monkeypatch)
    assert phone not in delivered
    assert len(delivered & _phones(world, user)) == LEADS  # the other leads + the control


@pytest.mark.parametrize("source", ["sequence", "campaign"])
def test_opting_a_lead_out_while_a_batch_for_it_is_in_flight_leaves_nothing_queued(
    world, engine, database_url, monkeypatch, source
):
    if source == "sequence":
        user, device, _ = sequence_world(world)
        module, hook, batch = sequence_messages, "load_chooser", run_sequence_batch(engine)
    else:
        user, device, _ = campaign_world(world)
        module, hook, batch = campaign_messages, "_assign", run_campaign_page(engine)
    lead, phone = _first_lead(world, user)
    race(engine, monkeypatch, module, hook, batch,
         lambda conn: lead_service.update_lead(conn, user, lead, {"opted_out": True}, "MY"))

    assert count(world, "phone = :p AND status IN ('queued', 'sending')", p=phone) == 0
    delivered = deliveries_after_worker(world, database_url, user, device, monkeypatch)
    assert phone not in delivered
    assert len(delivered & _phones(world, user)) == LEADS
