"""Ban-risk guard: score devices, record WhatsApp's restrictions, read a device's guard events.

The device host scores the devices it leases (assess_risk) and records restrictions; the
supervisor lifts temporary bans that are over; the web app reads the events. Every function runs
one statement on the caller's connection; the caller owns the transaction.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require("assess_risk", "restrict_devices", "lift_temporary_bans", "device_risk_events")

RISK_ACTIONS = ("none", "slow", "pause_new")


@dataclass(frozen=True)
class Restriction:
    """WhatsApp refuses a device's sends until `until`: kind 'timelock' or 'temporary_ban'."""

    device_id: int
    until: datetime
    kind: str
    reason: str


def assess_risk(
    conn: Connection, owner: str, device_ids: list[int], slow_at: int, pause_at: int,
    plan_days: int, budget: int | None,
) -> list[dict[str, Any]]:
    """Score owner's listed devices and apply what changed; per device its id, risk_action,
    warmup, warmup_stage and risk."""
    if not device_ids:
        return []
    rows = conn.execute(queries.text("assess_risk"), {
        "owner": owner, "device_ids": device_ids, "slow_at": slow_at, "pause_at": pause_at,
        "plan_days": plan_days, "budget": budget,
    }).mappings().all()
    return [dict(row) for row in rows]


def restrict_devices(
    conn: Connection, owner: str, restrictions: list[Restriction]
) -> dict[int, float]:
    """Record restrictions of owner's devices; the seconds each restricted device waits."""
    if not restrictions:
        return {}
    rows = conn.execute(queries.text("restrict_devices"), {
        "owner": owner,
        "device_ids": [r.device_id for r in restrictions],
        "untils": [r.until for r in restrictions],
        "kinds": [r.kind for r in restrictions],
        "reasons": [r.reason for r in restrictions],
    }).mappings().all()
    return {int(row["id"]): float(row["wait_s"]) for row in rows}


def lift_temporary_bans(conn: Connection) -> list[int]:
    """Devices whose temporary ban is over go back to 'offline' (to be reconnected); their ids."""
    return [int(r[0]) for r in conn.execute(queries.text("lift_temporary_bans"))]


def device_risk_events(
    conn: Connection, user_id: int, device_id: int, limit: int = 20
) -> list[dict[str, Any]]:
    """The device's latest guard events, newest first."""
    rows = conn.execute(queries.text("device_risk_events"),
                        {"user_id": user_id, "device_id": device_id, "limit": limit})
    return [dict(row) for row in rows.mappings()]
