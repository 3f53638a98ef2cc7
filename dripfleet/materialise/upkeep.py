"""Queue upkeep: expiring messages that waited too long and purging old outcome and webhook rows.

Each job takes an Engine and commits its own transaction (called by the maintenance asset).
"""

from datetime import datetime, timedelta

from sqlalchemy import Engine

from dripfleet.queries import queries

# hours of per-device outcome counts kept (the rates read 24 h and 7 days)
OUTCOME_HOURS_KEPT_DAYS = 30
# the webhook delivery log: attempts and finished deliveries kept this long
WEBHOOK_LOG_KEPT_DAYS = 7
WEBHOOK_PURGE_LIMIT = 50_000

queries.require(
    "expire_old_messages", "prune_device_outcomes", "purge_webhook_attempts",
    "purge_webhook_deliveries",
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
