"""Sending: claim the next message per device, record outcomes, rescue, failover and opt-out.

Only the device host calls these. Every function runs one statement on the caller's connection;
the caller owns the (short) transaction.
"""

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require(
    "claim_messages", "claim_misses", "record_outcomes", "renew_message_leases",
    "rescue_messages", "failover_candidates", "failover_messages", "opt_out_lead",
    "recent_sends", "media_data",
    "devices_with_queued", "campaign_messages_hold", "sequence_messages_hold",
    "record_receipts", "record_inbound",
)

OUTCOME_KINDS = ("sent", "transient", "permanent", "requeue")
# whose fault a failed send is (message_queue.failure_class; DESIGN.md "Failure classes")
FAILURE_CLASSES = ("device", "recipient", "content")


@dataclass(frozen=True)
class Outcome:
    """The result of one send attempt, to be recorded in a batch."""

    message_id: int
    kind: str  # one of OUTCOME_KINDS
    error: str | None = None
    provider_message_id: str | None = None
    backoff_s: float = 0.0
    # time.monotonic() when the send returned: the device's delay counts from then
    finished_at: float | None = None
    # whose fault a failure is (FAILURE_CLASSES); ignored for 'sent'
    failure_class: str = "device"
    # a 'requeue' because WhatsApp restricted the device until then (463 timelock): the ban-risk
    # guard records it on the device (dripfleet/stores/risk.py); not written by record_outcomes
    restricted_until: datetime | None = None
    restriction_kind: str | None = None


@dataclass(frozen=True)
class Recorded:
    """What a batch of outcomes did: per message its row, and the sources it paused."""

    messages: list[dict[str, Any]]
    paused_campaigns: list[tuple[int, int]]  # (user_id, campaign_id)
    paused_sequences: list[tuple[int, int]]  # (user_id, sequence_id)


def claim_messages(
    conn: Connection, owner: str, device_ids: list[int], lease_s: float
) -> list[dict[str, Any]]:
    """Claim the next due message of each listed device (rows with status 'sending' or
    'cancelled' when the lead had opted out)."""
    if not device_ids:
        return []
    rows = conn.execute(
        queries.text("claim_messages"),
        {"owner": owner, "device_ids": device_ids, "lease_s": lease_s},
    ).mappings().all()
    return [dict(row) for row in rows]


def claim_misses(conn: Connection, owner: str, device_ids: list[int]) -> list[dict[str, Any]]:
    """For devices a claim found nothing for: how long until they or their messages are due."""
    if not device_ids:
        return []
    rows = conn.execute(
        queries.text("claim_misses"), {"owner": owner, "device_ids": device_ids}
    ).mappings().all()
    return [dict(row) for row in rows]


def devices_with_queued(conn: Connection, device_ids: list[int]) -> set[int]:
    """The subset of device_ids that have at least one queued message."""
    if not device_ids:
        return set()
    rows = conn.execute(queries.text("devices_with_queued"), {"device_ids": device_ids}).all()
    return {int(r[0]) for r in rows}


def record_outcomes(
    conn: Connection, owner: str, outcomes: list[Outcome], pause_after: int,
    content_pause_after: int = 5,
) -> Recorded:
    """Record outcomes in one statement (per message its status and its device's wait), then
    hold the queued messages of campaigns and sequences that content failures paused."""
    if not outcomes:
        return Recorded([], [], [])
    now = time.monotonic()
    for outcome in outcomes:
        if outcome.kind not in OUTCOME_KINDS:
            raise ValueError(f"unknown outcome kind {outcome.kind!r}")
        if outcome.failure_class not in FAILURE_CLASSES:
            raise ValueError(f"unknown failure class {outcome.failure_class!r}")
    rows = conn.execute(
        queries.text("record_outcomes"),
        {
            "owner": owner,
            "pause_after": pause_after,
            "content_pause_after": content_pause_after,
            "ids": [o.message_id for o in outcomes],
            "kinds": [o.kind for o in outcomes],
            "errors": [o.error for o in outcomes],
            "provider_ids": [o.provider_message_id for o in outcomes],
            "backoffs": [float(o.backoff_s) for o in outcomes],
            "since": [0.0 if o.finished_at is None else max(now - o.finished_at, 0.0)
                      for o in outcomes],
            "classes": [o.failure_class for o in outcomes],
        },
    ).mappings().all()
    recorded = Recorded(
        [dict(r) for r in rows if r["id"] is not None],
        [(r["paused_user_id"], r["paused_campaign_id"]) for r in rows
         if r["paused_campaign_id"] is not None],
        [(r["paused_user_id"], r["paused_sequence_id"]) for r in rows
         if r["paused_sequence_id"] is not None],
    )
    # paused in this transaction, so nothing of theirs is claimed once it commits
    for user_id, campaign_id in recorded.paused_campaigns:
        conn.execute(queries.text("campaign_messages_hold"),
                     {"user_id": user_id, "campaign_id": campaign_id})
    for user_id, sequence_id in recorded.paused_sequences:
        conn.execute(queries.text("sequence_messages_hold"),
                     {"user_id": user_id, "sequence_id": sequence_id})
    return recorded


def renew_message_leases(
    conn: Connection, owner: str, lease_s: float, message_ids: list[int]
) -> int:
    """Extend the leases of owner's in-flight messages (those it knows of); returns how many."""
    if not message_ids:
        return 0
    return conn.execute(
        queries.text("renew_message_leases"),
        {"owner": owner, "lease_s": lease_s, "ids": list(message_ids)},
    ).rowcount


def rescue_messages(conn: Connection, dead_owners: list[str] | None = None) -> dict[str, int]:
    """Return expired (or dead owners') 'sending' messages to the queue; counts by new status."""
    row = conn.execute(
        queries.text("rescue_messages"), {"owners": list(dead_owners or [])}
    ).mappings().one()
    return {"queued": int(row["queued"]), "failed": int(row["failed"])}


def failover_messages(conn: Connection, buffer_size: int, device_id: int | None = None) -> int:
    """Move unpinned unsent messages off unusable devices (one, or all) to usable ones, within
    their buffers; returns how many moved. When there is something to move, waits for a batch
    being materialised to commit; when there is not, takes no lock."""
    device_ids = list(conn.execute(
        queries.text("failover_candidates"), {"device_id": device_id}).scalars())
    if not device_ids:
        return 0
    conn.execute(queries.text("lock_materialise"))
    return int(conn.execute(
        queries.text("failover_messages"), {"device_ids": device_ids, "buffer_size": buffer_size}
    ).scalar_one())


def opt_out_lead(conn: Connection, user_id: int, phone: str) -> dict[str, int]:
    """Opt a lead out by phone; cancels its unsent messages. Returns counts."""
    row = conn.execute(
        queries.text("opt_out_lead"), {"user_id": user_id, "phone": phone}
    ).mappings().one()
    return {"leads": int(row["leads"]), "cancelled": int(row["cancelled"])}


def recent_sends(
    conn: Connection, user_ids: list[int], device_ids: list[int]
) -> list[tuple[int, float]]:
    """(device_id, seconds ago) of every send of these devices in the last day."""
    if not device_ids:
        return []
    rows = conn.execute(
        queries.text("recent_sends"), {"user_ids": user_ids, "device_ids": device_ids}
    ).all()
    return [(int(r[0]), float(r[1])) for r in rows]


def media_data(conn: Connection, user_id: int, media_id: int) -> dict[str, Any] | None:
    """An uploaded media file's bytes, type and name, or None."""
    row = conn.execute(
        queries.text("media_data"), {"user_id": user_id, "media_id": media_id}
    ).mappings().first()
    return dict(row) if row else None


def record_receipts(
    conn: Connection, receipts: list[tuple[int, str, str, datetime]]
) -> dict[str, int]:
    """Record (device_id, provider_message_id, kind, at) receipts in one statement; unknown
    ids are ignored. Returns how many timeline events and messages changed."""
    if not receipts:
        return {"events": 0, "messages": 0}
    device_ids, provider_ids, kinds, ats = (list(column) for column in zip(*receipts, strict=True))
    row = conn.execute(
        queries.text("record_receipts"),
        {"device_ids": device_ids, "provider_ids": provider_ids, "kinds": kinds, "ats": ats},
    ).mappings().one()
    return {"events": int(row["events"]), "messages": int(row["messages"])}


def record_inbound(conn: Connection, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Store incoming messages (device_id, phone, message_type, text, provider_message_id,
    quoted_provider_id, received_at) in one statement; unknown numbers become leads, and the
    message each one answers is marked replied. Returns the counts and `replies`, the (lead_id,
    received_at) of every message stored (not the redelivered ones), for
    dripfleet.stores.replies.apply_replies."""
    if not messages:
        return {"stored": 0, "new_leads": 0, "replies": []}

    def column(key: str) -> list[Any]:
        return [m[key] for m in messages]

    row = conn.execute(queries.text("record_inbound"), {
        "device_ids": column("device_id"), "phones": column("phone"),
        "types": column("message_type"), "texts": column("text"),
        "provider_ids": column("provider_message_id"),
        "quoted_ids": column("quoted_provider_id"), "received": column("received_at"),
    }).mappings().one()
    replies = list(zip(row["lead_ids"] or [], row["received"] or [], strict=True))
    return {"stored": int(row["stored"]), "new_leads": int(row["new_leads"]),
            "replies": replies}
