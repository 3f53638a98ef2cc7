"""Due sequence steps into message_queue: one locked, COPY-staged transaction per batch.

Timing (DESIGN.md "Sequence timing", kernel rules in dripfleet.local_time): the step queued now
is recorded with the local date of the tick in the sequence's zone (last_queued_on); the next step
is due (d_next - d) local days after that date at its own send time; after the last step the
contact is completed. A contact gets at most one step per tick (one row per contact per batch).

Pause and delete are final: a batch share-locks its sequences before it reads its contacts, so a
pause / delete (which takes the sequence FOR UPDATE) is ordered wholly before or after it.

Rendering runs one batch ahead: while batch N is inserted (PostgreSQL's work, the other core), a
thread reads batch N+1's rows without locking them and renders them. Batch N+1 then uses a
rendering only where the rows it locked carry the same inputs (step, template, lead's name, phone
and attributes); anything that changed in between is rendered again. Renderings are
deterministic (seeded by the dedupe key), so the text is the same either way.
"""

import logging
import time
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, TextClause, text

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

log = logging.getLogger(__name__)
# lock_due_contacts ends with its lock; the read-ahead is the same query without it
_LOCK = "FOR UPDATE OF sc SKIP LOCKED"


def _read_ahead_query() -> TextClause:
    sql = queries["lock_due_contacts"].sql.rstrip()
    if not sql.endswith(_LOCK):
        raise RuntimeError(f"lock_due_contacts must end with {_LOCK!r} (the read-ahead drops it)")
    return text(sql[: -len(_LOCK)])


_READ_AHEAD = _read_ahead_query()


@dataclass(frozen=True)
class Rendered:
    """One contact's step rendered: its inputs, and the body / caption or the problem."""

    inputs: tuple
    body: str | None
    caption: str | None
    problem: str | None


def _inputs(row: Any) -> tuple:
    return (row.step_id, row.body, row.caption, row.name, row.phone, row.attributes)


def render_step(row: Any) -> Rendered:
    """Render a due row (lock_due_contacts' columns): body, then caption, seeded by dedupe key."""
    dedupe_key = f"seq:{row.contact_id}:{row.step_id}"
    body, problem = render_or_problem(row.body, row.name, row.phone, row.attributes, dedupe_key)
    caption = row.caption
    if problem is None:
        caption, problem = render_or_problem(row.caption, row.name, row.phone, row.attributes,
                                             dedupe_key)
    return Rendered(_inputs(row), body, caption, problem)


def render_ahead(engine: Engine, contact_ids: list[int], now: datetime) -> dict[int, Rendered]:
    """Read a batch's due rows without locking them and render each: contact id -> Rendered."""
    with engine.connect() as conn:
        rows = conn.execute(_READ_AHEAD, {"contact_ids": contact_ids, "now": now}).all()
    return {row.contact_id: render_step(row) for row in rows}


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
    """Queue the due step of every due contact (as of `now`) that fits in the device buffers."""
    started = time.perf_counter()
    tick = SequenceTick()
    with engine.connect() as conn:
        due = conn.execute(
            queries.text("due_contact_ids"), {"now": now, "limit": max_contacts}
        ).all()
    chunks = [due[start : start + batch_size] for start in range(0, len(due), batch_size)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-ahead") as pool:
        ahead: Future | None = None
        for index, chunk in enumerate(chunks):
            rendered = _result(ahead)
            if index + 1 < len(chunks):
                ahead = pool.submit(render_ahead, engine, [r.id for r in chunks[index + 1]], now)
            _batch(engine, [r.id for r in chunk], sorted({r.sequence_id for r in chunk}), now,
                   buffer_size, run_id, tick, rendered)
    _record_errors(engine, tick)
    tick.seconds = time.perf_counter() - started
    return tick


def _result(ahead: Future | None) -> dict[int, Rendered]:
    """The read-ahead's renderings; none if it failed (the batch then renders everything)."""
    if ahead is None:
        return {}
    try:
        return ahead.result()
    except Exception:  # noqa: BLE001 - an optimisation only: the batch reads and renders again
        log.warning("rendering ahead failed; the batch renders its rows itself", exc_info=True)
        return {}


def _batch(
    engine: Engine, contact_ids: list[int], sequence_ids: list[int], now: datetime,
    buffer_size: int, run_id: str | None, tick: SequenceTick,
    rendered: dict[int, Rendered] | None = None,
) -> None:
    rendered = rendered or {}
    with engine.begin() as conn:
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
            return
        tick.batches += 1
        _schedule(frame, now)
        chooser = load_chooser(conn, frame["user_id"].unique().tolist(), buffer_size)
        staged, jobs_wanted = [], set()
        for row in frame.itertuples(index=False):
            seq = tick.per_sequence[row.sequence_id]
            dedupe_key = f"seq:{row.contact_id}:{row.step_id}"
            done = rendered.get(row.contact_id)
            if done is None or done.inputs != _inputs(row):
                done = render_step(row)
            body, caption, problem = done.body, done.caption, done.problem
            if problem is not None:
                seq["skipped"] += 1
                if len(tick.problems) < 20:
                    tick.problems.append(f"contact {row.contact_id} day {row.day}: {problem}")
                staged.append(_stage_row(row, None, False, "", caption, dedupe_key, problem))
                continue
            choice = chooser.choose(row.user_id, _int(row.preferred_device_id),
                                    _int(row.source_device_id))
            if choice.device_id is None:
                seq["no_device" if choice.reason == NO_USABLE_DEVICE else "waiting"] += 1
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
        skipped = int(conn.execute(queries.text("skip_staged_sequence_steps"),
                                   {"now": now}).scalar_one())
        staging.set_broadcast_job_totals(
            conn, {job_id: inserted.get(job_id, 0) for job_id in jobs.values()}
        )
    by_job = {job_id: key[1] for key, job_id in jobs.items()}
    for job_id, count in inserted.items():
        tick.per_sequence[by_job[job_id]]["queued"] += count
        tick.queued += count
    tick.skipped += skipped


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
