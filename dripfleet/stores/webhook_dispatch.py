"""The webhooks dispatcher's queries: claim due deliveries, record outcomes, when the next is due.

Query wrappers only: each takes a Connection and never commits (the dispatcher owns the
transaction, one per statement).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require("claim_webhook_deliveries", "record_webhook_outcomes", "next_webhook_due")

# deliveries older than this are not tried again (the retry window), and an endpoint failing
# for this long is disabled
RETRY_HOURS = 24.0


@dataclass(frozen=True)
class Claimed:
    """A delivery this dispatcher holds until its lease ends: what to send and how to sign it."""

    id: int
    endpoint_id: int
    event_id: str
    payload: str  # the JSON text as stored: sent and signed exactly so
    attempt: int  # this attempt's number (1 = first); fences the outcome
    age_seconds: float
    url: str
    secret: str
    previous_secret: str | None  # set while a rotated-out secret still signs


@dataclass(frozen=True)
class Outcome:
    """One finished attempt and what it decides: delivered, failed, or retry in retry_in s."""

    delivery: Claimed
    outcome: str  # 'delivered' | 'failed' | 'retry'
    retry_in: float | None
    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: str | None
    started: float  # time.monotonic() when the attempt started


def claim(conn: Connection, batch: int, per_endpoint: int, busy: dict[int, int],
          lease_seconds: float, park_seconds: float, scan: int) -> list[Claimed]:
    """Claim up to batch due deliveries (per endpoint at most per_endpoint less busy[endpoint])."""
    rows = conn.execute(queries.text("claim_webhook_deliveries"), {
        "batch": batch, "per_endpoint": per_endpoint, "scan": scan,
        "busy_ids": list(busy), "busy_room": [max(0, per_endpoint - n) for n in busy.values()],
        "lease_seconds": lease_seconds, "park_seconds": park_seconds,
        "max_age_hours": RETRY_HOURS,
    }).mappings()
    return [Claimed(id=r["id"], endpoint_id=r["endpoint_id"], event_id=r["event_id"],
                    payload=r["payload"], attempt=r["attempts"], age_seconds=r["age_seconds"],
                    url=r["url"], secret=r["secret"], previous_secret=r["previous_secret"])
            for r in rows]


def record(conn: Connection, outcomes: Sequence[Outcome], now: float) -> dict[str, Any]:
    """Record finished attempts in one statement (now: time.monotonic() of the call)."""
    row = conn.execute(queries.text("record_webhook_outcomes"), {
        "ids": [o.delivery.id for o in outcomes],
        "endpoint_ids": [o.delivery.endpoint_id for o in outcomes],
        "attempts": [o.delivery.attempt for o in outcomes],
        "outcomes": [o.outcome for o in outcomes],
        "retry_in": [o.retry_in for o in outcomes],
        "status_codes": [o.status_code for o in outcomes],
        "latencies": [o.latency_ms for o in outcomes],
        "excerpts": [o.excerpt for o in outcomes],
        "errors": [o.error for o in outcomes],
        "ago": [max(0.0, now - o.started) for o in outcomes],
        "failing_hours": RETRY_HOURS,
    }).mappings().one()
    return dict(row)


def next_due_in(conn: Connection) -> float | None:
    """Seconds until the earliest pending delivery is due (None: nothing pending)."""
    return conn.execute(queries.text("next_webhook_due")).scalar()
