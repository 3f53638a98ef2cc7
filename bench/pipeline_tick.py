"""P2: one pipelines tick at scale, and the materialisation alone beside a plain COPY.

200 users, 3,000 online devices (15 each), 1,000,000 leads, 100 sequences (3 steps), 1,000,000
contacts of which 100,000 are due. Measured in one run, on the same data:
- materialise: `materialise_sequence_messages` alone (lock, read, render, choose devices, COPY into
  the stage, INSERT ... ON CONFLICT, contacts advanced) for the 100,000 due; since migration 0090
  the message row is the step's only write (the sequence log is a view over it);
- baseline: a COPY of the same 100,000 message rows into a copy of message_queue (same indexes
  and the foreign keys that remain; the COPY without foreign keys is reported beside it);
- tick: the whole Dagster job in-process (incremental enrolment, the same 100,000 steps,
  campaigns, stats, maintenance, checks), after the due state is restored; the hourly full
  enrolment scan over the 1M leads is timed separately.
Goal (issue 18): tick <= 10 s and materialise <= 2x the COPY.
"""

import io
import json
import os
import time
from datetime import UTC, datetime

import psycopg
from harness import server_url, with_db

from dripfleet.database import dispose_engines, get_engine  # noqa: E402
from dripfleet.migrations import migrate  # noqa: E402

USERS = 200
USERS_WITH_LEADS = 100  # the sequences' users; each sequence can only enrol its own user's leads
DEVICES_PER_USER = 15
LEADS = 1_000_000
SEQUENCES = 100
DUE = 100_000
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
TEMPLATE = "{Hi|Hello|Hey} {{ first_name }}, day {{ 1 }} of your {{ city | default('') }} plan!"
COLUMNS = (
    "user_id, device_id, lead_id, phone, message_type, body, source, sequence_id, contact_id, "
    "step_id, step_day, broadcast_job_id, pinned, dedupe_key, status, not_before, created_at,"
    " updated_at"
)


def generate(url: str) -> float:
    """The data set, with generate_series; returns seconds spent."""
    started = time.perf_counter()
    per_user = LEADS // USERS_WITH_LEADS
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute(
            "INSERT INTO users (email, name) SELECT 'bench' || g || '@example.com', 'User ' || g"
            " FROM generate_series(1, %s) g", (USERS,))
        conn.execute(
            "INSERT INTO devices (user_id, name, status, phone)"
            " SELECT u.id, 'phone ' || g, 'online', '+6011' || lpad((u.id * 100 + g)::text, 8, '0')"
            " FROM users u, generate_series(1, %s) g", (DEVICES_PER_USER,))
        conn.execute(
            # leads imported two days ago: a steady-state tick's enrolment sees none as changed
            "INSERT INTO leads (user_id, phone, name, niches, target_status, attributes,"
            "                   created_at, updated_at)"
            " SELECT u, '+6012' || lpad((u * 100000 + g)::text, 8, '0'), 'Lead ' || g || ' Tan',"
            "        ARRAY['n' || u, 'common'], CASE WHEN g %% 5 = 0 THEN 'customer'"
            "        ELSE 'prospect' END, jsonb_build_object('city', 'KL'),"
            "        now() - interval '2 days', now() - interval '2 days'"
            " FROM generate_series(1, %s) u, generate_series(1, %s) g",
            (USERS_WITH_LEADS, per_user))
        conn.execute(
            "INSERT INTO sequences (user_id, name, niche, status, timezone)"
            " SELECT g, 'seq ' || g, 'n' || g, 'active', 'Asia/Kuala_Lumpur'"
            " FROM generate_series(1, %s) g", (SEQUENCES,))
        conn.execute(
            "INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body)"
            " SELECT s.user_id, s.id, d, time '09:00', %s"
            " FROM sequences s, generate_series(1, 3) d", (TEMPLATE,))
        conn.execute(
            "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, enrolled_at)"
            " SELECT s.user_id, s.id, l.id, %s FROM sequences s"
            " JOIN leads l ON l.user_id = s.user_id", (NOW,))
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def set_due_state(url: str) -> None:
    """100,000 contacts due now (1,000 per sequence), the rest due in the future."""
    with psycopg.connect(url, autocommit=True) as conn:
        # CASCADE: the timeline and inbox tables refer to messages (empty here)
        conn.execute("TRUNCATE message_queue, sequence_skips, broadcast_jobs CASCADE")
        conn.execute(
            "UPDATE sequence_contacts SET current_day = 0, last_queued_on = NULL,"
            " status = 'active', completed_at = NULL,"
            " next_due_at = CASE WHEN (lead_id %% (%s / %s)) = 0 THEN %s - interval '1 minute'"
            " ELSE %s + interval '1 day' END",
            (LEADS, DUE, NOW, NOW))
        conn.execute("VACUUM ANALYZE sequence_contacts")
        due = conn.execute(
            "SELECT count(*) FROM sequence_contacts WHERE next_due_at <= %s", (NOW,)
        ).fetchone()[0]
        assert due == DUE, due


def copy_baseline(url: str, with_foreign_keys: bool) -> float:
    """Seconds to COPY the queued rows into a copy of message_queue (same columns, indexes, and
    optionally the same foreign keys, which LIKE does not copy and every real insert pays for)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE message_queue_copy (LIKE message_queue INCLUDING ALL)")
        if with_foreign_keys:
            definitions = conn.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = 'message_queue'::regclass AND contype = 'f'"
            ).fetchall()
            for (definition,) in definitions:
                conn.execute(f"ALTER TABLE message_queue_copy ADD {definition}")
        buffer = io.BytesIO()
        with conn.cursor().copy(f"COPY (SELECT {COLUMNS} FROM message_queue) TO STDOUT") as copy:
            for chunk in copy:
                buffer.write(chunk)
        data = buffer.getvalue()
        started = time.perf_counter()
        with conn.transaction(), conn.cursor().copy(
            f"COPY message_queue_copy ({COLUMNS}) FROM STDIN"
        ) as copy:
            copy.write(data)
        seconds = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM message_queue_copy").fetchone()[0]
        assert rows == DUE, rows
        conn.execute("DROP TABLE message_queue_copy")
    return seconds


def main() -> None:
    server = server_url()
    name = f"bench_pipeline_tick_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = with_db(server, name)
    try:
        migrate(url)
        generated = generate(url)
        print(f"data generated in {generated:.1f} s", flush=True)

        from dripfleet.materialise.enrolment import enrol_matching_leads
        from dripfleet.materialise.sequences import materialise_sequence_messages
        from pipelines.tick import run_tick

        engine = get_engine(url)
        # steady state: the system has been running, so every sequence has had its full scan
        # (every lead is already a contact); the measured tick's enrolment is incremental
        started = time.perf_counter()
        assert enrol_matching_leads(engine, NOW) == {}
        full_scan = time.perf_counter() - started
        print(f"full enrolment scan (nothing new): {full_scan:.2f} s", flush=True)
        set_due_state(url)
        started = time.perf_counter()
        result = materialise_sequence_messages(engine, NOW, buffer_size=1000)
        materialise = time.perf_counter() - started
        assert result.queued == DUE, result.queued
        print(f"materialise alone: {materialise:.2f} s for {result.queued} messages", flush=True)
        baseline = copy_baseline(url, with_foreign_keys=True)
        plain_copy = copy_baseline(url, with_foreign_keys=False)
        print(f"COPY of the same rows: {baseline:.2f} s ({plain_copy:.2f} s without the"
              " foreign keys)", flush=True)

        set_due_state(url)
        started = time.perf_counter()
        tick = run_tick(NOW, database_url=url)
        tick_seconds = time.perf_counter() - started
        assert tick.success
        with psycopg.connect(url) as conn:
            queued = conn.execute("SELECT count(*) FROM message_queue").fetchone()[0]
        assert queued == DUE, queued
        seconds = {
            e.asset_key.to_user_string(): e.materialization.metadata["elapsed_s"].value
            for e in tick.get_asset_materialization_events()
        }
        print(f"tick: {tick_seconds:.2f} s; per asset: {seconds}", flush=True)
    finally:
        dispose_engines()
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ratio = materialise / baseline
    ok = tick_seconds <= 10 and ratio <= 2
    line = {
        "value": round(tick_seconds, 2), "unit": "s/tick", "baseline": round(baseline, 2),
        "ratio": round(ratio, 2), "goal": "tick <= 10 s and materialise <= 2x COPY",
        "ok": ok, "materialise_s": round(materialise, 2), "copy_s": round(baseline, 2),
        "copy_without_fk_s": round(plain_copy, 2), "full_enrolment_scan_s": round(full_scan, 2),
        "due": DUE, "contacts": LEADS, "leads": LEADS, "devices": USERS * DEVICES_PER_USER,
        "asset_s": seconds,
    }
    print("BENCH pipeline_tick " + json.dumps(line))


if __name__ == "__main__":
    main()
