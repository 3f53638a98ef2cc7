"""Bulk materialisation into message_queue: COPY a batch into a temp stage, then insert from it.

The pattern (psycopg 3 COPY, then one INSERT ... SELECT ... ON CONFLICT (dedupe_key) DO NOTHING)
keeps a batch to a few statements in one short transaction, whatever its size.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require(
    "lock_materialise", "create_message_stage", "copy_message_stage", "create_broadcast_jobs",
    "set_broadcast_job_totals",
)

# the column order of copy_message_stage
STAGE_COLUMNS = (
    "user_id", "device_id", "lead_id", "phone", "message_type", "body", "media_url", "media_id",
    "caption", "filename", "campaign_id", "sequence_id", "contact_id", "step_id",
    "broadcast_job_id", "pinned", "dedupe_key", "day", "queued_on", "next_due_at", "problem",
)  # fmt: skip


def begin_batch(conn: Connection) -> None:
    """Inside the batch's transaction: create the empty stage."""
    conn.execute(queries.text("create_message_stage"))


def lock_batches(conn: Connection) -> None:
    """Wait for racing batches (till commit): a batch counts the queued rows of the devices it
    chooses from, so it must not run beside another that has not committed its own."""
    conn.execute(queries.text("lock_materialise"))


def copy_to_stage(conn: Connection, rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows (values in STAGE_COLUMNS order) into the stage; returns how many."""
    raw = conn.connection.driver_connection
    count = 0
    with raw.cursor() as cursor, cursor.copy(queries["copy_message_stage"].sql) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def create_broadcast_jobs(
    conn: Connection,
    source: str,
    keys: Sequence[tuple[int, int | None, int | None]],
    run_id: str | None,
    now: datetime,
) -> dict[tuple[int, int | None, int | None], int]:
    """One broadcast_jobs row per (user_id, sequence_id, campaign_id) key; returns key -> id."""
    if not keys:
        return {}
    rows = conn.execute(
        queries.text("create_broadcast_jobs"),
        {
            "source": source,
            "user_ids": [k[0] for k in keys],
            "sequence_ids": [k[1] for k in keys],
            "campaign_ids": [k[2] for k in keys],
            "run_id": run_id,
            "now": now,
        },
    )
    return {(r.user_id, r.sequence_id, r.campaign_id): r.id for r in rows}


def set_broadcast_job_totals(conn: Connection, totals: dict[int, int]) -> None:
    """total_count = rows actually inserted per job; jobs that inserted nothing are removed."""
    if totals:
        conn.execute(
            queries.text("set_broadcast_job_totals"),
            {"job_ids": list(totals), "totals": list(totals.values())},
        )
