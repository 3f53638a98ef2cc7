"""Device hosts: device leases, session state written by the host, and host heartbeat rows."""

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require(
    "acquire_devices", "renew_devices", "release_devices", "release_owners", "set_device_status",
    "device_connected", "device_start_failed", "device_pairing_qr", "device_pairing_code",
    "device_paired", "device_pairing_timeout", "upsert_host",
    "heartbeat_host", "stop_host", "host_devices", "release_surplus", "fair_share_counts",
    "keep_sending_leases",
)


def acquire_devices(conn: Connection, owner: str, limit: int, lease_s: float) -> list[int]:
    """Lease up to limit free startable devices to owner; returns their ids."""
    if limit <= 0:
        return []
    rows = conn.execute(
        queries.text("acquire_devices"), {"owner": owner, "limit": limit, "lease_s": lease_s}
    ).all()
    return [int(r[0]) for r in rows]


def renew_devices(conn: Connection, owner: str, lease_s: float) -> list[dict[str, Any]]:
    """Extend owner's leases; returns each owned device's current settings."""
    rows = conn.execute(
        queries.text("renew_devices"), {"owner": owner, "lease_s": lease_s}
    ).mappings().all()
    return [dict(row) for row in rows]


def keep_sending_leases(
    conn: Connection, owner: str, lease_s: float, message_ids: list[int]
) -> int:
    """Extend the leases of owner's messages in flight, skipping rows another transaction holds
    (the lease keeper's statement); returns how many were extended."""
    if not message_ids:
        return 0
    return conn.execute(
        queries.text("keep_sending_leases"),
        {"owner": owner, "lease_s": lease_s, "ids": list(message_ids)},
    ).rowcount


def release_devices(conn: Connection, owner: str, device_ids: list[int] | None = None) -> int:
    """Give up owner's leases on device_ids (all when None); returns how many."""
    return conn.execute(
        queries.text("release_devices"), {"owner": owner, "device_ids": device_ids}
    ).rowcount


def release_surplus(conn: Connection, owner: str, device_ids: list[int]) -> int:
    """Give up owner's leases on device_ids (above its share) and wake the other hosts' workers;
    returns how many were released."""
    if not device_ids:
        return 0
    row = conn.execute(
        queries.text("release_surplus"), {"owner": owner, "device_ids": device_ids}
    ).first()
    return int(row[0]) if row else 0


def fair_share_counts(conn: Connection, host_id: str, fresh_s: float) -> dict[str, int]:
    """startable devices, how many of them host_id's workers hold, and live hosts (heartbeat
    younger than fresh_s)."""
    row = conn.execute(
        queries.text("fair_share_counts"), {"host_id": host_id, "fresh_s": fresh_s}
    ).mappings().one()
    return {key: int(value) for key, value in row.items()}


def release_owners(conn: Connection, owners: list[str]) -> int:
    """Give up every lease of the listed owners (workers known dead)."""
    return conn.execute(queries.text("release_owners"), {"owners": owners}).rowcount


def set_device_status(
    conn: Connection, owner: str, device_id: int, status: str, error: str | None = None,
    banned_until: datetime | None = None,
) -> bool:
    """Set an owned device's status (and last_error); False when the lease is gone."""
    row = conn.execute(
        queries.text("set_device_status"),
        {"owner": owner, "device_id": device_id, "status": status, "error": error,
         "banned_until": banned_until},
    ).first()
    return row is not None


def device_connected(conn: Connection, owner: str, device_id: int) -> bool:
    """Mark an owned device online after its session connected."""
    return conn.execute(
        queries.text("device_connected"), {"owner": owner, "device_id": device_id}
    ).first() is not None


def device_start_failed(
    conn: Connection, owner: str, device_id: int, error: str, limit: int
) -> dict[str, Any] | None:
    """Count a failed session start; the device becomes 'failed' at limit."""
    row = conn.execute(
        queries.text("device_start_failed"),
        {"owner": owner, "device_id": device_id, "error": error, "limit": limit},
    ).mappings().first()
    return dict(row) if row else None


def device_pairing_qr(
    conn: Connection, owner: str, device_id: int, payload: str, expires_at: datetime
) -> None:
    """Show a new QR payload for a pairing device."""
    conn.execute(
        queries.text("device_pairing_qr"),
        {"owner": owner, "device_id": device_id, "payload": payload, "expires_at": expires_at},
    )


def device_pairing_code(
    conn: Connection, owner: str, device_id: int, code: str, expires_at: datetime
) -> None:
    """Show a phone pairing code for a pairing device."""
    conn.execute(
        queries.text("device_pairing_code"),
        {"owner": owner, "device_id": device_id, "code": code, "expires_at": expires_at},
    )


def device_paired(conn: Connection, owner: str, device_id: int, jid: str, phone: str) -> bool:
    """Record a successful pairing: the device is online."""
    return conn.execute(
        queries.text("device_paired"),
        {"owner": owner, "device_id": device_id, "jid": jid, "phone": phone},
    ).first() is not None


def device_pairing_timeout(conn: Connection, owner: str, device_id: int, error: str) -> None:
    """Pairing was not completed in time: back to 'new' with the reason."""
    conn.execute(
        queries.text("device_pairing_timeout"),
        {"owner": owner, "device_id": device_id, "error": error},
    )


def upsert_host(conn: Connection, host_id: str, hostname: str, pid: int, info: dict) -> None:
    """Register (or re-register) a running host."""
    conn.execute(
        queries.text("upsert_host"),
        {"id": host_id, "hostname": hostname, "pid": pid, "info": json.dumps(info)},
    )


def heartbeat_host(conn: Connection, host_id: str, info: dict) -> None:
    """The host's periodic heartbeat, with its workers' state."""
    conn.execute(queries.text("heartbeat_host"), {"id": host_id, "info": json.dumps(info)})


def stop_host(conn: Connection, host_id: str) -> None:
    """Mark a host stopped."""
    conn.execute(queries.text("stop_host"), {"id": host_id})


def host_devices(conn: Connection, owners: list[str]) -> list[dict[str, Any]]:
    """Device counts by worker and status for the listed workers."""
    rows = conn.execute(queries.text("host_devices"), {"owners": owners}).mappings().all()
    return [dict(row) for row in rows]
