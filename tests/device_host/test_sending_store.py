"""The sending store on a real database: failover target choice, opt-out bookkeeping, rescue."""

from sqlalchemy import text

from dripfleet.stores import sending
from tests.query_plans import plan_rows


def test_failover_moves_unpinned_to_the_least_loaded_usable_devices(fleet, engine):
    user = fleet.user()
    gone = fleet.device(user, status="logged_out")
    busy = fleet.device(user)
    idle = fleet.device(user)
    fleet.device(user, status="disabled")  # not usable: never a target
    fleet.queue(user, busy, 3)
    unpinned = fleet.queue(user, gone, 4)
    held = fleet.queue(user, gone, 1, status="held")
    pinned = fleet.queue(user, gone, 2, pinned=True)
    with engine.begin() as conn:
        assert sending.failover_messages(conn, 1000) == 5
    rows = dict(fleet.sql("SELECT id, device_id FROM message_queue"))
    moved = [rows[m] for m in unpinned + held]
    # the emptiest places first: idle takes three to catch up, then the two share the rest
    assert (moved.count(idle), moved.count(busy)) == (4, 1)
    assert {rows[m] for m in pinned} == {gone}


def test_failover_never_fills_a_device_above_the_buffer(fleet, engine):
    user = fleet.user()
    gone = fleet.device(user, status="banned")
    full = fleet.device(user)
    roomy = fleet.device(user)
    sent = fleet.queue(user, full, 3)
    fleet.queue(user, roomy, 1)
    waiting = fleet.queue(user, gone, 5)
    other_user = fleet.user()
    lonely = fleet.device(other_user, status="logged_out")
    fleet.queue(other_user, lonely, 2)
    with engine.begin() as conn:
        assert sending.failover_messages(conn, 3) == 2  # only roomy has room: two places
    loads = dict(fleet.sql("SELECT device_id, count(*) FROM message_queue"
                           " WHERE status = 'queued' GROUP BY 1"))
    assert loads[full] == 3 and loads[roomy] == 3 and loads[gone] == 3
    assert loads[lonely] == 2  # its user has no usable device: they wait where they are
    # as the full device sends, later passes move the rest
    fleet.sql("UPDATE message_queue SET status = 'sent', sent_at = now() WHERE id = ANY(:ids)",
              ids=sent)
    with engine.begin() as conn:
        assert sending.failover_messages(conn, 3) == 3
    assert not fleet.sql("SELECT id FROM message_queue WHERE device_id = :d AND status ="
                         " 'queued'", d=gone)
    assert {dict(fleet.sql("SELECT id, device_id FROM message_queue"))[m]
            for m in waiting} <= {full, roomy}


def test_opt_out_cancels_messages_and_stops_sequences_with_logs(fleet, engine):
    user = fleet.user()
    device = fleet.device(user)
    lead = fleet.lead(user)
    seq = fleet.sql("INSERT INTO sequences (user_id, name, niche, status) VALUES"
                    " (:u, 's', 'yoga', 'active') RETURNING id", u=user)[0][0]
    contact = fleet.sql("INSERT INTO sequence_contacts (user_id, sequence_id, lead_id) VALUES"
                        " (:u, :s, :l) RETURNING id", u=user, s=seq, l=lead[0])[0][0]
    message = fleet.queue(user, device, lead=lead)[0]
    fleet.sql("UPDATE message_queue SET sequence_id = :s, contact_id = :c, step_day = 1"
              " WHERE id = :m", s=seq, c=contact, m=message)
    with engine.begin() as conn:
        assert sending.opt_out_lead(conn, user, lead[1]) == {"leads": 1, "cancelled": 1}
    assert fleet.sql("SELECT status FROM message_queue WHERE id = :m", m=message)[0][0] == (
        "cancelled")
    assert fleet.sql("SELECT status FROM sequence_contacts WHERE id = :c", c=contact)[0][0] == (
        "opted_out")
    assert fleet.sql("SELECT status, error FROM sequence_logs")[0] == ("skipped", "lead opted out")
    assert fleet.sql("SELECT cancelled_count FROM broadcast_jobs")[0][0] == 1


def test_rescue_requeues_expired_and_fails_spent_messages(fleet, engine):
    user = fleet.user()
    device = fleet.device(user, min_delay=5, max_delay=5)
    fresh, spent = fleet.queue(user, device, 2)
    fleet.sql("UPDATE message_queue SET status = 'sending', lease_owner = 'dead',"
              " lease_until = now() - interval '1 second', attempts = CASE WHEN id = :s"
              " THEN 3 ELSE 1 END", s=spent)
    with engine.begin() as conn:
        assert sending.rescue_messages(conn) == {"queued": 1, "failed": 1}
    rows = dict(fleet.sql("SELECT id, status FROM message_queue"))
    assert rows == {fresh: "queued", spent: "failed"}
    assert fleet.sql("SELECT failed_count FROM broadcast_jobs")[0][0] == 1
    # the device waits a fresh delay: the dead sender may have just delivered
    assert fleet.sql("SELECT next_send_at > now() + interval '4 seconds' FROM devices"
                     " WHERE id = :d", d=device)[0][0]


def _campaign_message(fleet, user: int, device: int) -> tuple[int, int]:
    campaign = fleet.sql(
        "INSERT INTO campaigns (user_id, title, scheduled_at, body, status)"
        " VALUES (:u, 'c', now(), 'hi', 'running') RETURNING id", u=user)[0][0]
    message = fleet.queue(user, device, 1)[0]
    fleet.sql("UPDATE message_queue SET source = 'campaign', campaign_id = :c WHERE id = :m",
              c=campaign, m=message)
    return campaign, message


def _claim(engine, device: int) -> list[dict]:
    with engine.begin() as conn:
        return sending.claim_messages(conn, "store/w0", [device], 60)


def _fail_transiently(engine, message: int) -> None:
    with engine.begin() as conn:
        sending.record_outcomes(
            conn, "store/w0", [sending.Outcome(message, "transient", "timeout")], 10)


def test_a_message_back_from_a_send_after_its_campaign_paused_is_held_not_sent(fleet, engine):
    user = fleet.user()
    device = fleet.device(user)
    fleet.sql("UPDATE devices SET lease_owner = 'store/w0', lease_until = now()"
              " + interval '1 hour' WHERE id = :d", d=device)
    campaign, message = _campaign_message(fleet, user, device)
    assert [m["status"] for m in _claim(engine, device)] == ["sending"]
    # paused while its message was being sent: the pause holds only what is queued
    fleet.sql("UPDATE campaigns SET status = 'paused' WHERE id = :c", c=campaign)
    _fail_transiently(engine, message)
    fleet.sql("UPDATE message_queue SET not_before = now() WHERE id = :m", m=message)
    fleet.sql("UPDATE devices SET next_send_at = now() WHERE id = :d", d=device)
    assert [m["status"] for m in _claim(engine, device)] == ["held"]
    # resuming queues it again, and then it is sent
    fleet.sql("UPDATE campaigns SET status = 'running' WHERE id = :c", c=campaign)
    fleet.sql("UPDATE message_queue SET status = 'queued' WHERE id = :m", m=message)
    assert [m["status"] for m in _claim(engine, device)] == ["sending"]


def test_a_message_back_from_a_send_after_its_lead_or_campaign_went_is_cancelled(
    fleet, engine,
):
    user = fleet.user()
    device = fleet.device(user)
    fleet.sql("UPDATE devices SET lease_owner = 'store/w0', lease_until = now()"
              " + interval '1 hour' WHERE id = :d", d=device)
    for stop in ("lead deleted", "campaign cancelled", "campaign deleted"):
        campaign, message = _campaign_message(fleet, user, device)
        assert [m["status"] for m in _claim(engine, device)] == ["sending"]
        if stop == "lead deleted":
            fleet.sql("DELETE FROM leads WHERE id = (SELECT lead_id FROM message_queue"
                      " WHERE id = :m)", m=message)
        elif stop == "campaign cancelled":
            fleet.sql("UPDATE campaigns SET status = 'cancelled' WHERE id = :c", c=campaign)
        else:
            fleet.sql("DELETE FROM campaigns WHERE id = :c", c=campaign)
        _fail_transiently(engine, message)
        fleet.sql("UPDATE message_queue SET not_before = now() WHERE id = :m", m=message)
        fleet.sql("UPDATE devices SET next_send_at = now() WHERE id = :d", d=device)
        assert [m["status"] for m in _claim(engine, device)] == ["cancelled"], stop
        assert fleet.sql("SELECT last_error FROM message_queue WHERE id = :m",
                         m=message)[0][0] == stop



def test_a_failover_pass_with_nothing_to_move_reads_little_and_takes_no_lock(fleet, engine):
    """The supervisor runs a failover pass every health interval. With 10,000 queued messages
    and statistics that know none of them (an ANALYZE before they were queued), the pass used
    to hash-join every queued message (10 s a pass at scale, under the lock materialisation
    waits for); it now looks at the unusable devices' own messages and, finding none to move,
    does not wait for a batch being materialised."""
    user = fleet.user()
    devices = [fleet.device(user) for _ in range(20)]
    gone = fleet.device(user, status="logged_out")  # unusable, but nothing of it queued
    pinned_only = fleet.device(user, status="banned")
    fleet.queue(user, pinned_only, 2, pinned=True)  # pinned: they wait for their device
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("ANALYZE message_queue"))
        conn.execute(text("ANALYZE devices"))
    fleet.sql("INSERT INTO message_queue (user_id, device_id, phone, body, source, dedupe_key)"
              " SELECT :u, d, '+60123' || lpad(g::text, 6, '0'), 'hi', 'api', 'f:' || d || ':' || g"
              " FROM unnest(CAST(:devices AS bigint[])) d, generate_series(1, 500) g",
              u=user, devices=devices)
    query = sending.queries.text("failover_candidates").text
    with engine.connect() as conn:
        plan = conn.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + query),
                            {"device_id": None}).scalar()
    handled = plan_rows(plan[0]["Plan"])
    assert handled < 200, f"{handled:.0f} plan rows for 2 unusable devices: a scan of the queue?"

    with engine.connect() as holder, holder.begin():  # a batch being materialised
        holder.execute(sending.queries.text("lock_materialise"))
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '3s'"))  # fails the test if it waits
            assert sending.failover_messages(conn, 1000) == 0
    assert fleet.sql("SELECT count(*) FROM message_queue WHERE device_id = :d",
                     d=pinned_only)[0][0] == 2 and gone


def test_recording_outcomes_reads_its_messages_by_id_whatever_the_statistics(fleet, engine):
    """Outcomes are recorded by message id. With statistics taken while the queue was empty,
    the planner walked every queued message once per outcome to find the late 'sent' ones
    (rescued while in flight): 115,000 x 64 rows, 15 s a batch in bench/scale_out.py."""
    user = fleet.user()
    devices = [fleet.device(user) for _ in range(10)]
    insert = ("INSERT INTO message_queue (user_id, device_id, phone, body, source, dedupe_key,"
              " status, sent_at) SELECT :u, d, '+60123' || lpad(g::text, 6, '0'), 'hi', 'api',"
              " :tag || d || ':' || g, :status, CASE WHEN :status = 'sent' THEN now() END"
              " FROM unnest(CAST(:devices AS bigint[])) d, generate_series(1, 1000) g")
    fleet.sql(insert, u=user, devices=devices, tag="s:", status="sent")
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("ANALYZE message_queue"))  # everything sent, nothing queued
    fleet.sql(insert, u=user, devices=devices, tag="q:", status="queued")
    owner = "test/w-outcomes"
    # one claimed message a device, and one that was rescued while its send was in flight
    claimed = [r[0] for r in fleet.sql(
        "UPDATE message_queue SET status = 'sending', attempts = 1, lease_owner = :o,"
        " lease_until = now() + interval '1 minute' WHERE id IN (SELECT min(id)"
        " FROM message_queue GROUP BY device_id) RETURNING id", o=owner)]
    late = claimed.pop()
    fleet.sql("UPDATE message_queue SET status = 'queued', lease_owner = NULL, lease_until ="
              " NULL WHERE id = :id", id=late)
    ids = [*claimed, late]
    params = {"owner": owner, "pause_after": 5, "content_pause_after": 5, "ids": ids,  # the store's
              "kinds": ["sent"] * len(ids), "errors": [None] * len(ids),
              "provider_ids": [None] * len(ids), "backoffs": [0.0] * len(ids),
              "since": [0.0] * len(ids), "classes": ["device"] * len(ids)}
    query = sending.queries.text("record_outcomes").text
    with engine.connect() as conn, conn.begin() as transaction:
        plan = conn.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + query), params).scalar()
        transaction.rollback()
    handled = plan_rows(plan[0]["Plan"])
    assert handled < 2000, f"{handled:.0f} plan rows for 10 outcomes: a walk of the queue?"
    with engine.begin() as conn:
        sending.record_outcomes(conn, owner, [
            sending.Outcome(message_id=i, kind="sent") for i in ids], 5)
    statuses = dict(fleet.sql("SELECT id, status FROM message_queue WHERE id = ANY(:ids)",
                              ids=ids))
    assert set(statuses.values()) == {"sent"}  # the late one too: it did leave
