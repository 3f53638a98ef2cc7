"""Asset: sequence enrolments (matching leads become active contacts with their first due time)."""

import time

from dagster import AssetExecutionContext, MaterializeResult, asset

from dripfleet.materialise import enrolment
from pipelines.metadata import Names, markdown_table
from pipelines.resources import DatabaseResource
from pipelines.tick_time import tick_time


@asset(group_name="sequences", description="Leads matching an active sequence become contacts.")
def sequence_enrolments(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult:
    """Enrol matching leads (niche tag, target status, not opted out, same user) once each."""
    started = time.perf_counter()
    now = tick_time(context)
    engine = database.engine()
    enrolled = enrolment.enrol_matching_leads(engine, now)
    filled = enrolment.fill_missing_due(engine)
    total = sum(enrolled.values())
    per_sequence = sorted(enrolled.items())
    name = Names(engine, sequences=(sid for sid, _ in per_sequence))
    context.log.info("enrolled %d contacts in %d sequences", total, len(enrolled))
    return MaterializeResult(
        metadata={
            "tick": now.isoformat(),
            "enrolled": total,
            "due_times_filled": filled,
            "per_sequence": markdown_table(
                ["sequence", "enrolled"], ((name("sequence", sid), n) for sid, n in per_sequence)
            ),
            "elapsed_s": round(time.perf_counter() - started, 3),
        }
    )
