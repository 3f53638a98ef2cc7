"""The device loop in one process on the simulated network: gaps, retries, opt-out, caps."""

from datetime import UTC, datetime, timedelta

from dripfleet.stores import simulated as sim_store


def test_every_message_is_sent_once_with_gaps_at_least_min_delay(fleet, run_worker):
    user = fleet.user()
    devices = [fleet.device(user, min_delay=0.15, max_delay=0.25) for _ in range(3)]
    for device in devices:
        fleet.queue(user, device, 5)
    run_worker()
    fleet.wait_until(fleet.settled)
    assert fleet.statuses() == {"sent": 15}
    rows = fleet.deliveries()
    assert sorted(r.message_id for r in rows) == [
        r[0] for r in fleet.sql("SELECT id FROM message_queue ORDER BY id")]
    for device in devices:
        sends = [r for r in rows if r.device_id == device]
        for before, after in zip(sends, sends[1:], strict=False):
            assert after.started_at >= before.delivered_at  # never overlapping
            assert (after.delivered_at - before.delivered_at).total_seconds() >= 0.15
    jobs = fleet.sql("SELECT sum(sent_count), count(*) FILTER (WHERE finished_at IS NULL)"
                     " FROM broadcast_jobs")
    assert jobs[0] == (15, 0)


def test_transient_failures_retry_with_backoff_then_fail_after_three_attempts(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user)
    flaky = fleet.lead(user)
    broken = fleet.lead(user)
    absent = fleet.lead(user)
    with fleet.engine.begin() as conn:
        sim_store.set_phone(conn, flaky[1], fail_mode="transient", fail_count=2)
        sim_store.set_phone(conn, broken[1], fail_mode="transient")
        sim_store.set_phone(conn, absent[1], on_whatsapp=False)
    ok_id = fleet.queue(user, device, lead=flaky)[0]
    bad_id = fleet.queue(user, device, lead=broken)[0]
    absent_id = fleet.queue(user, device, lead=absent)[0]
    run_worker()
    fleet.wait_until(fleet.settled)
    rows = {r.id: r for r in fleet.sql(
        "SELECT id, status, attempts, last_error, created_at, updated_at FROM message_queue")}
    assert (rows[ok_id].status, rows[ok_id].attempts) == ("sent", 3)
    assert (rows[bad_id].status, rows[bad_id].attempts) == ("failed", 3)
    assert rows[bad_id].last_error == "failed after 3 attempts: simulated network timeout"
    assert (rows[absent_id].status, rows[absent_id].attempts) == ("failed", 1)
    assert rows[absent_id].last_error == f"{absent[1]} is not on WhatsApp"
    # backoff: 0.1 s then 0.2 s between the three attempts of the failing message
    assert (rows[bad_id].updated_at - rows[bad_id].created_at).total_seconds() >= 0.3
    assert len(fleet.deliveries()) == 1


def test_opt_out_reply_cancels_the_rest_and_nothing_more_is_delivered(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user, min_delay=0.3, max_delay=0.3)
    lead = fleet.lead(user)
    other = fleet.lead(user)
    with fleet.engine.begin() as conn:
        sim_store.set_phone(conn, lead[1], reply_text="Stop please", reply_delay_s=0.0)
    ids = fleet.queue(user, device, 4, lead=lead)
    fleet.queue(user, device, 2, lead=other)
    run_worker()
    fleet.wait_until(fleet.settled)
    statuses = dict(fleet.sql("SELECT id, status FROM message_queue WHERE lead_id = :l", l=lead[0]))
    assert statuses[ids[0]] == "sent"
    assert [statuses[i] for i in ids[1:]] == ["cancelled"] * 3
    with fleet.engine.begin() as conn:
        assert len(sim_store.deliveries_to(conn, lead[1])) == 1
        assert len(sim_store.deliveries_to(conn, other[1])) == 2
    assert fleet.sql("SELECT opted_out_at IS NOT NULL FROM leads WHERE id = :l", l=lead[0]) == [
        (True,)]
    assert fleet.sql("SELECT sum(cancelled_count) FROM broadcast_jobs")[0][0] == 3


def test_hourly_cap_makes_messages_wait_without_losing_them(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user, hourly_cap=3)
    fleet.queue(user, device, 5)
    run_worker()
    fleet.wait_until(lambda: fleet.statuses().get("sent") == 3)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT count(*) FROM message_queue WHERE status = 'queued'")[0][0] == 2)
    import time

    time.sleep(1.0)  # several loop passes: the cap still holds
    assert fleet.statuses() == {"sent": 3, "queued": 2}


def test_quiet_hours_hold_messages_until_the_window_ends(fleet, run_worker):
    user = fleet.user()
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).time().replace(microsecond=0)
    end = (now + timedelta(hours=1)).time().replace(microsecond=0)
    quiet = fleet.device(user, quiet_start=start, quiet_end=end, timezone="UTC")
    loud = fleet.device(user)
    fleet.queue(user, quiet, 2)
    fleet.queue(user, loud, 2)
    run_worker()
    fleet.wait_until(lambda: fleet.statuses().get("sent") == 2)
    import time

    time.sleep(1.0)
    assert fleet.statuses() == {"sent": 2, "queued": 2}
    assert {r.device_id for r in fleet.deliveries()} == {loud}


def test_repeated_device_failures_pause_the_device_and_move_its_messages(fleet, run_worker):
    user = fleet.user()
    failing = fleet.device(user)
    other = fleet.device(user)
    bad = [fleet.lead(user) for _ in range(3)]
    with fleet.engine.begin() as conn:
        for _lead_id, phone in bad:
            # a timeout is the connection's fault: a 'device' failure
            sim_store.set_phone(conn, phone, fail_mode="transient", fail_count=None)
    for lead in bad:
        fleet.queue(user, failing, lead=lead, pinned=True)
    later = fleet.queue(user, failing, 2)
    run_worker(device_failure_pause_after=3)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT status FROM devices WHERE id = :d", d=failing)[0][0] == "disabled")
    fleet.wait_until(lambda: fleet.statuses().get("sent") == 2)
    error = fleet.sql("SELECT last_error FROM devices WHERE id = :d", d=failing)[0][0]
    assert error.startswith("paused after 3 device failures in a row")
    rows = dict(fleet.sql("SELECT id, device_id FROM message_queue WHERE status = 'sent'"))
    assert set(rows) == set(later) and set(rows.values()) == {other}
    classes = fleet.sql("SELECT DISTINCT failure_class FROM message_queue WHERE lead_id = ANY(:l)"
                        " AND last_error IS NOT NULL", l=[lead_id for lead_id, _ in bad])
    assert classes == [("device",)]


def test_recipient_failures_never_pause_the_device(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user)
    bad = [fleet.lead(user) for _ in range(6)]
    with fleet.engine.begin() as conn:
        for _lead_id, phone in bad:
            sim_store.set_phone(conn, phone, on_whatsapp=False)
    for lead in bad:
        fleet.queue(user, device, lead=lead)
    good = fleet.queue(user, device, 2)
    run_worker(device_failure_pause_after=3)
    fleet.wait_until(fleet.settled)
    status, failures = fleet.sql(
        "SELECT status, consecutive_failures FROM devices WHERE id = :d", d=device)[0]
    assert (status, failures) == ("online", 0)
    failed = fleet.sql("SELECT failure_class, count(*) FROM message_queue"
                       " WHERE status = 'failed' GROUP BY 1")
    assert failed == [("recipient", 6)]
    assert {r[0] for r in fleet.sql("SELECT id FROM message_queue WHERE status = 'sent'")} == set(
        good)
    hourly = fleet.sql("SELECT sum(sent), sum(recipient_failures), sum(device_failures)"
                       " FROM device_outcomes_hourly WHERE device_id = :d", d=device)[0]
    assert tuple(hourly) == (2, 6, 0)


def test_pairing_by_phone_code_shows_a_code_then_goes_online(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user, status="pairing", pairing_mode="code",
                          pairing_phone="+60123456789")
    run_worker(sim_pair_seconds=1.0)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT pairing_code IS NOT NULL FROM devices WHERE id = :d", d=device)[0][0])
    fleet.wait_until(lambda: fleet.sql(
        "SELECT status FROM devices WHERE id = :d", d=device)[0][0] == "online")
    row = fleet.sql("SELECT phone, jid, pairing_code FROM devices WHERE id = :d", d=device)[0]
    assert row == ("+60123456789", "60123456789@s.whatsapp.net", None)
