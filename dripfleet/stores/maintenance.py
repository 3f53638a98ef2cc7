"""Queue hygiene (expiring messages that waited too long) and the invariants the checks verify."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from dripfleet.queries import queries

# hours of per-device outcome counts kept (the rates read 24 h and 7 days)
OUTCOME_HOURS_KEPT_DAYS = 30
# the webhook delivery log: attempts and finished deliveries kept this long
WEBHOOK_LOG_KEPT_DAYS = 7
WEBHOOK_PURGE_LIMIT = 50_000

queries.require(
    "expire_old_messages", "prune_device_outcomes", "devices_over_buffer",
    "messages_for_opted_out_leads", "sending_past_lease", "contacts_behind_schedule",
    "purge_webhook_attempts", "purge_webhook_deliveries", "metadata_names",
)


def expire_old_messages(engine: Engine, now: datetime, max_age_hours: float) -> int:
    """Expire queued/held messages created more than max_age_hours before `now`; returns count."""
    with engine.begin() as conn:
        return conn.execute(
            queries.text("expire_old_messages"),
            {"cutoff": now - timedelta(hours=max_age_hours), "max_age_hours": f"{max_age_hours:g}"},
        ).scalar_one()


def prune_device_outcomes(engine: Engine, now: datetime,
                          keep_days: int = OUTCOME_HOURS_KEPT_DAYS) -> int:
    """Delete per-device hourly outcome counts older than keep_days; returns how many."""
    with engine.begin() as conn:
        return conn.execute(queries.text("prune_device_outcomes"),
                            {"cutoff": now - timedelta(days=keep_days)}).rowcount


def purge_webhook_log(engine: Engine, now: datetime, keep_days: int = WEBHOOK_LOG_KEPT_DAYS,
                      limit: int = WEBHOOK_PURGE_LIMIT) -> tuple[int, int]:
    """Delete webhook attempts, and finished deliveries, older than keep_days (at most limit of
    each); returns (attempts, deliveries) deleted."""
    params = {"cutoff": now - timedelta(days=keep_days), "limit": limit}
    with engine.begin() as conn:
        attempts = conn.execute(queries.text("purge_webhook_attempts"), params).rowcount
        deliveries = conn.execute(queries.text("purge_webhook_deliveries"), params).rowcount
    return attempts, deliveries


def names(engine: Engine, campaigns: Iterable[int] = (), sequences: Iterable[int] = (),
          devices: Iterable[int] = ()) -> dict[tuple[str, int], str]:
    """Titles of campaigns and names of sequences and devices by (kind, id), for metadata."""
    params = {"campaigns": sorted(set(campaigns)), "sequences": sorted(set(sequences)),
              "devices": sorted(set(devices))}
    if not any(params.values()):
        return {}
    return {(r["kind"], r["id"]): r["name"] for r in _rows(engine, "metadata_names", params)}


def _rows(engine: Engine, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(queries.text(name), params).mappings()]


def devices_over_buffer(engine: Engine, buffer_size: int) -> list[dict[str, Any]]:
    """Devices with more than buffer_size queued messages (at most 20)."""
    return _rows(engine, "devices_over_buffer", {"buffer_size": buffer_size})


def messages_for_opted_out_leads(engine: Engine) -> list[dict[str, Any]]:
    """Open messages created after their lead opted out (at most 20)."""
    return _rows(engine, "messages_for_opted_out_leads", {})


def sending_past_lease(
    engine: Engine, now: datetime, grace: timedelta = timedelta(minutes=2)
) -> list[dict[str, Any]]:
    """Messages still 'sending' more than `grace` after their lease ran out (at most 20)."""
    return _rows(engine, "sending_past_lease", {"cutoff": now - grace})


def contacts_behind_schedule(engine: Engine, now: datetime) -> list[dict[str, Any]]:
    """Active contacts more than one step behind their schedule (at most 20)."""
    return _rows(engine, "contacts_behind_schedule", {"now": now})
