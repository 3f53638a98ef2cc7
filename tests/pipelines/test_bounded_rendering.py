"""Acceptance 4: the measured template attack — a lead attribute of 1 MB and `{{ a ~ a ~ ... }}`
took one render to 213 MB inside the shared tick. Such a value can no longer be imported (see
tests/webapp/test_csv_import.py and test_leads.py), but old rows may hold one: written straight
into the database here, every attack fails with the reason and memory stays bounded."""

import json
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from dripfleet.materialise.rendering import render_or_problem

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
ONE_MB = "x" * 1_000_000
TIMES = 48
# Peak of the Python allocations made by one render (tracemalloc), the 1 MB value being loaded
# before the measurement starts. A refused render compiles its small template and holds at most
# the cap (65,536 characters) plus an operand or two: well under a megabyte or two. 16 MB leaves
# room for the interpreter's own noise and is still far below what building the text costs: the
# old code reached 48 MB for the `~` attack (one copy per operand) and 96 MB for `+`. A bound on
# memory, not on time.
PEAK_BOUND = 16 * 1024 * 1024

ATTACKS = {
    "concatenation": "{{ " + " ~ ".join(["a"] * TIMES) + " }}",
    "plus": "{{ " + " + ".join(["a"] * TIMES) + " }}",
    "repetition": "{{ a * 1000 }}",
    "list repetition": "{{ [a] * 1000 }}",
    "percent": "{{ '" + "%s" * TIMES + "' % (" + ", ".join(["a"] * TIMES) + ") }}",
    "format filter": "{{ '" + "%s" * TIMES + "'|format(" + ", ".join(["a"] * TIMES) + ") }}",
    "join": "{{ [" + ", ".join(["a"] * TIMES) + "]|join }}",
    "replace": "{{ a|replace('x', 'xxxxxxxxxx') }}",
    "string of a list": "{{ [" + ", ".join(["a"] * TIMES) + "]|string }}",
    "str method": "{{ " + " ~ ".join(["a.upper()"] * TIMES) + " }}",
    "list filter": "{{ (a|list) + (a|list) }}",
    "output": "{{ a }}" * TIMES,
    "in a condition": "{% if (" + " ~ ".join(["a"] * TIMES) + ")|length %}x{% endif %}",
    "in spintax": "{Hi|Hello} {{ " + " ~ ".join(["a"] * TIMES) + " }}",
}


def _lead_row(world, lead_id: int) -> dict:
    return world.sql("SELECT name, phone, attributes FROM leads WHERE id = :l", l=lead_id)[0]


def test_the_attack_on_a_stored_1mb_attribute_fails_cleanly_with_bounded_memory(world):
    user = world.user()
    lead_id = world.lead(user, ["yoga"], attributes=json.dumps({"a": ONE_MB}))
    row = _lead_row(world, lead_id)  # as the pipelines load it
    assert len(row["attributes"]["a"]) == 1_000_000
    for name, template in ATTACKS.items():
        tracemalloc.start()
        try:
            body, problem = render_or_problem(
                template, row["name"], row["phone"], row["attributes"], f"seq:1:{name}"
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert body is None and problem is not None, name
        assert "longer than 65,536 characters" in problem, (name, problem)
        assert peak < PEAK_BOUND, f"{name}: peak {peak / 1e6:.1f} MB"


@pytest.mark.parametrize("source", ["sequence", "campaign"])
def test_a_tick_skips_only_the_attacked_message_with_the_reason(world, tick, source):
    user = world.user()
    world.device(user)
    attacked = world.lead(user, ["yoga"], attributes=json.dumps({"a": ONE_MB}))
    fine = world.lead(user, ["yoga"], attributes=json.dumps({"a": "ab"}))
    body = ATTACKS["concatenation"]
    if source == "sequence":
        source_id = world.sequence(user, niche="yoga", body=body)
    else:
        source_id = world.campaign(user, NOW - timedelta(minutes=1), niche="yoga", body=body)
    tick(NOW)
    queued = world.sql(f"SELECT lead_id, body FROM message_queue WHERE {source}_id = :s",
                       s=source_id)
    assert queued == [{"lead_id": fine, "body": "ab" * TIMES}]
    reason = "the message would be longer than 65,536 characters (~)"
    if source == "sequence":
        log = world.sql("SELECT c.lead_id, l.error FROM sequence_logs l"
                        " JOIN sequence_contacts c ON c.id = l.contact_id"
                        " WHERE c.sequence_id = :s AND l.status = 'skipped'", s=source_id)
        assert [(r["lead_id"], r["error"]) for r in log] == [(attacked, reason)]
    else:
        error = world.value("SELECT last_error FROM campaigns WHERE id = :c", c=source_id)
        assert error == f"lead {attacked} skipped: {reason}"


def test_a_plain_text_longer_than_a_message_is_not_passed_through():
    """render_or_problem skips rendering text without braces; a stored text over the cap (from
    before templates were checked) still gets the reason instead of being queued."""
    assert render_or_problem("x" * 65_536, "n", "+60123456789", {}, "s") == ("x" * 65_536, None)
    body, problem = render_or_problem("x" * 65_537, "n", "+60123456789", {}, "s")
    assert body is None and "longer than 65,536 characters" in problem
