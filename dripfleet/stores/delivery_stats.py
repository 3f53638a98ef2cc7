"""The hourly delivery roll-up (delivery_stats_hourly) that the dashboard pages read."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from dripfleet.queries import queries

queries.require("roll_up_delivery_stats", "delivery_stats_totals")


def roll_up(engine: Engine, now: datetime, hours: int = 3) -> list[dict[str, Any]]:
    """Recompute the last `hours` whole hours up to `now`; returns per-hour totals of the window."""
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    with engine.begin() as conn:
        conn.execute(queries.text("roll_up_delivery_stats"), {"since": since, "now": now})
        rows = conn.execute(queries.text("delivery_stats_totals"), {"since": since})
        return [dict(r) for r in rows.mappings()]
