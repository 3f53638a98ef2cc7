"""Broadcast job and queue statistics schemas."""

from apiflask import Schema
from apiflask.fields import Dict, Integer, List, Nested, String
from apiflask.validators import OneOf, Range

from webapp.schemas.common import MAX_ID, Instant


class JobQuery(Schema):
    """Newest first; filters by source, campaign or sequence."""

    limit = Integer(load_default=50, validate=Range(min=1, max=500))
    before = Integer(load_default=None, validate=Range(min=1, max=MAX_ID))
    source = String(validate=OneOf(["campaign", "sequence", "api"]))
    campaign_id = Integer(validate=Range(min=1, max=MAX_ID))
    sequence_id = Integer(validate=Range(min=1, max=MAX_ID))


class Job(Schema):
    """One materialised batch with its totals."""

    id = Integer(required=True)
    source = String(required=True)
    campaign_id = Integer(allow_none=True)
    sequence_id = Integer(allow_none=True)
    dagster_run_id = String(allow_none=True)
    total_count = Integer(required=True)
    sent_count = Integer(required=True)
    failed_count = Integer(required=True)
    cancelled_count = Integer(required=True)
    expired_count = Integer(required=True)
    started_at = Instant(required=True)
    finished_at = Instant(allow_none=True)


class JobItem(Job):
    """A job in a list."""


class JobDetail(Job):
    """A job with live message counts by status."""

    messages = Dict(keys=String(), values=Integer(), required=True)


class JobList(Schema):
    """A page of jobs."""

    items = List(Nested(JobItem), required=True)
    next_before = Integer(allow_none=True, required=True)


class DeviceQueue(Schema):
    """One device's queue."""

    device_id = Integer(required=True)
    name = String(required=True)
    status = String(required=True)
    next_send_at = Instant(required=True)
    queued = Integer(required=True)
    held = Integer(required=True)
    sending = Integer(required=True)
    sent_24h = Integer(required=True)
    failed_24h = Integer(required=True)


class QueueTotals(Schema):
    """Sums over the devices."""

    queued = Integer(required=True)
    held = Integer(required=True)
    sending = Integer(required=True)
    sent_24h = Integer(required=True)
    failed_24h = Integer(required=True)


class QueueStats(Schema):
    """Per device and in total."""

    devices = List(Nested(DeviceQueue), required=True)
    totals = Nested(QueueTotals, required=True)
