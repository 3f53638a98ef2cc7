"""The ban-risk guard end to end (issue 15): real workers on the simulated network, real PostgreSQL.

1. A device the network answers 463 "reach-out timelocked" after N sends waits until the stated
   end, sends nothing meanwhile, then resumes by itself; its messages are not failed.
2. A new device with the default warm-up plan never exceeds the day's cap; a jump in "not on
   WhatsApp" failures raises its risk above RISK_SLOW_AT and the gaps between its sends double.
Above RISK_PAUSE_AT, and once UNANSWERED_BUDGET is spent, only leads who wrote in are sent to.
"""

import itertools
import statistics
import time
from datetime import timedelta

from sqlalchemy import text

from device_host.device_state import DeviceState
from dripfleet.settings import DEFAULT_WARMUP_PLAN
from dripfleet.stores import risk as risk_store
from dripfleet.stores import simulated as sim_store
from tests.query_plans import plan_rows


def _webhook_endpoint(fleet, user: int) -> None:
    fleet.sql("INSERT INTO webhook_endpoints (user_id, url, secret)"
              " VALUES (:u, 'https://hooks.example.com/x', 'whsec_dGVzdA==')", u=user)


def test_a_463_timelock_pauses_the_device_until_its_end_and_fails_nothing(fleet, run_worker):
    user = fleet.user()
    _webhook_endpoint(fleet, user)
    device = fleet.device(user)
    with fleet.engine.begin() as conn:
        sim_store.set_device(conn, device, timelock_after=3, timelock_seconds=3)
    ids = fleet.queue(user, device, 8)
    run_worker()
    fleet.wait_until(fleet.settled, timeout=60)

    state = fleet.sql("SELECT restricted_until, restriction_kind, restriction_reason, status"
                      " FROM devices WHERE id = :d", d=device)[0]
    assert state.restriction_kind == "timelock" and state.status == "online"
    assert "463 reach-out timelocked" in state.restriction_reason
    events = fleet.sql("SELECT at, kind, until, reason FROM device_risk_events"
                       " WHERE device_id = :d AND kind = 'timelock'", d=device)
    assert len(events) == 1 and events[0].until == state.restricted_until
    # three sends, then nothing from the 463 until the stated end, then the other five
    deliveries = fleet.deliveries(device)
    assert len(deliveries) == 8
    assert all(d.started_at < events[0].at for d in deliveries[:3])
    assert all(d.started_at >= state.restricted_until for d in deliveries[3:])
    assert state.restricted_until - events[0].at > timedelta(seconds=2)
    # not failed: every message sent once, the timelocked attempt refunded
    rows = fleet.sql("SELECT status, attempts, last_error FROM message_queue"
                     " WHERE id = ANY(:ids) ORDER BY id", ids=ids)
    assert [(r.status, r.attempts, r.last_error) for r in rows] == [("sent", 1, None)] * 8
    hooks = fleet.sql("SELECT payload FROM webhook_deliveries WHERE event_type ="
                      " 'device.restricted'")
    assert len(hooks) == 1
    data = hooks[0].payload["data"]
    assert (data["id"], data["kind"]) == (device, "timelock")
    assert data["restricted_until"] and "463" in data["reason"]


def test_a_new_device_never_exceeds_its_warm_up_days_cap(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user, warmup=True)
    # day 1 of the number: 17 of the day's 20 were sent two hours ago (outside the hourly cap)
    fleet.sql("UPDATE devices SET warmup_since = now() - interval '2 hours' WHERE id = :d",
              d=device)
    earlier = fleet.queue(user, device, 17)
    fleet.sql("UPDATE message_queue SET status = 'sent', attempts = 1,"
              " sent_at = now() - interval '2 hours' WHERE id = ANY(:ids)", ids=earlier)
    waiting = fleet.queue(user, device, 10)
    worker = run_worker(warmup_plan=DEFAULT_WARMUP_PLAN)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT count(*) FROM message_queue WHERE id = ANY(:ids) AND status = 'sent'",
        ids=waiting)[0][0] == 3)
    # the 21st send of the day waits for the oldest of the 20 to leave the 24 h window
    fleet.wait_until(lambda: device in worker.devices
                     and worker.devices[device].poll_at - time.monotonic() > 20 * 3600)
    state = worker.devices[device]
    assert (state.daily_cap, state.hourly_cap) == DEFAULT_WARMUP_PLAN[0]
    statuses = fleet.sql("SELECT status, count(*) FROM message_queue WHERE id = ANY(:ids)"
                         " GROUP BY 1 ORDER BY 1", ids=waiting)
    assert [tuple(r) for r in statuses] == [("queued", 7), ("sent", 3)]
    assert len(fleet.deliveries(device)) == 3


def test_not_on_whatsapp_failures_raise_the_risk_and_double_the_gaps(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user, min_delay=0.5, max_delay=0.5)
    # a bought list: 15 numbers that are not on WhatsApp (scripted before the network reads them)
    bad = [fleet.lead(user) for _ in range(15)]
    with fleet.engine.begin() as conn:
        for _lead_id, phone in bad:
            sim_store.set_phone(conn, phone, on_whatsapp=False)
    run_worker(risk_check_seconds=0.1, risk_slow_at=40, risk_pause_at=70)
    before = fleet.queue(user, device, 8)
    fleet.wait_until(lambda: _sent(fleet, before) == 8)
    assert fleet.sql("SELECT risk_action FROM devices WHERE id = :d", d=device)[0][0] == "none"

    for lead in bad:
        fleet.queue(user, device, 1, lead=lead)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT risk_action FROM devices WHERE id = :d", d=device)[0][0] == "slow")
    fleet.wait_until(fleet.settled)
    row = fleet.sql("SELECT risk, risk_reasons FROM devices WHERE id = :d", d=device)[0]
    assert row.risk >= 40
    assert row.risk_reasons[0]["signal"] == "not_on_whatsapp"
    assert fleet.sql("SELECT count(*) FROM message_queue WHERE status = 'failed'"
                     " AND failure_class = 'recipient'")[0][0] == 15

    after = fleet.queue(user, device, 6)
    fleet.wait_until(lambda: _sent(fleet, after) == 6)
    # 15 of 29 sends failed: the score stayed at or above the threshold throughout
    assert fleet.sql("SELECT risk_action FROM devices WHERE id = :d", d=device)[0][0] == "slow"
    ratio = _median_gap(fleet, after) / _median_gap(fleet, before)
    # a gap is the delay plus the claim, the send and its record (tens of ms, more on a busy
    # machine): without the doubling the ratio is about 1
    assert 1.5 < ratio < 2.6, ratio
    action = fleet.sql("SELECT action, reason FROM device_risk_events WHERE device_id = :d"
                       " AND kind = 'action'", d=device)
    assert [a.action for a in action] == ["slow"]
    assert "not on WhatsApp" in action[0].reason


def _wrote_in(fleet, user: int, device: int, lead: tuple[int, str]) -> None:
    fleet.sql("INSERT INTO inbound_messages (user_id, device_id, lead_id, phone, text,"
              " received_at) VALUES (:u, :d, :l, :p, 'hi', now())",
              u=user, d=device, l=lead[0], p=lead[1])


def test_above_the_pause_threshold_only_leads_who_wrote_in_are_sent_to(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user, warmup=True)
    answered, new = fleet.lead(user), fleet.lead(user)
    _wrote_in(fleet, user, device, answered)
    # a new number scores 10: with the thresholds that low it is paused for new contacts
    worker = run_worker(risk_slow_at=5, risk_pause_at=10, warmup_plan=DEFAULT_WARMUP_PLAN)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT risk_action FROM devices WHERE id = :d", d=device)[0][0] == "pause_new")
    to_new = fleet.queue(user, device, 2, lead=new)
    to_answered = fleet.queue(user, device, 2, lead=answered)
    fleet.wait_until(lambda: _sent(fleet, to_answered) == 2)
    # the new contact's messages wait, queued (not failed), and the device does not spin on them
    fleet.wait_until(lambda: not worker.devices[device].has_work)
    rows = fleet.sql("SELECT status, attempts FROM message_queue WHERE id = ANY(:ids)",
                     ids=to_new)
    assert [tuple(r) for r in rows] == [("queued", 0)] * 2
    assert {d.phone for d in fleet.deliveries(device)} == {answered[1]}
    held = fleet.sql("SELECT hold_new, risk_reasons FROM devices WHERE id = :d", d=device)[0]
    assert held.hold_new and held.risk_reasons[0]["signal"] == "new_number"


def test_a_spent_unanswered_budget_holds_new_contacts(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user)
    answered = fleet.lead(user)
    _wrote_in(fleet, user, device, answered)
    new = [fleet.lead(user) for _ in range(4)]
    run_worker(unanswered_budget=2, risk_check_seconds=0.1)
    first = [fleet.queue(user, device, 1, lead=lead)[0] for lead in new[:2]]
    fleet.wait_until(lambda: _sent(fleet, first) == 2)
    fleet.wait_until(lambda: fleet.sql(
        "SELECT hold_new FROM devices WHERE id = :d", d=device)[0][0])
    later = [fleet.queue(user, device, 1, lead=lead)[0] for lead in new[2:]]
    reply = fleet.queue(user, device, 1, lead=answered)
    fleet.wait_until(lambda: _sent(fleet, reply) == 1)
    assert _sent(fleet, later) == 0
    assert fleet.sql("SELECT risk_action, unanswered_30d FROM devices WHERE id = :d",
                     d=device)[0] == ("none", 2)


def test_a_temporary_ban_is_lifted_at_its_stated_end(fleet):
    user = fleet.user()
    over, running = fleet.device(user, status="banned"), fleet.device(user, status="banned")
    fleet.sql("UPDATE devices SET restriction_kind = 'temporary_ban', restricted_until ="
              " CASE WHEN id = :o THEN now() - interval '1 second' ELSE now() + interval '1 hour'"
              " END WHERE id IN (:o, :r)", o=over, r=running)
    with fleet.engine.begin() as conn:
        assert risk_store.lift_temporary_bans(conn) == [over]
    rows = fleet.sql("SELECT id, status, last_error FROM devices ORDER BY id")
    assert [(r.id, r.status) for r in rows] == [(over, "offline"), (running, "banned")]
    assert rows[0].last_error.startswith("the temporary ban ended at ")


def test_the_guard_lowers_the_caps_in_force_and_keeps_the_devices_own():
    state = DeviceState(id=1, user_id=1)
    state.update({"user_id": 1, "name": "d", "status": "online", "jid": None, "phone": None,
                  "pairing_mode": None, "pairing_phone": None, "hourly_cap": 30,
                  "daily_cap": None, "quiet_start": None, "quiet_end": None, "timezone": None,
                  "start_failures": 0})
    assert (state.hourly_cap, state.daily_cap) == (30, None)
    state.guard("none", (50, 17))
    assert (state.hourly_cap, state.daily_cap) == (17, 50)
    state.guard("slow", (50, 17))
    assert (state.hourly_cap, state.daily_cap) == (9, 50)
    state.guard("slow", None)
    assert (state.hourly_cap, state.daily_cap) == (15, None)
    state.guard("none", None)
    assert (state.hourly_cap, state.daily_cap, state.own_hourly_cap) == (30, None, 30)


def _sent(fleet, ids: list[int]) -> int:
    return fleet.sql("SELECT count(*) FROM message_queue WHERE id = ANY(:ids)"
                     " AND status = 'sent'", ids=ids)[0][0]


def _median_gap(fleet, ids: list[int]) -> float:
    times = [r[0] for r in fleet.sql("SELECT sent_at FROM message_queue WHERE id = ANY(:ids)"
                                     " ORDER BY sent_at", ids=ids)]
    return statistics.median((b - a).total_seconds() for a, b in itertools.pairwise(times))




def test_scoring_stays_linear_when_the_lease_statistics_are_stale(engine, make_user):
    """The planner's statistics of devices.lease_owner are usually stale (leases change all the
    time; an ANALYZE of idle devices sees them all NULL). The scoring must not trust them: with
    a one-row estimate it joined the per-device signals in nested loops (devices x devices rows,
    15+ minutes for 1,500 devices in bench/dispatch.py). Measured as the rows the plan handles,
    not as time."""
    devices = 400
    user = make_user()["id"]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO devices (user_id, name, status) SELECT :u, 'd' || g,"
                          " 'online' FROM generate_series(1, :n) g"), {"u": user, "n": devices})
        # sends of the last hour, 30 a device: every signal has rows to read
        conn.execute(text(
            "INSERT INTO message_queue (user_id, device_id, phone, body, source, dedupe_key,"
            " status, sent_at, attempts)"
            " SELECT :u, d.id, '+60123' || lpad(g::text, 6, '0'), 'hello ' || g, 'api',"
            "        'stale:' || d.id || ':' || g, 'sent', now() - g * interval '1 second', 1"
            " FROM devices d, generate_series(1, 30) g WHERE d.user_id = :u"), {"u": user})
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("ANALYZE devices"))
        conn.execute(text("ANALYZE message_queue"))
    with engine.begin() as conn:  # leased after the ANALYZE: the statistics say nobody holds them
        ids = list(conn.execute(text(
            "UPDATE devices SET lease_owner = 'test/w-stale', lease_until = now()"
            " + interval '1 hour' WHERE user_id = :u RETURNING id"), {"u": user}).scalars())
    query = risk_store.queries.text("assess_risk").text
    with engine.connect() as conn, conn.begin() as transaction:
        plan = conn.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + query), {
            "owner": "test/w-stale", "device_ids": ids, "slow_at": 40, "pause_at": 70,
            "plan_days": len(DEFAULT_WARMUP_PLAN), "budget": 100}).scalar()
        transaction.rollback()
    handled = plan_rows(plan[0]["Plan"])
    # each send and each device passes through a dozen or so plan nodes (the 24 h and 30 day
    # signals, the CTEs); nested loops over the devices pass devices x devices rows per node
    assert handled < 20 * (devices + devices * 30), (
        f"the scoring handled {handled:.0f} plan rows for {devices} devices: nested loops over "
        "the devices (stale lease statistics trusted?)")
    with engine.begin() as conn:  # it still scores them all, and only the worker's own
        other = conn.execute(text(
            "UPDATE devices SET lease_owner = 'test/w-other' WHERE id = :d RETURNING risk"),
            {"d": ids[0]}).scalar()
        scored = risk_store.assess_risk(conn, "test/w-stale", ids, 40, 70,
                                        len(DEFAULT_WARMUP_PLAN), 100)
        risks = dict(conn.execute(text("SELECT id, risk FROM devices WHERE id = ANY(:ids)"),
                                  {"ids": ids}).all())
    assert sorted(r["id"] for r in scored) == sorted(ids[1:])
    # 30 unanswered sends each: scored and written, but not on the device another worker holds
    assert {r["risk"] for r in scored} == {15}
    assert risks[ids[0]] == other == 0 and {risks[i] for i in ids[1:]} == {15}
