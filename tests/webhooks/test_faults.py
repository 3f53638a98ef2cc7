"""Faults with real processes: kill -9 of a dispatcher mid-run, and a PostgreSQL restart (on a
server of the test's own). No event is lost; repeats only for what was in flight (same id)."""

import time

from dripfleet.database import get_engine
from dripfleet.stores import users
from tests.conftest import scalar
from tests.webhooks.conftest import add_endpoint, deliveries, emit, new_secret, wait_for

EVENTS = 200
CONCURRENCY = 8


def _slowish(_received, _seen):
    time.sleep(0.02)
    return 200, {}, b"ok"


def _delivered(engine) -> int:
    return scalar(engine, "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")


def _check_nothing_lost(engine, server) -> None:
    ids = {d["event_id"] for d in deliveries(engine)}
    assert len(ids) == EVENTS
    assert set(server.acked) == ids  # every event acknowledged
    repeats = sum(server.acked.values()) - len(ids)
    assert repeats <= CONCURRENCY, f"{repeats} repeats, more than could be in flight"
    assert server.bad_signatures == []
    # only a killed sender can cut a request short, and only one it had in flight
    assert len(server.truncated) <= CONCURRENCY, server.truncated


def test_kill_9_mid_run_loses_nothing_and_repeats_only_what_was_in_flight(
        engine, make_user, receiver, dispatchers, database_url):
    user = make_user()["id"]
    secret = new_secret()
    server = receiver([secret], _slowish)
    add_endpoint(engine, user, server.url(), secret)
    emit(engine, user, EVENTS)
    env = {"WEBHOOK_CONCURRENCY": str(CONCURRENCY), "WEBHOOK_LEASE_SECONDS": "20"}
    first = dispatchers(database_url, **env)
    wait_for(lambda: len(server.acked) >= EVENTS // 4, 60, "a quarter delivered",
             first.check_running)
    first.kill()
    in_flight = scalar(engine, "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
                               " AND next_attempt_at > now() AND attempts > 0")
    assert in_flight <= CONCURRENCY
    second = dispatchers(database_url, **env)
    wait_for(lambda: _delivered(engine) == EVENTS, 90, "every delivery",
             second.check_running)
    assert second.terminate() == 0
    _check_nothing_lost(engine, server)


def test_a_postgresql_restart_mid_run_loses_nothing(own_pg, receiver, dispatchers):
    engine = get_engine(own_pg.url)
    with engine.begin() as conn:
        user = users.create_user(conn, "hooks@example.com", "correct horse")["id"]
    secret = new_secret()
    server = receiver([secret], _slowish)
    add_endpoint(engine, user, server.url(), secret)
    emit(engine, user, EVENTS)
    process = dispatchers(own_pg.url, WEBHOOK_CONCURRENCY=str(CONCURRENCY))
    wait_for(lambda: len(server.acked) >= EVENTS // 4, 60, "a quarter delivered",
             process.check_running)
    own_pg.restart()
    process.check_running()
    wait_for(lambda: _delivered(engine) == EVENTS, 90, "every delivery after the restart",
             process.check_running)
    assert process.terminate() == 0
    assert "database unavailable" in process.log_path.read_text()
    _check_nothing_lost(engine, server)
