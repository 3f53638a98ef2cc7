"""Incoming messages are stored, one statement a batch: unknown numbers become leads, a quote of
ours is linked, a message handed over twice is stored once, opt-outs still act."""

from datetime import UTC, datetime

from dripfleet.stores import sending
from dripfleet.stores import simulated as sim_store

AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _message(device: int, phone: str, text: str, provider_id: str | None, **kw) -> dict:
    return {"device_id": device, "phone": phone, "message_type": kw.get("type", "text"),
            "text": text, "provider_message_id": provider_id,
            "quoted_provider_id": kw.get("quoted"), "received_at": AT}


def test_inbound_batch_links_leads_quotes_and_stores_each_once(fleet, engine):
    user = fleet.user()
    device = fleet.device(user)
    lead_id, phone = fleet.lead(user)
    ours = fleet.queue(user, device, 1, lead=(lead_id, phone))[0]
    fleet.sql("UPDATE message_queue SET status = 'sent', provider_message_id = 'OUT1'"
              " WHERE id = :m", m=ours)
    stranger = "+60199990001"
    with engine.begin() as conn:
        counts = sending.record_inbound(conn, [
            _message(device, phone, "yes please", "IN1", quoted="OUT1"),
            _message(device, phone, "yes please", "IN1", quoted="OUT1"),  # handed over twice
            _message(device, stranger, "", "IN2", type="image"),
            _message(device, stranger, "who is this?", None)])
    assert (counts["stored"], counts["new_leads"]) == (3, 1)
    # each stored message's lead and time, for the sequences' on_reply rules
    assert sorted(lead for lead, _ in counts["replies"]) == sorted(
        [lead_id] + 2 * [fleet.sql("SELECT id FROM leads WHERE phone = :p", p=stranger)[0][0]])
    with engine.begin() as conn:  # again: WhatsApp redelivers after a reconnect
        assert sending.record_inbound(conn, [_message(device, phone, "yes please", "IN1")]) == {
            "stored": 0, "new_leads": 0, "replies": []}
    rows = fleet.sql("SELECT i.phone, i.message_type, i.text, i.quoted_message_id, l.niches"
                     " FROM inbound_messages i JOIN leads l ON l.id = i.lead_id")
    assert sorted(tuple(r) for r in rows) == sorted([
        (phone, "text", "yes please", ours, []),
        (stranger, "image", "", None, ["inbound"]),
        (stranger, "text", "who is this?", None, ["inbound"]),
    ])


def test_the_worker_stores_replies_and_opt_outs_still_act(fleet, run_worker):
    user = fleet.user()
    device = fleet.device(user)
    chatty, quiet = fleet.lead(user), fleet.lead(user)
    with fleet.engine.begin() as conn:
        sim_store.set_phone(conn, chatty[1], reply_text="Sounds good")
        sim_store.set_phone(conn, quiet[1], reply_text="STOP")
    fleet.queue(user, device, 1, lead=chatty)
    fleet.queue(user, device, 1, lead=quiet)
    run_worker()
    fleet.wait_until(lambda: fleet.sql("SELECT count(*) FROM inbound_messages")[0][0] == 2)
    rows = dict(fleet.sql("SELECT phone, text FROM inbound_messages"))
    assert rows == {chatty[1]: "Sounds good", quiet[1]: "STOP"}
    fleet.wait_until(lambda: fleet.sql("SELECT opted_out_at IS NOT NULL FROM leads"
                                       " WHERE id = :l", l=quiet[0])[0][0])


def test_a_new_number_another_transaction_is_adding_is_not_lost(fleet, engine):
    """Two workers store the first message of the same new number at once: the second waits for
    the first's lead and stores its message against it (two connections, forced by a lock)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import text

    user = fleet.user()
    device = fleet.device(user)
    phone = "+60199990002"
    with engine.connect() as first, ThreadPoolExecutor(1) as pool:
        with first.begin():
            lead_id = first.execute(text(
                "INSERT INTO leads (user_id, phone, niches) VALUES (:u, :p, ARRAY['inbound'])"
                " RETURNING id"), {"u": user, "p": phone}).scalar_one()
            pid: list[int] = []
            done = threading.Event()

            def second() -> dict:
                try:
                    with engine.begin() as conn:
                        pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
                        return sending.record_inbound(conn, [_message(device, phone, "hi", "IN9")])
                finally:
                    done.set()

            future = pool.submit(second)
            # the second statement has started and waits for the first's uncommitted lead
            with engine.connect() as watch:
                while not done.is_set() and not (pid and watch.execute(text(
                        "SELECT cardinality(pg_blocking_pids(:p)) > 0"), {"p": pid[0]}
                        ).scalar_one()):
                    watch.rollback()
            assert not done.is_set(), "the second transaction did not wait for the lead"
        counts = future.result(timeout=30)
    assert (counts["stored"], counts["new_leads"]) == (1, 0)
    assert fleet.sql("SELECT lead_id FROM inbound_messages")[0][0] == lead_id
