"""Rendering one batch ahead (dripfleet/materialise/sequences.py): the next batch's rows are read
without locks and rendered while the current batch is inserted. What is queued must be exactly
what rendering at lock time gives, including for a lead changed in between."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from dripfleet.materialise import sequences
from dripfleet.templates import render_message

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
BODY = "{Hi|Hello|Hey} {{ first_name }} from {{ city | default('nowhere') }}"


def _due_sequence(world, user: int, leads: int) -> int:
    world.device(user)
    sequence = world.sequence(user, body=BODY)
    for n in range(leads):
        world.lead(user, niches=["fitness"], name=f"Lead{n} Tan",
                   attributes=f'{{"city": "City{n}"}}')
    world.sql("INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, next_due_at)"
              " SELECT :u, :s, id, :due FROM leads WHERE user_id = :u",
              u=user, s=sequence, due=NOW - timedelta(minutes=1))
    return sequence


def _expected(world, user: int) -> dict[int, str]:
    rows = world.sql("SELECT q.id, q.dedupe_key, l.name, l.phone, l.attributes"
                     " FROM message_queue q JOIN leads l ON l.id = q.lead_id"
                     " WHERE q.user_id = :u", u=user)
    return {r["id"]: render_message(BODY, {"name": r["name"], "phone": r["phone"],
                                           "attributes": r["attributes"]}, seed=r["dedupe_key"])
            for r in rows}


def test_batches_rendered_ahead_queue_what_rendering_at_lock_time_gives(world, engine):
    user = world.user()
    _due_sequence(world, user, 11)
    tick = sequences.materialise_sequence_messages(engine, NOW, buffer_size=100, batch_size=3)
    assert (tick.queued, tick.batches) == (11, 4)
    bodies = {r["id"]: r["body"] for r in world.sql(
        "SELECT id, body FROM message_queue WHERE user_id = :u", u=user)}
    assert bodies == _expected(world, user)
    assert all(" from City" in body for body in bodies.values())


def test_a_lead_changed_after_the_read_ahead_is_rendered_with_its_new_name(world, engine):
    user = world.user()
    sequence = _due_sequence(world, user, 2)
    contacts = [r["id"] for r in world.sql(
        "SELECT id FROM sequence_contacts WHERE user_id = :u ORDER BY id", u=user)]
    ahead = sequences.render_ahead(engine, contacts, NOW)
    assert set(ahead) == set(contacts)
    assert "Lead0" in ahead[contacts[0]].body
    # between the read-ahead and the batch's lock, the first lead is renamed
    with engine.begin() as conn:
        conn.execute(text("UPDATE leads SET name = 'Zed Lim' WHERE id ="
                          " (SELECT lead_id FROM sequence_contacts WHERE id = :c)"),
                     {"c": contacts[0]})
    tick = sequences.SequenceTick()
    sequences._batch(engine, contacts, [sequence], NOW, 100, None, tick, ahead)
    assert tick.queued == 2
    bodies = {r["contact_id"]: r["body"] for r in world.sql(
        "SELECT contact_id, body FROM message_queue WHERE user_id = :u", u=user)}
    assert "Zed" in bodies[contacts[0]] and "Lead0" not in bodies[contacts[0]]
    assert bodies[contacts[1]] == ahead[contacts[1]].body
    assert bodies == _expected_by_contact(world, user)


def _expected_by_contact(world, user: int) -> dict[int, str]:
    by_id = _expected(world, user)
    return {r["contact_id"]: by_id[r["id"]] for r in world.sql(
        "SELECT id, contact_id FROM message_queue WHERE user_id = :u", u=user)}
