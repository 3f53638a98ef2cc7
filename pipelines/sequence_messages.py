"""Asset: due sequence steps into message_queue; checks: opted-out leads, contacts behind."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    asset,
    asset_check,
)

from dripfleet.materialise.sequences import materialise_sequence_messages
from dripfleet.stores import maintenance
from pipelines.enrolment import sequence_enrolments
from pipelines.metadata import Names, markdown_table
from pipelines.resources import DatabaseResource
from pipelines.tick_time import tick_time


@asset(
    group_name="sequences",
    deps=[sequence_enrolments],
    description="Due (contact, step) pairs rendered, given a device and queued; contacts advanced.",
)
def sequence_messages(
    context: AssetExecutionContext, database: DatabaseResource
) -> MaterializeResult:
    """Queue every due step that fits in the device buffers, one transaction per batch."""
    now = tick_time(context)
    tick = materialise_sequence_messages(
        database.engine(), now, database.buffer_size(), run_id=context.run.run_id
    )
    context.log.info(
        "queued %d, skipped %d, waiting %d (%d batches)",
        tick.queued, tick.skipped, tick.waiting, tick.batches,
    )
    per_sequence = sorted(tick.per_sequence.items())
    name = Names(database.engine(), sequences=(sid for sid, _ in per_sequence))
    rows = (
        (name("sequence", sid), c["queued"], c["skipped"], c["waiting"], c["no_device"],
         tick.errors.get(sid) or "")
        for sid, c in per_sequence
    )
    return MaterializeResult(
        metadata={
            "tick": now.isoformat(),
            "queued": tick.queued,
            "skipped_template_problem": tick.skipped,
            "waiting_for_device": tick.waiting,
            "opted_out_contacts": tick.opted_out,
            "completed_without_steps": tick.completed_without_steps,
            "batches": tick.batches,
            "per_sequence": markdown_table(
                ["sequence", "queued", "skipped", "waiting (buffer)", "no device", "last_error"],
                rows,
            ),
            "template_problems": "\n".join(tick.problems) or "none",
            "elapsed_s": round(tick.seconds, 3),
        }
    )


@asset_check(asset=sequence_messages, description="No open message for a lead who opted out.")
def no_message_for_opted_out_lead(
    context: AssetCheckExecutionContext, database: DatabaseResource
) -> AssetCheckResult:
    """Fails when an open message was created after its lead opted out."""
    with database.engine().connect() as conn:
        found = maintenance.messages_for_opted_out_leads(conn)
    return AssetCheckResult(
        passed=not found,
        metadata={
            "violations": len(found),
            "examples": markdown_table(["message", "lead"], ((r["message_id"], r["lead_id"])
                                                              for r in found)),
        },
    )


@asset_check(asset=sequence_messages, description="No contact more than one step behind.")
def no_contact_behind_schedule(
    context: AssetCheckExecutionContext, database: DatabaseResource
) -> AssetCheckResult:
    """Fails when an active contact's due step is older than the gap to the step after it."""
    with database.engine().connect() as conn:
        found = maintenance.contacts_behind_schedule(conn, tick_time(context))
    name = Names(database.engine(), sequences=(r["sequence_id"] for r in found))
    return AssetCheckResult(
        passed=not found,
        metadata={
            "violations": len(found),
            "examples": markdown_table(
                ["contact", "sequence", "current_day", "next_due_at"],
                ((r["contact_id"], name("sequence", r["sequence_id"]), r["current_day"],
                  r["next_due_at"])
                 for r in found),
            ),
        },
    )
