"""One send per device is held by the database, not only by a worker's memory.

When a device's lease moves while its previous owner is still sending (that worker stalled past
its lease, or lost it), the new owner must not send before the old send is over and the device's
minimum delay has passed; and an outcome that arrives after the message was rescued still counts.
The sends are held at a gate (tests/device_host/gated.py), so every interleaving is forced.
"""

import threading
from collections import Counter
from dataclasses import replace

from device_host.worker import Worker
from dripfleet.stores import sending
from tests.device_host.gated import GatedFactory, GatedNetwork

MIN_DELAY = 1.0
# Python's monotonic clock and PostgreSQL's now() are read from different clock sources
CLOCK_SLACK = 0.005


class ClaimCountingWorker(Worker):
    """A worker that counts, per device, the loop passes in which it tried to claim."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.claim_tries: Counter = Counter()

    def _claimable(self, state, now, wall) -> bool:
        ok = super()._claimable(state, now, wall)
        if ok:
            self.claim_tries[state.id] += 1
        return ok


def _start(worker: Worker, started: list) -> Worker:
    thread = threading.Thread(target=worker.run, name=worker.owner, daemon=True)
    thread.start()
    started.append((worker, thread))
    return worker


def _stop(started: list) -> None:
    for worker, _ in started:
        worker.request_stop()
    for _, thread in started:
        thread.join(timeout=30)


def test_new_owner_waits_for_the_old_owners_send_and_the_minimum_delay(
    fleet, fast_settings, database_url,
):
    user = fleet.user()
    device = fleet.device(user, min_delay=MIN_DELAY, max_delay=MIN_DELAY)
    first, second = fleet.queue(user, device, 2)
    network = GatedNetwork()
    network.gate.clear()
    settings = replace(fast_settings, health_check_seconds=0.2)
    started: list = []
    try:
        old = _start(ClaimCountingWorker(settings, database_url, "handover/old", 10, 5,
                                         factory=GatedFactory(network)), started)
        network.wait_inside(1)
        assert [s.message_id for s in network.sends] == [first]
        # the old owner stalls past its device lease and another worker takes the device over
        fleet.sql("UPDATE devices SET lease_owner = 'handover/new',"
                  " lease_until = now() + interval '1 hour' WHERE id = :d", d=device)
        new = _start(ClaimCountingWorker(settings, database_url, "handover/new", 10, 5,
                                         factory=GatedFactory(network)), started)
        # the new owner is connected and keeps trying to claim while the old send is in flight
        fleet.wait_until(lambda: new.claim_tries[device] >= 5)
        assert network.overlaps == []
        assert fleet.sql("SELECT status FROM message_queue WHERE id = :m", m=second)[0][0] == (
            "queued")
        network.gate.set()
        fleet.wait_until(fleet.settled)
        assert old.claim_tries[device] >= 1
    finally:
        network.gate.set()
        _stop(started)
    assert network.overlaps == []
    sends = {s.message_id: s for s in network.sends}
    assert sorted(sends) == [first, second]
    gap = sends[second].started - sends[first].finished
    assert gap >= MIN_DELAY - CLOCK_SLACK, f"the device sent again after {gap:.3f}s"
    assert fleet.statuses() == {"sent": 2}


def test_a_late_outcome_after_a_rescue_is_recorded_and_moves_the_next_send(
    fleet, fast_settings, database_url,
):
    user = fleet.user()
    device = fleet.device(user, min_delay=MIN_DELAY, max_delay=MIN_DELAY)
    first, second = fleet.queue(user, device, 2)
    network = GatedNetwork()
    network.gate.clear()
    started: list = []
    try:
        _start(Worker(fast_settings, database_url, "late/w0", 10, 5,
                      factory=GatedFactory(network)), started)
        network.wait_inside(1)
        # the send outlives its message lease and the supervisor's sweep rescues it, in one
        # transaction so the worker's heartbeat cannot renew the lease in between
        with fleet.engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE message_queue SET lease_until = now() - interval '1 second'"
                f" WHERE id = {int(first)}")
            assert sending.rescue_messages(conn) == {"queued": 1, "failed": 0}
        network.gate.set()  # ... and then the message leaves after all
        fleet.wait_until(fleet.settled)
    finally:
        network.gate.set()
        _stop(started)
    sent = [s.message_id for s in network.sends]
    assert sorted(sent) == [first, second], f"sent {sent}: the rescued message went twice"
    assert fleet.statuses() == {"sent": 2}
    sends = {s.message_id: s for s in network.sends}
    gap = sends[second].started - sends[first].finished
    assert gap >= MIN_DELAY - CLOCK_SLACK, f"the device sent again after {gap:.3f}s"
