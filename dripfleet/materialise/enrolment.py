"""Sequence enrolment: matching leads become active contacts with their first due time.

Incremental: a tick looks only at the leads changed since the sequence's last scan (a trigger
keeps leads.updated_at current, migration 0021); a new or edited sequence, or an hour since the last
full scan, gets a full scan.

First due times follow the kernel's DST rules (dripfleet.local_time.first_due_at): every contact
enrolled by one tick shares the tick's instant, so there is one computation per sequence and the
enrolment itself is a single set-based INSERT ... SELECT.
"""

from datetime import datetime

from sqlalchemy import Engine

from dripfleet.local_time import first_due_at
from dripfleet.queries import queries

queries.require(
    "active_sequences_first_step", "enrol_matching_leads", "mark_enrolment_scans",
    "contacts_missing_due", "set_contact_due",
)

MISSING_DUE_BATCH = 10_000


def enrol_matching_leads(engine: Engine, now: datetime) -> dict[int, int]:
    """Enrol every matching lead not enrolled yet (as of `now`); returns sequence id -> count."""
    with engine.begin() as conn:
        sequences = conn.execute(queries.text("active_sequences_first_step")).all()
        if not sequences:
            return {}
        first_due = [first_due_at(now, s.send_time, s.timezone) for s in sequences]
        rows = conn.execute(
            queries.text("enrol_matching_leads"),
            {"sequence_ids": [s.sequence_id for s in sequences], "first_due": first_due,
             "scan_from": [s.scan_from for s in sequences], "now": now},
        )
        enrolled = {r.sequence_id: int(r.enrolled) for r in rows}
        conn.execute(
            queries.text("mark_enrolment_scans"),
            {"sequence_ids": [s.sequence_id for s in sequences],
             "full_scan": [s.scan_from is None for s in sequences]},
        )
        return enrolled


def fill_missing_due(engine: Engine) -> int:
    """Set next_due_at of active contacts added without one (e.g. by the API); returns count."""
    total = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                queries.text("contacts_missing_due"), {"limit": MISSING_DUE_BATCH}
            ).all()
            if not rows:
                return total
            due = [first_due_at(r.enrolled_at, r.send_time, r.timezone) for r in rows]
            conn.execute(
                queries.text("set_contact_due"),
                {"contact_ids": [r.contact_id for r in rows], "due": due},
            )
        total += len(rows)
        if len(rows) < MISSING_DUE_BATCH:
            return total
