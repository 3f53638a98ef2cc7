"""The Dagster Definitions of dripfleet: assets, checks, the tick job and its schedule."""

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from pipelines import (
    campaign_messages,
    delivery_stats,
    engagement_stats,
    enrolment,
    maintenance,
    sequence_messages,
)
from pipelines.resources import DatabaseResource
from pipelines.schedules import every_minute, tick_job

_modules = [enrolment, sequence_messages, campaign_messages, delivery_stats, engagement_stats,
            maintenance]

defs = Definitions(
    assets=load_assets_from_modules(_modules),
    asset_checks=load_asset_checks_from_modules(_modules),
    jobs=[tick_job],
    schedules=[every_minute],
    resources={"database": DatabaseResource()},
)
