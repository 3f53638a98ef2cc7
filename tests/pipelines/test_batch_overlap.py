"""Two batches of a tick in flight at once: the next one is read and rendered while the previous
one writes. The overlap is proven with a barrier (the write waits until the next batch has read),
and what it must not change is checked: every due step once, nothing half applied on an error,
racing ticks of many batches each queue once."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from dripfleet.materialise import sequences, staging
from dripfleet.materialise.sequences import materialise_sequence_messages

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
WAIT_S = 30


def due_contacts(world, leads: int) -> tuple[int, int]:
    """A user with two devices and `leads` contacts of one sequence, all due now."""
    user = world.user()
    world.device(user, name="phone 1")
    world.device(user, name="phone 2")
    world.leads(user, leads, ["yoga"])
    sequence = world.sequence(user, niche="yoga", steps=[(1, "09:00"), (2, "09:00")])
    world.sql(
        "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, enrolled_at, next_due_at)"
        " SELECT user_id, :s, id, :due, :due FROM leads WHERE user_id = :u",
        s=sequence, u=user, due=NOW - timedelta(minutes=1),
    )
    return user, sequence


def test_the_next_batch_is_read_while_the_previous_one_writes(world, engine, monkeypatch):
    _, sequence = due_contacts(world, 20)
    read = threading.Barrier(2, timeout=WAIT_S)
    real_prepare, real_write = sequences._prepare, sequences._write
    prepared = []

    def prepare(*args, **kwargs):
        batch = real_prepare(*args, **kwargs)
        prepared.append(batch)
        if len(prepared) == 2:  # the second batch is read and locked: let the first write go on
            read.wait()
        return batch

    def write(batch, *args, **kwargs):
        if batch is prepared[0]:  # nothing of it is committed until the next batch was read
            read.wait()
            assert world.value("SELECT count(*) FROM message_queue") == 0
        return real_write(batch, *args, **kwargs)

    monkeypatch.setattr(sequences, "_prepare", prepare)
    monkeypatch.setattr(sequences, "_write", write)
    tick = materialise_sequence_messages(engine, NOW, 1000, batch_size=8)

    assert (tick.queued, tick.batches) == (20, 3)
    assert tick.per_sequence[sequence]["queued"] == 20
    assert world.value("SELECT count(*) FROM message_queue WHERE sequence_id = :s"
                       " AND step_day = 1", s=sequence) == 20
    assert world.value("SELECT count(DISTINCT contact_id) FROM message_queue") == 20
    assert world.value("SELECT count(*) FROM sequence_contacts WHERE current_day = 1") == 20
    assert world.value("SELECT count(*) FROM broadcast_jobs") == 3


def test_a_failing_write_leaves_the_batch_read_behind_it_untouched(world, engine, monkeypatch):
    due_contacts(world, 20)
    real_copy = staging.copy_to_stage
    copies = []

    def copy_to_stage(conn, rows):
        copies.append(1)
        if len(copies) == 2:
            raise RuntimeError("the database went away mid-batch")
        return real_copy(conn, rows)

    monkeypatch.setattr(staging, "copy_to_stage", copy_to_stage)
    with pytest.raises(RuntimeError, match="went away"):
        materialise_sequence_messages(engine, NOW, 1000, batch_size=8)

    # the first batch committed; the second rolled back; the third, read while the second wrote,
    # was rolled back too and its contacts are free again
    assert world.value("SELECT count(*) FROM message_queue") == 8
    assert world.value("SELECT count(*) FROM sequence_contacts WHERE current_day = 1") == 8
    assert world.value("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                       " AND state LIKE 'idle in transaction%%'") == 0
    monkeypatch.setattr(staging, "copy_to_stage", real_copy)
    tick = materialise_sequence_messages(engine, NOW, 1000, batch_size=8)
    assert tick.queued == 12
    assert world.value("SELECT count(*) FROM message_queue") == 20


def test_racing_ticks_of_many_batches_each_queue_every_step_once(world, engine):
    due_contacts(world, 300)
    barrier = threading.Barrier(2, timeout=WAIT_S)

    def run():
        barrier.wait()
        return materialise_sequence_messages(engine, NOW, 1000, batch_size=7)

    with ThreadPoolExecutor(2) as pool:
        ticks = [f.result(timeout=4 * WAIT_S) for f in [pool.submit(run), pool.submit(run)]]

    assert sum(t.queued for t in ticks) == 300
    assert world.value("SELECT count(*) FROM message_queue") == 300
    assert world.value("SELECT count(DISTINCT contact_id) FROM message_queue") == 300
    assert world.value("SELECT count(*) FROM sequence_contacts WHERE current_day = 1") == 300
    assert world.value("SELECT sum(total_count) FROM broadcast_jobs") == 300
