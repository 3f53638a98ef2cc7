"""Issue 16: a message being sent by a live worker is never queued again, however long the
worker's loop is held up.

A message's lease runs out 3 health intervals after its claim unless renewed; a supervisor then
queues it again, and another host may send it a second time. The loop used to renew it only from
its lease pass, and the lease pass also ran the ban-risk guard's scoring, a statement that took
minutes on a loaded database: the loop waited in it, the outcomes of sends that had gone out
waited with it, the leases ran out and the messages were queued again for another host to send
a second time (bench/scale_out.py: 43 duplicates outside the killed host's sends).

1. The lease keeper renews the leases of the sends in flight from its own thread while the loop
   does not come round (and gives them up once the loop has been stuck for KEEPER_STALL_LEASES
   leases: a worker stuck for good is as good as dead).
2. Two real hosts whose every scoring is held by a lock (the barrier) go on sending, recording
   and renewing: nothing is queued again and nothing is sent twice.
"""

import signal
from concurrent.futures import Future

import pytest
from sqlalchemy import text

from device_host.leases import KEEPER_STALL_LEASES
from dripfleet.stores import hosts
from dripfleet.stores import sending as sending_store
from tests.device_host.hostproc import HostProcess
from tests.device_host.idle_worker import hold, idle_worker


def _db_clock_past(fleet, instant) -> bool:
    return fleet.sql("SELECT now() > :t", t=instant)[0][0]


def test_the_keeper_renews_the_leases_of_sends_in_flight_while_the_loop_is_held_up(
    fleet, fast_settings, database_url
):
    user = fleet.user()
    device = fleet.device(user)
    [message] = fleet.queue(user, device, 1)
    with idle_worker(fast_settings, database_url) as worker:  # its loop never comes round
        hold(worker, device, session_state="connected")
        with worker.engine.begin() as conn:
            [row] = sending_store.claim_messages(conn, worker.owner, [device], worker.lease_s)
        assert row["id"] == message and row["status"] == "sending"
        # sent, its outcome not recorded yet: the worker keeps it in flight until it is
        worker.in_flight[message] = Future()
        [claimed_until] = fleet.sql("SELECT lease_until FROM message_queue WHERE id = :m",
                                    m=message)[0]
        worker._loop_at = float("inf")  # noqa: SLF001 - the loop "just came round", for ever
        worker._start_lease_keeper()  # noqa: SLF001
        try:
            # past the lease the claim gave, and one more keeper interval
            fleet.wait_until(lambda: _db_clock_past(fleet, claimed_until)
                             and fleet.sql("SELECT lease_until > :t FROM message_queue"
                                           " WHERE id = :m", t=claimed_until, m=message)[0][0])
            with fleet.engine.begin() as conn:
                assert sending_store.rescue_messages(conn) == {"queued": 0, "failed": 0}
            assert fleet.statuses() == {"sending": 1}

            # a loop stuck for KEEPER_STALL_LEASES leases: the keeper lets the lease run out
            worker._loop_at = -KEEPER_STALL_LEASES * worker.lease_s * 2  # noqa: SLF001
            # its next round sees it and renews nothing from then on (one thread: a renewal it
            # began before is committed by then)
            fleet.wait_until(lambda: worker._keeper_gave_up)  # noqa: SLF001
            [kept_until] = fleet.sql("SELECT lease_until FROM message_queue WHERE id = :m",
                                     m=message)[0]
            fleet.wait_until(lambda: _db_clock_past(fleet, kept_until))
            with fleet.engine.begin() as conn:
                assert sending_store.rescue_messages(conn) == {"queued": 1, "failed": 0}
        finally:
            worker._stop_lease_keeper()  # noqa: SLF001


def test_the_keeper_skips_a_message_another_transaction_holds_instead_of_waiting(fleet, engine):
    """The loop recording the outcome holds the row: the keeper must not wait for it (the two
    writers of one worker would deadlock, each holding rows the other wants)."""
    user = fleet.user()
    device = fleet.device(user)
    [message] = fleet.queue(user, device, 1)
    fleet.sql("UPDATE message_queue SET status = 'sending', lease_owner = 'h/w0',"
              " lease_until = now() + interval '1 minute' WHERE id = :m", m=message)
    with engine.connect() as recording:
        recording.execute(text("SELECT 1 FROM message_queue WHERE id = :m FOR UPDATE"),
                          {"m": message})
        with engine.begin() as conn:  # it would wait here for ever, were it to wait
            assert hosts.keep_sending_leases(conn, "h/w0", 600, [message]) == 0
        recording.rollback()
    with engine.begin() as conn:
        assert hosts.keep_sending_leases(conn, "h/w0", 600, [message]) == 1
        assert hosts.keep_sending_leases(conn, "other/w0", 600, [message]) == 0


# -- two real hosts, their scorings held by a lock ---------------------------------------------

DEVICES = 20
PER_DEVICE = 60
HOST_ENV = {"HEALTH_CHECK_SECONDS": "0.5", "RISK_CHECK_SECONDS": "0.5",
            "DEVICES_PER_WORKER": "25", "SIM_LATENCY_SECONDS": "0.2",
            "DEVICE_MOVES_PER_MINUTE": "600"}
LEASE_S = 1.5  # 3 health intervals (device_host/worker.py)


@pytest.fixture
def two_hosts(database_url, tmp_path):
    hosts = [HostProcess(database_url, tmp_path / f"host{n}.log", **HOST_ENV) for n in range(2)]
    yield hosts
    for host in hosts:
        host.kill()


def _waiting_scorings(fleet) -> int:
    """Guard scorings waiting for the lock on device_risk_events (assess_risk reads it; nothing
    else the hosts run here does)."""
    return fleet.sql("SELECT count(*) FROM pg_locks WHERE NOT granted"
                     " AND relation = 'device_risk_events'::regclass")[0][0]


def test_hosts_whose_scorings_wait_go_on_sending_and_queue_nothing_again(
    fleet, engine, two_hosts
):
    user = fleet.user()
    for _ in range(DEVICES):
        fleet.device(user, min_delay=0.1, max_delay=0.6)
    fleet.sql(
        "INSERT INTO message_queue (user_id, device_id, phone, body, source, dedupe_key)"
        " SELECT :u, d.id, '+6013' || lpad((d.id * 100 + g)::text, 8, '0'), 'hi ' || g, 'api',"
        "        'k:' || d.id || ':' || g"
        " FROM devices d, generate_series(1, :n) g ORDER BY g, d.id", u=user, n=PER_DEVICE)
    # every message a supervisor queues again (its lease ran out while it was 'sending')
    fleet.sql("CREATE TABLE requeued (message_id bigint, at timestamptz DEFAULT now())")
    fleet.sql("""
        CREATE FUNCTION note_requeued() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO requeued (message_id) VALUES (NEW.id); RETURN NULL; END $$""")
    fleet.sql("CREATE TRIGGER note_requeued AFTER UPDATE ON message_queue FOR EACH ROW"
              " WHEN (OLD.status = 'sending' AND NEW.status IN ('queued', 'failed'))"
              " EXECUTE FUNCTION note_requeued()")
    for host in two_hosts:
        host.wait_info(engine)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT count(DISTINCT split_part(lease_owner, '/', 1)) FROM devices"
        " WHERE lease_until > now()")[0][0] == 2)
    fleet.wait_until(lambda: fleet.statuses().get("sent", 0) >= 50)

    # the barrier: every scoring waits for this lock until the test lets go
    with engine.connect() as lock:
        lock.execute(text("LOCK TABLE device_risk_events IN ACCESS EXCLUSIVE MODE"))
        fleet.wait_until(lambda: _waiting_scorings(fleet) >= 2)  # both hosts' workers
        held_at = fleet.sql("SELECT now()")[0][0]
        # the loops go on while their scorings wait: sends claimed two leases after the block,
        # sent and recorded (a loop held up in its scoring would send nothing from here on)
        fleet.wait_until(lambda: fleet.sql(
            "SELECT count(*) FROM message_queue WHERE status = 'sent'"
            " AND sent_at > :t + make_interval(secs => :s)", t=held_at, s=2 * LEASE_S)[0][0]
            >= 20, timeout=30)
        assert _waiting_scorings(fleet) >= 2, "the scorings were not held throughout"
        lock.rollback()

    fleet.wait_until(fleet.settled, timeout=120)
    assert fleet.statuses() == {"sent": DEVICES * PER_DEVICE}
    assert fleet.sql("SELECT count(*) FROM requeued")[0][0] == 0
    repeated = fleet.sql("SELECT message_id FROM sim_deliveries GROUP BY message_id"
                         " HAVING count(*) > 1")
    assert repeated == []
    for host in two_hosts:
        host.signal_all(signal.SIGTERM)
