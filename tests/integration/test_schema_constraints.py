"""The database itself refuses what must never exist (DESIGN.md "Data model")."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError


def run(engine, sql, **params):
    with engine.begin() as conn:
        result = conn.execute(text(sql), params)
        return result.scalar() if result.returns_rows else None


@pytest.fixture
def world(engine, make_user):
    """Two users, each with a device, a lead, a sequence with one step and a contact."""
    out = {}
    for key in ("a", "b"):
        user = make_user()
        uid = user["id"]
        device = run(
            engine, "INSERT INTO devices (user_id, name) VALUES (:u, 'phone') RETURNING id", u=uid
        )
        lead = run(
            engine,
            "INSERT INTO leads (user_id, phone) VALUES (:u, '+60123456789') RETURNING id",
            u=uid,
        )
        seq = run(
            engine,
            "INSERT INTO sequences (user_id, name, niche) VALUES (:u, 's', 'fitness') RETURNING id",
            u=uid,
        )
        step = run(
            engine,
            "INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body) "
            "VALUES (:u, :s, 1, '09:00', 'hi') RETURNING id",
            u=uid,
            s=seq,
        )
        contact = run(
            engine,
            "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id) "
            "VALUES (:u, :s, :l) RETURNING id",
            u=uid,
            s=seq,
            l=lead,
        )
        out[key] = dict(
            user=uid, device=device, lead=lead, sequence=seq, step=step, contact=contact
        )
    return out


def insert_message(engine, user, device, lead=None, key="k1", status="queued", **extra):
    columns = {
        "user_id": user,
        "device_id": device,
        "lead_id": lead,
        "phone": "+60123456789",
        "body": "hello",
        "source": "api",
        "dedupe_key": key,
        "status": status,
        **extra,
    }
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    return run(
        engine, f"INSERT INTO message_queue ({names}) VALUES ({values}) RETURNING id", **columns
    )


def refused(engine, sql, constraint, **params):
    with pytest.raises(IntegrityError) as raised:
        run(engine, sql, **params)
    assert constraint in str(raised.value.orig), raised.value.orig


def test_duplicate_dedupe_key_is_rejected(engine, world):
    a = world["a"]
    insert_message(engine, a["user"], a["device"], a["lead"], key="seq:1:1")
    with pytest.raises(IntegrityError, match="message_queue_dedupe_key"):
        insert_message(engine, a["user"], a["device"], a["lead"], key="seq:1:1")


def test_message_with_another_users_device_is_rejected(engine, world):
    with pytest.raises(IntegrityError, match="message_queue_device_fkey"):
        insert_message(engine, world["a"]["user"], world["b"]["device"], world["a"]["lead"])


def test_message_with_another_users_lead_is_rejected(engine, world):
    with pytest.raises(IntegrityError, match="message_queue_lead_fkey"):
        insert_message(engine, world["a"]["user"], world["a"]["device"], world["b"]["lead"])


def test_message_with_another_users_sequence_or_campaign_is_rejected(engine, world):
    a, b = world["a"], world["b"]
    with pytest.raises(IntegrityError, match="message_queue_sequence_fkey"):
        insert_message(engine, a["user"], a["device"], key="x1", sequence_id=b["sequence"])


@pytest.mark.parametrize("foreign", ["device", "lead"])
def test_the_materialisers_insert_refuses_another_users_device_or_lead(engine, world, foreign):
    """The statement every tick inserts sequence messages with (migration 0090 dropped the
    history-only keys: what is sent stays tenant-checked by the database)."""
    from dripfleet.materialise import staging
    from dripfleet.queries import queries

    a, b = world["a"], world["b"]
    device = b["device"] if foreign == "device" else a["device"]
    lead = b["lead"] if foreign == "lead" else a["lead"]
    row = dict.fromkeys(staging.STAGE_COLUMNS)
    row.update(user_id=a["user"], device_id=device, lead_id=lead, phone="+60123456789",
               message_type="text", body="hi", sequence_id=a["sequence"],
               contact_id=a["contact"], step_id=a["step"], pinned=False,
               dedupe_key=f"seq:{a['contact']}:{a['step']}", day=1)
    with (pytest.raises(IntegrityError, match=f"message_queue_{foreign}_fkey"),
          engine.begin() as conn):
        staging.begin_batch(conn)
        staging.copy_to_stage(conn, [[row[c] for c in staging.STAGE_COLUMNS]])
        conn.execute(queries.text("insert_staged_sequence_messages"),
                     {"now": "2026-04-01T09:00:00+00:00"})
    assert run(engine, "SELECT count(*) FROM message_queue WHERE user_id = :u",
               u=a["user"]) == 0


def test_contact_joining_another_users_lead_or_sequence_is_rejected(engine, world):
    a, b = world["a"], world["b"]
    refused(
        engine,
        "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id) VALUES (:u, :s, :l)",
        "sequence_contacts_lead_fkey",
        u=a["user"],
        s=a["sequence"],
        l=b["lead"],
    )
    refused(
        engine,
        "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id) VALUES (:u, :s, :l)",
        "sequence_contacts_sequence_fkey",
        u=a["user"],
        s=b["sequence"],
        l=a["lead"],
    )


def test_lead_preferring_another_users_device_is_rejected(engine, world):
    refused(
        engine,
        "UPDATE leads SET preferred_device_id = :d WHERE id = :l",
        "leads_preferred_device_fkey",
        d=world["b"]["device"],
        l=world["a"]["lead"],
    )


def test_sequence_pinned_to_another_users_device_is_rejected(engine, world):
    refused(
        engine,
        "UPDATE sequences SET pinned_device_id = :d WHERE id = :s",
        "sequences_pinned_device_fkey",
        d=world["b"]["device"],
        s=world["a"]["sequence"],
    )


def test_uniques_on_leads_steps_and_contacts(engine, world):
    a = world["a"]
    refused(
        engine,
        "INSERT INTO leads (user_id, phone) VALUES (:u, '+60123456789')",
        "leads_user_phone_key",
        u=a["user"],
    )
    refused(
        engine,
        "INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body) "
        "VALUES (:u, :s, 1, '10:00', 'again')",
        "sequence_steps_day_key",
        u=a["user"],
        s=a["sequence"],
    )
    refused(
        engine,
        "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id) VALUES (:u, :s, :l)",
        "sequence_contacts_pair_key",
        u=a["user"],
        s=a["sequence"],
        l=a["lead"],
    )
    # both users hold the same phone: uniqueness is per user
    assert (
        run(engine, "SELECT count(DISTINCT user_id) FROM leads WHERE phone = '+60123456789'") == 2
    )


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        ("UPDATE devices SET status = 'sleeping' WHERE user_id = :u", "devices_status_check"),
        ("UPDATE leads SET target_status = 'vip' WHERE user_id = :u", "leads_target_status_check"),
        ("UPDATE sequences SET status = 'running' WHERE user_id = :u", "sequences_status_check"),
        (
            "UPDATE sequence_contacts SET status = 'gone' WHERE user_id = :u",
            "sequence_contacts_status_check",
        ),
        (
            "UPDATE message_queue SET status = 'lost' WHERE user_id = :u",
            "message_queue_status_check",
        ),
        (
            "INSERT INTO campaigns (user_id, title, body, status, scheduled_at) "
            "VALUES (:u, 't', 'b', 'sent', now())",
            "campaigns_status_check",
        ),
        (
            "UPDATE devices SET min_delay_s = 20, max_delay_s = 10 WHERE user_id = :u",
            "devices_delay_check",
        ),
        (
            "UPDATE devices SET min_delay_s = -1, max_delay_s = 10 WHERE user_id = :u",
            "devices_delay_check",
        ),
        ("UPDATE leads SET phone = '0123' WHERE user_id = :u", "leads_phone_check"),
        ("UPDATE message_queue SET attempts = 4 WHERE user_id = :u", "message_queue_attempts_max"),
        (
            "UPDATE message_queue SET status = 'sending' WHERE user_id = :u",
            "message_queue_lease_check",
        ),
    ],
)
def test_bad_values_are_rejected(engine, world, sql, constraint):
    a = world["a"]
    insert_message(engine, a["user"], a["device"], a["lead"])
    refused(engine, sql, constraint, u=a["user"])


def test_device_with_pending_messages_cannot_be_deleted_but_history_survives(engine, world):
    a = world["a"]
    queued = insert_message(engine, a["user"], a["device"], key="q")
    refused(
        engine, "DELETE FROM devices WHERE id = :d", "message_queue_device_needed", d=a["device"]
    )
    run(engine, "UPDATE message_queue SET status = 'sent' WHERE id = :m", m=queued)
    run(engine, "DELETE FROM devices WHERE id = :d", d=a["device"])
    assert run(engine, "SELECT status FROM message_queue WHERE id = :m", m=queued) == "sent"


def test_claim_index_exists_and_serves_the_claim(engine):
    plan = "\n".join(
        row[0]
        for row in _explain(
            engine,
            "SELECT id FROM message_queue WHERE device_id = 1 AND status = 'queued' "
            "ORDER BY id LIMIT 1",
        )
    )
    assert "message_queue_next_idx" in plan


def _explain(engine, sql):
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        return conn.execute(text("EXPLAIN " + sql)).fetchall()


def test_niche_gin_index_exists(engine):
    definition = run(engine, "SELECT indexdef FROM pg_indexes WHERE indexname = 'leads_niches_gin'")
    assert "gin (niches)" in definition
