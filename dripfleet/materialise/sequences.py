"""Due sequence steps into message_queue: one locked, COPY-staged transaction per batch.

Timing (DESIGN.md "Sequence timing", kernel rules in dripfleet.local_time): the step queued now
is recorded with the local date of the tick in the sequence's zone (last_queued_on); the next step
is due (d_next - d) local days after that date at its own send time; after the last step the
contact is completed. A contact gets at most one step per tick (one row per contact per batch).

Pause and delete are final: a batch share-locks its sequences before it reads its contacts, so a
pause / delete (which takes the sequence FOR UPDATE) is ordered wholly before or after it.
"""

import time
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, RootTransaction

from dripfleet.local_time import local_date, step_due_at
from dripfleet.materialise import staging
from dripfleet.materialise.device_choice import BUFFER_FULL, NO_USABLE_DEVICE, load_chooser
from dripfleet.materialise.rendering import render_or_problem
from dripfleet.queries import queries

queries.require(
    "close_contacts", "due_contact_ids", "lock_batch_sequences",
    "lock_due_contacts", "insert_staged_sequence_messages", "skip_staged_sequence_steps",
    "set_sequence_errors",
)

BATCH_SIZE = 10_000
MAX_CONTACTS_PER_TICK = 500_000


@dataclass
class SequenceTick:
    """What one tick did to sequence contacts, in total and per sequence."""

    queued: int = 0
    skipped: int = 0
    waiting: int = 0
    completed_without_steps: int = 0
    opted_out: int = 0
    batches: int = 0
    per_sequence: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: dict[int, str | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def materialise_sequence_messages(
    engine: Engine,
    now: datetime,
    buffer_size: int,
    run_id: str | None = None,
    batch_size: int = BATCH_SIZE,
    max_contacts: int = MAX_CONTACTS_PER_TICK,
) -> SequenceTick:
    """Queue the due step of every due contact (as of `now`) that fits in the device buffers.

    Two batches are in flight at once: while one writes (device choice, stage, insert, commit) on
    a writer thread, the next is read, locked and rendered on this one. Rendering is Python and
    the write is mostly the database's, so on two cores they overlap instead of taking turns.
    """
    started = time.perf_counter()
    tick = SequenceTick()
    with engine.connect() as conn:
        due = conn.execute(
            queries.text("due_contact_ids"), {"now": now, "limit": max_contacts}
        ).all()
    chunks = [due[start : start + batch_size] for start in range(0, len(due), batch_size)]
    with ThreadPoolExecutor(1, thread_name_prefix="materialise-write") as writer:
        writing: Future[_Written] | None = None
        try:
            for chunk in chunks:
                batch = _prepare(engine, [r.id for r in chunk],
                                 sorted({r.sequence_id for r in chunk}), now, tick)
                try:
                    if writing is not None:
                        # cleared first: a failed write is raised once, not again in `finally`
                        done, writing = writing, None
                        _count(tick, done.result())
                except BaseException:
                    if batch is not None:
                        batch.abort()
                    raise
                if batch is not None:
                    writing = writer.submit(_write, batch, now, buffer_size, run_id)
        finally:
            if writing is not None:  # also when reading the next batch failed: let it finish
                _count(tick, writing.result())
    _record_errors(engine, tick)
    tick.seconds = time.perf_counter() - started
    return tick


@dataclass
class _Batch:
    """A batch read, locked and rendered, its transaction still open on its own connection."""

    conn: Connection
    transaction: RootTransaction
    # (row, body, caption, dedupe key, problem) per due step
    rows: list[tuple[Any, str | None, str | None, str, str | None]]

    def abort(self) -> None:
        try:
            self.transaction.rollback()
        finally:
            self.conn.close()


@dataclass
class _Written:
    """What a batch's write did, counted into the tick by the reading thread."""

    queued: Counter = field(default_factory=Counter)  # sequence id -> messages inserted
    waiting: Counter = field(default_factory=Counter)  # sequence id -> no room in a buffer
    no_device: Counter = field(default_factory=Counter)  # sequence id -> no usable device
    skipped: int = 0


def _prepare(
    engine: Engine, contact_ids: list[int], sequence_ids: list[int], now: datetime,
    tick: SequenceTick,
) -> _Batch | None:
    """Open the batch's transaction: lock its sequences and contacts, read and render its steps."""
    conn = engine.connect()
    transaction = conn.begin()
    try:
        staging.begin_batch(conn)
        # before the contacts: a pause or delete either waits for this batch and then holds or
        # cancels what it queued, or is waited for, and the batch then sees the new status
        conn.execute(queries.text("lock_batch_sequences"), {"sequence_ids": sequence_ids})
        result = conn.execute(
            queries.text("lock_due_contacts"), {"contact_ids": contact_ids, "now": now}
        )
        # object dtype keeps ints as ints and NULL as None (no NaN floats)
        frame = pd.DataFrame(result.all(), columns=list(result.keys()), dtype=object)
        if len(frame) < len(contact_ids):
            _close(conn, sorted(set(contact_ids) - set(frame["contact_id"])), now, tick)
        if frame.empty:
            transaction.commit()
            conn.close()
            return None
        tick.batches += 1
        _schedule(frame, now)
        rows = []
        for row in frame.itertuples(index=False):
            seq = tick.per_sequence[row.sequence_id]  # every sequence of the batch gets a line
            dedupe_key = f"seq:{row.contact_id}:{row.step_id}"
            body, problem = render_or_problem(
                row.body, row.name, row.phone, row.attributes, dedupe_key
            )
            caption = row.caption
            if problem is None:
                caption, problem = render_or_problem(
                    row.caption, row.name, row.phone, row.attributes, dedupe_key
                )
            if problem is not None:
                seq["skipped"] += 1
                if len(tick.problems) < 20:
                    tick.problems.append(f"contact {row.contact_id} day {row.day}: {problem}")
            rows.append((row, body, caption, dedupe_key, problem))
        return _Batch(conn, transaction, rows)
    except BaseException:
        _Batch(conn, transaction, []).abort()
        raise


def _write(batch: _Batch, now: datetime, buffer_size: int, run_id: str | None) -> _Written:
    """Choose devices, stage and insert the batch, and commit (on the writer thread)."""
    conn, written = batch.conn, _Written()
    try:
        # the buffers count queued rows: a racing batch's are only visible once it committed
        staging.lock_batches(conn)
        chooser = load_chooser(conn, sorted({r[0].user_id for r in batch.rows}), buffer_size)
        staged, jobs_wanted = [], set()
        for row, body, caption, dedupe_key, problem in batch.rows:
            if problem is not None:
                staged.append(_stage_row(row, None, False, "", caption, dedupe_key, problem))
                continue
            choice = chooser.choose(row.user_id, _int(row.preferred_device_id),
                                    _int(row.source_device_id))
            if choice.device_id is None:
                no_device = choice.reason == NO_USABLE_DEVICE
                (written.no_device if no_device else written.waiting)[row.sequence_id] += 1
                continue
            jobs_wanted.add((row.user_id, row.sequence_id, None))
            staged.append(
                _stage_row(row, choice.device_id, choice.pinned, body, caption, dedupe_key, None)
            )
        jobs = staging.create_broadcast_jobs(
            conn, "sequence", sorted(jobs_wanted), run_id, now
        )
        for values in staged:
            if values[1] is not None:  # a device: set broadcast_job_id (stage column 14)
                values[14] = jobs[(values[0], values[11], None)]
        staging.copy_to_stage(conn, staged)
        inserted = {
            r.broadcast_job_id: int(r.inserted)
            for r in conn.execute(queries.text("insert_staged_sequence_messages"), {"now": now})
        }
        written.skipped = int(conn.execute(queries.text("skip_staged_sequence_steps"),
                                           {"now": now}).scalar_one())
        staging.set_broadcast_job_totals(
            conn, {job_id: inserted.get(job_id, 0) for job_id in jobs.values()}
        )
        batch.transaction.commit()
    except BaseException:
        batch.abort()
        raise
    conn.close()
    by_job = {job_id: key[1] for key, job_id in jobs.items()}
    for job_id, count in inserted.items():
        written.queued[by_job[job_id]] += count
    return written


def _count(tick: SequenceTick, written: _Written) -> None:
    for name in ("queued", "waiting", "no_device"):
        for sequence_id, n in getattr(written, name).items():
            tick.per_sequence[sequence_id][name] += n
    tick.queued += sum(written.queued.values())
    tick.skipped += written.skipped


def _close(conn, contact_ids: list[int], now: datetime, tick: SequenceTick) -> None:
    """Contacts that cannot get a step: opted out, or no step left (locked ones are skipped)."""
    closed = Counter(
        conn.execute(
            queries.text("close_contacts"), {"contact_ids": contact_ids, "now": now}
        ).scalars()
    )
    tick.opted_out += closed["opted_out"]
    tick.completed_without_steps += closed["completed"]


def _schedule(frame: pd.DataFrame, now: datetime) -> None:
    """Add queued_on (the tick's local date) and next_due_at (None after the last step)."""
    zones = {tz: local_date(now, tz) for tz in frame["timezone"].unique()}
    frame["queued_on"] = frame["timezone"].map(zones)
    has_next = frame["next_day"].notna()
    keys = frame.loc[has_next, ["timezone", "queued_on", "day", "next_day", "next_send_time"]]
    due = {
        key: step_due_at(key[1], int(key[3]) - int(key[2]), key[4], key[0])
        for key in keys.drop_duplicates().itertuples(index=False, name=None)
    }
    frame["next_due_at"] = [
        due[key] if ok else None
        for ok, key in zip(
            has_next,
            frame[["timezone", "queued_on", "day", "next_day", "next_send_time"]].itertuples(
                index=False, name=None
            ),
            strict=True,
        )
    ]


def _stage_row(row, device_id, pinned, body, caption, dedupe_key, problem) -> list:
    return [
        row.user_id, device_id, row.lead_id, row.phone, row.message_type, body or "",
        row.media_url, _int(row.media_id), caption, row.filename, None, row.sequence_id,
        row.contact_id, row.step_id, None, pinned, dedupe_key, int(row.day), row.queued_on,
        row.next_due_at, problem,
    ]  # fmt: skip


def _int(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _record_errors(engine: Engine, tick: SequenceTick) -> None:
    for sequence_id, counts in tick.per_sequence.items():
        if counts["no_device"]:
            tick.errors[sequence_id] = NO_USABLE_DEVICE
        elif counts["waiting"] and not counts["queued"]:
            tick.errors[sequence_id] = BUFFER_FULL
        else:
            tick.errors[sequence_id] = None
    tick.waiting = sum(c["waiting"] + c["no_device"] for c in tick.per_sequence.values())
    if tick.errors:
        with engine.begin() as conn:
            conn.execute(
                queries.text("set_sequence_errors"),
                {"sequence_ids": list(tick.errors), "errors": list(tick.errors.values())},
            )
