"""The simulated phone network's tables: per-phone and per-device scripts, and deliveries."""

from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require(
    "sim_phone_scripts", "sim_device_scripts", "sim_record_deliveries", "sim_set_phone",
    "sim_set_device", "sim_deliveries_to", "sim_inbox_add", "sim_inbox_take",
)


def phone_scripts(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every scripted phone, by phone."""
    rows = conn.execute(queries.text("sim_phone_scripts")).mappings().all()
    return {row["phone"]: dict(row) for row in rows}


def device_scripts(conn: Connection) -> dict[int, dict[str, Any]]:
    """Every scripted device, by device id."""
    rows = conn.execute(queries.text("sim_device_scripts")).mappings().all()
    return {int(row["device_id"]): dict(row) for row in rows}


def record_deliveries(conn: Connection, deliveries: list[dict[str, Any]]) -> None:
    """Insert deliveries (dicts with the sim_deliveries columns) in one statement."""
    if not deliveries:
        return
    conn.execute(
        queries.text("sim_record_deliveries"),
        {
            "device_ids": [d["device_id"] for d in deliveries],
            "message_ids": [d.get("message_id") for d in deliveries],
            "phones": [d["phone"] for d in deliveries],
            "types": [d["message_type"] for d in deliveries],
            "contents": [d["content"] for d in deliveries],
            "media_bytes": [d.get("media_bytes") for d in deliveries],
            "provider_ids": [d["provider_message_id"] for d in deliveries],
            "started": [d["started_at"] for d in deliveries],
            "delivered": [d["delivered_at"] for d in deliveries],
        },
    )


def set_phone(
    conn: Connection, phone: str, *, on_whatsapp: bool = True, fail_mode: str | None = None,
    fail_count: int | None = None, reply_text: str | None = None, reply_delay_s: float = 0.0,
) -> None:
    """Script how the simulated network treats a phone."""
    conn.execute(
        queries.text("sim_set_phone"),
        {"phone": phone, "on_whatsapp": on_whatsapp, "fail_mode": fail_mode,
         "fail_count": fail_count, "reply_text": reply_text, "reply_delay_s": reply_delay_s},
    )


def set_device(
    conn: Connection, device_id: int, *, logout_after: int | None = None,
    ban_after: int | None = None, start_fails: bool = False, timelock_after: int | None = None,
    timelock_seconds: float = 60.0,
) -> None:
    """Script a simulated device (log out or get banned after N sends, fail to start, answer
    463 "reach-out timelocked" for timelock_seconds after timelock_after sends)."""
    conn.execute(
        queries.text("sim_set_device"),
        {"device_id": device_id, "logout_after": logout_after, "ban_after": ban_after,
         "start_fails": start_fails, "timelock_after": timelock_after,
         "timelock_seconds": timelock_seconds},
    )


def deliveries_to(conn: Connection, phone: str) -> list[dict[str, Any]]:
    """Everything the simulated network delivered to a phone, oldest first."""
    rows = conn.execute(queries.text("sim_deliveries_to"), {"phone": phone}).mappings().all()
    return [dict(row) for row in rows]


def add_inbox(conn: Connection, device_id: int, phone: str, text: str) -> int | None:
    """A simulated lead writes text to a device; the row id, or None when there is no device."""
    return conn.execute(queries.text("sim_inbox_add"),
                        {"device_id": device_id, "phone": phone, "text": text}).scalar()


def take_inbox(conn: Connection, device_ids: list[int]) -> list[dict[str, Any]]:
    """Take (delete and return) what simulated leads wrote to these devices, oldest first."""
    if not device_ids:
        return []
    rows = conn.execute(queries.text("sim_inbox_take"), {"device_ids": device_ids}).mappings()
    return sorted((dict(r) for r in rows), key=lambda r: r["created_at"])
