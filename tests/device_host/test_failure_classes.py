"""Failure classes end to end: a campaign materialised by the real tick, sent by a worker.

A bought lead list full of numbers that are not on WhatsApp fails those messages as 'recipient'
and leaves every device online; a campaign whose media link is broken pauses itself after
CONTENT_FAILURE_PAUSE_AFTER content failures in a row, with the reason, and no device suffers.
"""

import time
from datetime import UTC, datetime

import pytest

from dripfleet.stores import simulated as sim_store
from pipelines.tick import run_tick
from tests.local_http import LocalServer
from tests.pipelines.conftest import World


def _devices(world: World, user: int, count: int) -> list[int]:
    """Online devices with no delay between sends (the table's default is 5-15 s)."""
    ids = [world.device(user, name=f"phone {n}") for n in range(count)]
    world.sql("UPDATE devices SET min_delay_s = 0, max_delay_s = 0 WHERE user_id = :u", u=user)
    return ids


def _wait(world: World, done, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(world.sql(
                "SELECT status, failure_class, last_error, count(*) FROM message_queue"
                " GROUP BY 1, 2, 3"))
        time.sleep(0.05)


@pytest.fixture
def world(engine, make_user) -> World:
    return World(engine, make_user)


def test_numbers_not_on_whatsapp_fail_as_recipient_and_every_device_stays_online(
    world, database_url, run_worker,
):
    user = world.user()
    devices = _devices(world, user, 2)
    world.leads(user, 50, ["fitness"])
    phones = [r["phone"] for r in world.sql(
        "SELECT phone FROM leads WHERE user_id = :u ORDER BY phone LIMIT 30", u=user)]
    with world.engine.begin() as conn:
        for phone in phones:
            sim_store.set_phone(conn, phone, on_whatsapp=False)
    campaign = world.campaign(user, datetime.now(UTC), niche="fitness")
    assert run_tick(database_url=database_url).success
    assert world.value("SELECT count(*) FROM message_queue WHERE campaign_id = :c",
                       c=campaign) == 50
    # fewer than 30 so that, counted as before, the recipients would have paused both devices
    run_worker(device_failure_pause_after=10)
    _wait(world, lambda: not world.value(
        "SELECT count(*) FROM message_queue WHERE status IN ('queued', 'sending')"))
    rows = world.sql("SELECT status, failure_class, phone FROM message_queue"
                     " WHERE campaign_id = :c", c=campaign)
    failed = {r["phone"] for r in rows if r["status"] == "failed"}
    assert failed == set(phones)
    assert {r["failure_class"] for r in rows if r["status"] == "failed"} == {"recipient"}
    assert sum(r["status"] == "sent" for r in rows) == 20
    states = world.sql("SELECT id, status, consecutive_failures FROM devices ORDER BY id")
    assert [(s["id"], s["status"], s["consecutive_failures"]) for s in states] == [
        (d, "online", 0) for d in devices]
    per_device = world.value("SELECT sum(recipient_failures) FROM device_outcomes_hourly")
    assert per_device == 30


def test_a_broken_media_link_pauses_the_campaign_not_the_devices(
    world, database_url, run_worker,
):
    server = LocalServer(lambda _path: (404, {"Content-Type": "text/html"}, b"not here"))
    try:
        user = world.user()
        devices = _devices(world, user, 2)
        world.leads(user, 30, ["yoga"])
        campaign = world.campaign(user, datetime.now(UTC), niche="yoga")
        world.sql("UPDATE campaigns SET message_type = 'image', media_url = :u, body = ''"
                  " WHERE id = :c", u=f"{server.url}/gone.png", c=campaign)
        assert run_tick(database_url=database_url).success
        run_worker(content_failure_pause_after=5, allow_private_urls=True)
        _wait(world, lambda: world.value(
            "SELECT status FROM campaigns WHERE id = :c", c=campaign) == "paused")
        _wait(world, lambda: not world.value(
            "SELECT count(*) FROM message_queue WHERE status = 'sending'"))
    finally:
        server.close()
    row = world.sql("SELECT status, last_error FROM campaigns WHERE id = :c", c=campaign)[0]
    assert row["status"] == "paused"
    assert row["last_error"].startswith("paused after 5 content failures in a row: ")
    assert "404" in row["last_error"]
    counts = dict((r["status"], r["n"]) for r in world.sql(
        "SELECT status, count(*) AS n FROM message_queue WHERE campaign_id = :c GROUP BY 1",
        c=campaign))
    # the fifth failure paused it; a send already in flight on the other device may fail too
    assert 5 <= counts["failed"] <= 5 + len(devices) - 1, counts
    assert counts["held"] == 30 - counts["failed"], counts
    assert set(counts) == {"failed", "held"}
    classes = world.sql("SELECT DISTINCT failure_class FROM message_queue WHERE status = 'failed'")
    assert classes == [{"failure_class": "content"}]
    states = world.sql("SELECT status, consecutive_failures FROM devices ORDER BY id")
    assert states == [{"status": "online", "consecutive_failures": 0}] * 2
