"""The definitions load: one job over every asset and check, in-process, on a minute schedule."""

from dagster import AssetKey, Definitions, in_process_executor

from pipelines.definitions import defs
from pipelines.schedules import TICK_JOB_NAME


def test_definitions_load_and_the_tick_job_resolves():
    Definitions.validate_loadable(defs)
    job = defs.resolve_job_def(TICK_JOB_NAME)
    assert job.executor_def is in_process_executor
    nodes = {node.name for node in job.graph.nodes}
    assets = {"sequence_enrolments", "sequence_messages", "campaign_messages", "delivery_stats",
              "queue_maintenance"}
    assert assets <= nodes
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"no_device_over_buffer", "no_message_for_opted_out_lead",
                      "no_sending_past_lease", "no_contact_behind_schedule"}
    schedule = defs.resolve_schedule_def("every_minute")
    assert schedule.cron_schedule == "* * * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status.value == "RUNNING"
    assert schedule.job_name == TICK_JOB_NAME
    assert defs.resolve_assets_def(AssetKey("sequence_messages")).group_names_by_key
