"""Fair share of the fleet between device hosts (device_host/fair_share.py): the share, the move
budget a worker spends giving surplus devices up, and three real hosts over 60 devices: one
joins (the others give it their surplus without dropping or repeating a message), one is killed
(its devices send again from the others once their leases run out)."""

import multiprocessing
import signal
import time
from collections import Counter

import pytest

from device_host.fair_share import (
    WorkerShare,
    host_share,
    moves_per_second,
    refill,
    share_slack,
    worker_quotas,
)
from tests.device_host.hostproc import HostProcess
from tests.device_host.idle_worker import hold, idle_worker


def _share(quota: int, budget: float, keep: int | None = None) -> WorkerShare:
    """A worker's share as its supervisor sets it; keep = quota: the host is above its share."""
    return WorkerShare(multiprocessing.Value("i", quota),
                       multiprocessing.Value("i", quota if keep is None else keep),
                       multiprocessing.Value("d", budget))


def _owned(fleet, owner: str) -> set[int]:
    return {r[0] for r in fleet.sql("SELECT id FROM devices WHERE lease_owner = :o", o=owner)}


def test_the_share_splits_the_startable_devices_over_live_hosts_and_their_workers():
    assert [host_share(60, n) for n in (1, 2, 3, 7)] == [60, 30, 20, 9]
    assert host_share(60, 0) == 60  # a host always counts itself
    assert sum(worker_quotas(20, 3, 50)) == 20 and max(worker_quotas(20, 3, 50)) == 7
    assert worker_quotas(200, 2, 50) == [50, 50]  # never more than a worker drives
    assert share_slack(20) == 1 and share_slack(600) == 12
    # the other hosts split one joining host's budget: it receives at most the setting a minute
    assert moves_per_second(60, 1) == 1.0 and moves_per_second(60, 4) == pytest.approx(1 / 3)


def test_the_move_budget_refills_at_the_rate_and_never_saves_up_more_than_a_pass():
    budget = multiprocessing.Value("d", 0.0)
    refill(budget, per_second=2.0, seconds=1.5, health_s=5.0)
    assert budget.value == pytest.approx(3.0)
    refill(budget, per_second=2.0, seconds=3600, health_s=5.0)
    assert budget.value == pytest.approx(10.0)
    share = WorkerShare(multiprocessing.Value("i", 1), multiprocessing.Value("i", 1), budget)
    assert share.take_moves(4) == 4 and share.take_moves(100) == 6 and share.take_moves(1) == 0


def test_a_worker_above_its_quota_gives_up_only_what_the_move_budget_allows(
    fleet, fast_settings, database_url
):
    user = fleet.user()
    devices = [fleet.device(user) for _ in range(10)]
    pairing = fleet.device(user, status="pairing")
    with idle_worker(fast_settings, database_url) as worker:
        for device in devices:
            hold(worker, device, session_state="connected")
        hold(worker, pairing, session_state="pairing")
        sending = worker.devices[devices[0]]
        sending.in_flight = 123  # a send is under way on this one
        # within the host's slack (keep above the holding): nothing moves
        worker.share = _share(quota=4, budget=3.0, keep=11)
        worker._lease_pass()  # noqa: SLF001
        assert len(_owned(fleet, worker.owner)) == 11
        worker.share.keep.value = 4
        worker._lease_pass()  # noqa: SLF001
        # three moves allowed: three idle devices go, the sending and pairing ones stay
        assert len(_owned(fleet, worker.owner)) == 8
        assert pairing in _owned(fleet, worker.owner) and devices[0] in _owned(fleet, worker.owner)
        assert worker.share.budget.value == 0
        worker._lease_pass()  # noqa: SLF001
        assert len(_owned(fleet, worker.owner)) == 8  # no budget, no move
        worker.share.budget.value = 100.0
        worker._lease_pass()  # noqa: SLF001
        # down to the quota, idle devices first: the sending one stays while idle ones can go
        owned = _owned(fleet, worker.owner)
        assert len(owned) == 4 and {pairing, devices[0]} <= owned
        assert not sending.releasing and worker.share.budget.value == 96.0
        worker.share.quota.value = worker.share.keep.value = 1
        worker._lease_pass()  # noqa: SLF001
        # the sending device must go too: it stops claiming but keeps its lease until its send
        # is over
        assert _owned(fleet, worker.owner) == {pairing, devices[0]}
        assert sending.releasing and worker.share.budget.value == 93.0
        sending.in_flight = None
        worker._lease_pass()  # noqa: SLF001
        assert _owned(fleet, worker.owner) == {pairing} and set(worker.devices) == {pairing}
        # what it gave up it does not take back


def test_devices_nobody_drives_are_taken_up_to_the_quota_without_spending_moves(
    fleet, fast_settings, database_url
):
    user = fleet.user()
    orphans = [fleet.device(user) for _ in range(4)]
    free = [fleet.device(user) for _ in range(4)]
    # a dead host's leases, run out
    fleet.sql("UPDATE devices SET lease_owner = 'dead/w0', lease_until = now() - interval '1 s'"
              " WHERE id = ANY(:ids)", ids=orphans)
    with idle_worker(fast_settings, database_url) as worker:
        worker.share = _share(quota=6, budget=0.0)
        worker._lease_pass()  # noqa: SLF001
        owned = _owned(fleet, worker.owner)
        assert len(owned) == 6 and set(orphans) <= owned and owned <= set(orphans) | set(free)
        assert worker.share.budget.value == 0.0


# -- three real hosts ---------------------------------------------------------------------------

DEVICES = 60
PER_DEVICE = 60
HOST_ENV = {"HEALTH_CHECK_SECONDS": "0.5", "DEVICE_MOVES_PER_MINUTE": "600",
            "DEVICES_PER_WORKER": "25", "SIM_LATENCY_SECONDS": "0.05"}
# the worker's device lease: 3 health intervals (device_host/worker.py)
LEASE_S = 1.5


@pytest.fixture
def hosts_started(database_url, tmp_path):
    started: list[HostProcess] = []

    def start() -> HostProcess:
        host = HostProcess(database_url, tmp_path / f"host{len(started)}.log", **HOST_ENV)
        started.append(host)
        return host

    yield start
    for host in started:
        host.kill()


def _held(fleet) -> Counter:
    """Devices leased per host (a worker's owner is host_id/wN)."""
    return Counter(dict(fleet.sql(
        "SELECT split_part(lease_owner, '/', 1), count(*) FROM devices"
        " WHERE lease_until > now() GROUP BY 1")))


def _host_id(host: HostProcess, engine) -> str:
    return host.wait_info(engine)["workers"][0]["owner"].split("/")[0]


def test_three_hosts_share_60_devices_a_joining_host_gets_its_share_and_a_killed_hosts_devices_send_again(  # noqa: E501
    fleet, engine, hosts_started
):
    user = fleet.user()
    devices = [fleet.device(user, min_delay=0.5, max_delay=0.5) for _ in range(DEVICES)]
    for device in devices:
        fleet.queue(user, device, PER_DEVICE)
    first, second = hosts_started(), hosts_started()
    ids = [_host_id(first, engine), _host_id(second, engine)]
    fleet.wait_until(lambda: sorted(_held(fleet).values()) == [30, 30])
    fleet.wait_until(lambda: fleet.statuses().get("sent", 0) >= 200)

    third = hosts_started()
    ids.append(_host_id(third, engine))
    fleet.wait_until(lambda: len(_held(fleet)) == 3 and sum(_held(fleet).values()) == DEVICES
                     and all(abs(n - 20) <= 2 for n in _held(fleet).values()))
    # the surplus moved while messages went out: none was sent twice
    repeated = fleet.sql("SELECT message_id FROM sim_deliveries GROUP BY message_id"
                         " HAVING count(*) > 1")
    assert repeated == []
    assert fleet.statuses().get("queued", 0) > 0, "the queue ran dry before the kill"

    # freeze the whole third host, see what it had in flight, then kill it
    third.signal_all(signal.SIGSTOP)
    victim = ids[2]
    orphans = {r[0] for r in fleet.sql(
        "SELECT id FROM devices WHERE lease_owner LIKE :h", h=f"{victim}/%")}
    in_flight = {r[0] for r in fleet.sql(
        "SELECT id FROM message_queue WHERE status = 'sending' AND lease_owner LIKE :h",
        h=f"{victim}/%")}
    killed_at = fleet.sql("SELECT now()")[0][0]
    third.signal_all(signal.SIGKILL)
    third.proc.wait(timeout=10)
    assert len(orphans) >= 18

    def orphans_sending_again() -> bool:
        sent = {r[0] for r in fleet.sql(
            "SELECT DISTINCT device_id FROM sim_deliveries WHERE started_at > :t", t=killed_at)}
        return orphans <= sent

    # the leases run out after LEASE_S; the others' next passes take the devices (the deadline
    # leaves room for a loaded machine, it does not measure)
    fleet.wait_until(orphans_sending_again, timeout=LEASE_S + 20)
    survivors = _held(fleet)
    assert set(survivors) == set(ids[:2]) and sorted(survivors.values()) == [30, 30]

    fleet.wait_until(fleet.settled, timeout=120)
    assert fleet.statuses() == {"sent": DEVICES * PER_DEVICE}
    per_message = dict(fleet.sql(
        "SELECT q.id, count(d.id) FROM message_queue q LEFT JOIN sim_deliveries d"
        " ON d.message_id = q.id GROUP BY q.id"))
    assert all(n >= 1 for n in per_message.values())  # none dropped
    # sent twice only if it was in flight on the killed host
    assert {m for m, n in per_message.items() if n > 1} <= in_flight
    for host in (first, second):
        code, _took = host.terminate()
        assert code == 0


def test_with_every_send_slot_taken_the_device_ready_longest_claims_first(
    fleet, fast_settings, database_url
):
    """A worker whose sends in flight are at its pool size claims for the devices that have
    waited longest, not for the first ones it leased: devices taken over from a dead host
    (last in its list) must not wait behind the others."""
    from device_host.transports.base import DeviceInfo

    user = fleet.user()
    newest, middle, oldest = (fleet.device(user) for _ in range(3))
    for device in (newest, middle, oldest):
        fleet.queue(user, device, 1)
    # the pool holds 2 sends; the dict lists the device ready last first
    with idle_worker(fast_settings, database_url) as worker:
        now = time.monotonic()
        for device, waited in ((newest, 1.0), (middle, 5.0), (oldest, 10.0)):
            state = hold(worker, device, session_state="connected", has_work=True,
                         ready_at=now - waited)
            state.session = worker.factory.open(DeviceInfo(device, user, state.name))
            state.session.start(lambda _event: None)
        worker._claim_and_send()  # noqa: SLF001
        for future in list(worker.in_flight.values()):
            future.result(timeout=10)
        claimed = {r[0] for r in fleet.sql(
            "SELECT device_id FROM message_queue WHERE status = 'sending'")}
        assert claimed == {oldest, middle}
