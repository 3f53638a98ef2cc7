"""A worker rides through PostgreSQL going away: nothing lost, nothing sent twice, still running.

Each test starts a PostgreSQL server of its own (tests/own_postgres.py) and stops it under a
running worker, as a managed database's restart or failover does.
"""

import itertools
import threading
from dataclasses import replace

import pytest

from device_host.transports.simulated import SimulatedFactory
from device_host.worker import Worker
from dripfleet.database import get_engine
from dripfleet.settings import Settings, load_settings
from dripfleet.stores import users
from tests.device_host.conftest import FAST_ENV, Fleet
from tests.device_host.gated import GatedFactory, GatedNetwork
from tests.own_postgres import OwnPostgres

_emails = itertools.count(1)


@pytest.fixture
def own_fleet(own_pg: OwnPostgres) -> Fleet:
    engine = get_engine(own_pg.url)

    def make_user(**kw) -> dict:
        with engine.begin() as conn:
            return users.create_user(conn, f"outage{next(_emails)}@example.com", "pw pw pw", **kw)

    return Fleet(engine, make_user)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, own_pg: OwnPostgres) -> Settings:
    for key, value in FAST_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DATABASE_URL", own_pg.url)
    # slow enough sends that the outage finds some in flight
    return replace(load_settings(), sim_latency_seconds=0.05)


def _start(settings: Settings, url: str) -> tuple[Worker, threading.Thread]:
    worker = Worker(settings, url, "outage/w0", 50, 20, factory=SimulatedFactory(settings, url))
    thread = threading.Thread(target=worker.run, name="outage-worker", daemon=True)
    thread.start()
    return worker, thread


def _deliveries_per_message(fleet: Fleet) -> dict[int, int]:
    return dict(fleet.sql(
        "SELECT message_id, count(*) FROM sim_deliveries GROUP BY message_id"))


@pytest.mark.parametrize("outage", ["restart", "down_for_a_while"])
def test_worker_rides_through_postgres_going_away(own_pg, own_fleet, settings, outage):
    fleet = own_fleet
    user = fleet.user()
    devices = [fleet.device(user), fleet.device(user)]
    messages = [m for d in devices for m in fleet.queue(user, d, 60)]
    worker, thread = _start(settings, own_pg.url)
    try:
        fleet.wait_until(lambda: (fleet.statuses().get("sent") or 0) >= 20)
        own_pg.stop()
        if outage == "down_for_a_while":
            # several health intervals and lease passes fail meanwhile; sends in flight wait
            threading.Event().wait(3.0)
        own_pg.start()
        fleet.wait_until(fleet.settled, timeout=60)
        assert thread.is_alive(), "the worker died with the database"
        assert fleet.statuses() == {"sent": len(messages)}
        per_message = _deliveries_per_message(fleet)
        assert set(per_message) == set(messages), "a message was lost"
        twice = {m: n for m, n in per_message.items() if n > 1}
        # at most the sends in flight at the fault (one per device) may have left twice
        assert len(twice) <= len(devices), twice
        states = fleet.sql("SELECT status FROM devices")
        assert {s for (s,) in states} == {"online"}
    finally:
        worker.request_stop()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_outcomes_of_sends_finished_while_the_database_was_away_are_kept(
    own_pg, own_fleet, settings,
):
    """A send that returns while the database is away is recorded afterwards, not sent again."""
    fleet = own_fleet
    user = fleet.user()
    device = fleet.device(user)
    messages = fleet.queue(user, device, 5)
    network = GatedNetwork()
    network.gate.clear()
    worker = Worker(settings, own_pg.url, "outage/w1", 50, 20, factory=GatedFactory(network))
    thread = threading.Thread(target=worker.run, name="outage-worker", daemon=True)
    thread.start()
    try:
        network.wait_inside(1)
        own_pg.stop()
        network.gate.set()  # the message leaves while nothing can be written
        fleet.wait_until(lambda: bool(worker._unrecorded))  # noqa: SLF001 - what is kept
        kept = {o.message_id for o, _ in worker._unrecorded}  # noqa: SLF001
        assert kept == {messages[0]}
        own_pg.start()
        fleet.wait_until(fleet.settled, timeout=60)
        assert thread.is_alive()
        assert fleet.statuses() == {"sent": len(messages)}
        sent = sorted(s.message_id for s in network.sends)
        assert sent == sorted(messages), "a message was sent twice or not at all"
    finally:
        worker.request_stop()
        thread.join(timeout=30)
