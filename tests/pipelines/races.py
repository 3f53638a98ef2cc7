"""The machinery of the race tests (pause / cancel / delete, replies): a real materialisation batch
on one thread, an action on its own connection on another, met at a barrier, the interleaving
forced by the database (pg_blocking_pids), never by timing; and a device worker run afterwards
to show what would really be delivered."""

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

from dripfleet.materialise.campaigns import materialise_campaign_messages
from dripfleet.materialise.sequences import materialise_sequence_messages
from dripfleet.settings import load_settings
from tests.device_host.conftest import FAST_ENV  # the device host's fast timings

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
            wait_until_blocked_or_done(engine, action_pid[0], action_done)
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


def wait_until_blocked_or_done(engine: Engine, pid: int, done: threading.Event) -> None:
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
        # until the control message is sent and nothing on the device waits or is in flight:
        # drips and broadcasts take turns (claim lanes), so the control is not always last
        deadline = time.monotonic() + WAIT_S
        while (world.value("SELECT status FROM message_queue WHERE dedupe_key = :k",
                           k=f"control:{control}") not in ("sent", "failed")
               or world.value("SELECT count(*) FROM message_queue WHERE device_id = :d"
                              " AND status IN ('queued', 'sending')", d=device_id)):
            assert thread.is_alive(), "the worker stopped"
            assert time.monotonic() < deadline, "the control message was never sent"
            worker.stop_event.wait(0.05)
    finally:
        worker.request_stop()
        thread.join(timeout=WAIT_S)
    assert world.value("SELECT status FROM message_queue WHERE dedupe_key = :k",
                       k=f"control:{control}") == "sent"
    return {r["phone"] for r in world.sql("SELECT DISTINCT phone FROM sim_deliveries")}


def phones(world, user_id: int, where: str = "true", **params) -> set[str]:
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
