"""Real supervisor and worker processes: kill -9, two hosts, SIGTERM, restarts, /healthz."""

import json
import os
import signal
import time
import urllib.request

import pytest
from sqlalchemy import text

from tests.device_host.hostproc import HostProcess


@pytest.fixture
def hosts_started(database_url, tmp_path):
    started: list[HostProcess] = []

    def start(**env) -> HostProcess:
        host = HostProcess(database_url, tmp_path / f"host{len(started)}.log", **env)
        started.append(host)
        return host

    yield start
    for host in started:
        host.kill()


def test_kill_9_of_a_worker_mid_send_loses_nothing(fleet, engine, hosts_started):
    user = fleet.user()
    devices = [fleet.device(user, min_delay=0.02, max_delay=0.05) for _ in range(6)]
    for device in devices:
        fleet.queue(user, device, 40)
    # slow sends so that the kill lands while messages are in flight
    host = hosts_started(SIM_LATENCY_SECONDS="0.15", DEVICES_PER_WORKER="3")
    info = host.wait_info(engine)
    fleet.wait_until(lambda: fleet.statuses().get("sent", 0) >= 20)
    victim = info["workers"][0]
    fleet.wait_until(lambda: fleet.sql(
        "SELECT count(*) FROM message_queue WHERE status = 'sending' AND lease_owner = :o",
        o=victim["owner"])[0][0] > 0)
    in_flight = fleet.sql("SELECT count(*) FROM message_queue WHERE status = 'sending'")[0][0]
    killed_at = time.monotonic()
    os.kill(victim["pid"], signal.SIGKILL)

    def restarted() -> bool:
        now = host.info(engine)
        worker = now["workers"][0] if now else None
        return bool(worker and worker["pid"] != victim["pid"] and worker["alive"])

    fleet.wait_until(restarted, timeout=10)
    assert time.monotonic() - killed_at < 10
    fleet.wait_until(fleet.settled, timeout=60)
    assert fleet.statuses() == {"sent": 240}
    per_message = fleet.sql(
        "SELECT q.id, count(d.id) FROM message_queue q LEFT JOIN sim_deliveries d"
        " ON d.message_id = q.id GROUP BY q.id")
    assert all(n >= 1 for _id, n in per_message)  # none lost
    duplicates = sum(n - 1 for _id, n in per_message)
    assert duplicates <= in_flight


def test_two_hosts_share_50_devices_and_deliver_2000_messages_exactly_once(
    fleet, engine, hosts_started
):
    user = fleet.user()
    devices = [fleet.device(user) for _ in range(50)]
    for device in devices:
        fleet.queue(user, device, 40)
    # one worker of 25 devices per host, so that each host must drive half of the fleet
    env = {"DEVICES_PER_WORKER": "25", "DEVICE_HOST_MAX_WORKERS": "1",
           "SIM_LATENCY_SECONDS": "0.005"}
    first = hosts_started(**env)
    second = hosts_started(**env)
    first.wait_info(engine)
    second.wait_info(engine)
    owners_seen: dict[int, set[str]] = {}

    def sample() -> bool:
        for device_id, owner in fleet.sql(
            "SELECT id, lease_owner FROM devices WHERE lease_owner IS NOT NULL"
        ):
            owners_seen.setdefault(device_id, set()).add(owner)
        return fleet.settled()

    fleet.wait_until(sample, timeout=90)
    assert fleet.statuses() == {"sent": 2000}
    counts = fleet.sql("SELECT message_id, count(*) FROM sim_deliveries GROUP BY message_id")
    assert len(counts) == 2000 and all(n == 1 for _m, n in counts)
    # no device ever changed hands while both hosts ran: one driver each
    assert all(len(owners) == 1 for owners in owners_seen.values())
    assert set(owners_seen) == set(devices)
    hosts_used = {owner.split("/")[0] for owners in owners_seen.values() for owner in owners}
    assert len(hosts_used) == 2
    for host in (first, second):
        code, _took = host.terminate()
        assert code == 0


def test_sigterm_stops_within_30s_with_nothing_sending_or_leased(fleet, engine, hosts_started):
    user = fleet.user()
    devices = [fleet.device(user) for _ in range(8)]
    for device in devices:
        fleet.queue(user, device, 100)
    host = hosts_started(SIM_LATENCY_SECONDS="0.2")
    host.wait_info(engine)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT count(*) FROM message_queue WHERE status = 'sending'")[0][0] > 0)
    code, took = host.terminate(timeout=30)
    assert code == 0 and took < 30
    assert fleet.sql("SELECT count(*) FROM message_queue WHERE status = 'sending'")[0][0] == 0
    assert fleet.sql("SELECT count(*) FROM devices WHERE lease_owner IS NOT NULL")[0][0] == 0
    assert fleet.sql("SELECT stopped_at IS NOT NULL FROM device_hosts")[0][0] is True
    # every delivery has its message recorded as sent: nothing was lost or left half-done
    delivered = {m for (m,) in fleet.sql("SELECT message_id FROM sim_deliveries")}
    sent = {m for (m,) in fleet.sql("SELECT id FROM message_queue WHERE status = 'sent'")}
    assert delivered == sent


def test_device_gap_holds_across_a_host_restart(fleet, engine, hosts_started):
    user = fleet.user()
    device = fleet.device(user, min_delay=0.8, max_delay=0.8)
    fleet.queue(user, device, 6)
    host = hosts_started()
    host.wait_info(engine)
    fleet.wait_until(lambda: fleet.statuses().get("sent", 0) >= 2)
    host.terminate()
    hosts_started().wait_info(engine)
    fleet.wait_until(fleet.settled, timeout=60)
    times = [r.delivered_at for r in fleet.deliveries(device)]
    assert len(times) == 6
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.8


def test_logout_mid_run_fails_over_unpinned_and_pinned_wait_and_held_never_sent(
    fleet, engine, hosts_started
):
    from dripfleet.stores import simulated as sim_store

    user = fleet.user()
    leaving = fleet.device(user, min_delay=0.05, max_delay=0.05)
    staying = fleet.device(user)
    with engine.begin() as conn:
        sim_store.set_device(conn, leaving, logout_after=3)
    unpinned = fleet.queue(user, leaving, 10)
    pinned = fleet.queue(user, leaving, 3, pinned=True)
    held = fleet.queue(user, staying, 2, status="held")
    host = hosts_started()
    host.wait_info(engine)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT count(*) FROM message_queue WHERE status = 'sent'")[0][0] == 10)
    time.sleep(1.0)
    rows = {r.id: r for r in fleet.sql("SELECT id, status, device_id FROM message_queue")}
    assert fleet.sql("SELECT status FROM devices WHERE id = :d", d=leaving)[0][0] == "logged_out"
    assert all(rows[m].status == "sent" for m in unpinned)
    moved = [m for m in unpinned if rows[m].device_id == staying]
    assert len(moved) == 7  # three went out before the logout
    assert all((rows[m].status, rows[m].device_id) == ("queued", leaving) for m in pinned)
    assert all(rows[m].status == "held" for m in held)
    assert not fleet.sql("SELECT 1 FROM sim_deliveries WHERE message_id = ANY(:ids)",
                         ids=pinned + held)


def test_healthz_reports_workers_and_devices_and_pairing_completes(fleet, engine, hosts_started):
    user = fleet.user()
    device = fleet.device(user, status="pairing", pairing_mode="qr")
    host = hosts_started()
    info = host.wait_info(engine)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT status FROM devices WHERE id = :d", d=device)[0][0] == "online")
    row = fleet.sql("SELECT jid, pairing_qr FROM devices WHERE id = :d", d=device)[0]
    assert row.jid and row.pairing_qr is None
    with urllib.request.urlopen(f"http://127.0.0.1:{info['port']}/healthz", timeout=5) as answer:
        body = json.loads(answer.read())
        assert answer.status == 200
    assert body["status"] == "ok"
    assert [w["alive"] for w in body["workers"]] == [True]
    assert body["database"] == "up"
    # counts by status only: the endpoint is unauthenticated, so no per-user data
    assert body["devices"] == {"online": 1}


def test_failing_session_start_marks_the_device_failed(fleet, engine, hosts_started):
    from dripfleet.stores import simulated as sim_store

    user = fleet.user()
    device = fleet.device(user)
    with engine.begin() as conn:
        sim_store.set_device(conn, device, start_fails=True)
    host = hosts_started(DEVICE_START_FAILURE_LIMIT="3")
    host.wait_info(engine)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT status FROM devices WHERE id = :d", d=device)[0][0] == "failed")
    with engine.begin() as conn:
        row = conn.execute(text("SELECT start_failures, last_error FROM devices WHERE id = :d"),
                           {"d": device}).one()
    assert row.start_failures == 3
    assert row.last_error.startswith("session failed to start 3 times in a row")
