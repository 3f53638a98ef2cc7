"""Devices: settings, pairing requests (QR or phone code) with a QR rendering, logout, and the
ban-risk guard's view of a device (warm-up, risk, restriction)."""

import io
from datetime import UTC, datetime
from typing import Any

import segno
from sqlalchemy import Connection

from dripfleet.phones import try_normalize_phone
from dripfleet.settings import Settings
from dripfleet.stores import devices, risk
from webapp.services.content import timezone_problem
from webapp.services.errors import Conflict, Invalid, not_found


def _check(values: dict[str, Any]) -> dict[str, Any]:
    problems: dict[str, str] = {}
    if values["min_delay_s"] > values["max_delay_s"]:
        problems["min_delay_s"] = "must not be greater than max_delay_s"
    if (values.get("quiet_start") is None) != (values.get("quiet_end") is None):
        problems["quiet_end" if values.get("quiet_start") else "quiet_start"] = \
            "give both quiet_start and quiet_end, or neither"
    if values.get("timezone"):
        problem = timezone_problem(values["timezone"])
        if problem:
            problems["timezone"] = problem
    if problems:
        raise Invalid(problems)
    return values


def list_devices(conn: Connection, user_id: int, limit: int = 100,
                 after: int | None = None) -> list[dict[str, Any]]:
    """The user's devices."""
    return devices.list_devices(conn, user_id, limit, after)


def get_device(conn: Connection, user_id: int, device_id: int) -> dict[str, Any]:
    """One device; NotFound otherwise."""
    row = devices.get_device(conn, user_id, device_id)
    if row is None:
        raise not_found("device", device_id)
    return row


def create_device(conn: Connection, user_id: int, data: dict[str, Any],
                  settings: Settings) -> dict[str, Any]:
    """A new device (status 'new'); delays default to MIN/MAX_DELAY_SECONDS."""
    values = dict(data)
    if values.get("min_delay_s") is None:
        values["min_delay_s"] = settings.min_delay_seconds
    if values.get("max_delay_s") is None:
        values["max_delay_s"] = max(settings.max_delay_seconds, values["min_delay_s"])
    # a number added here is new: it warms up (WARMUP_PLAN; rows made otherwise are old numbers)
    device_id = devices.insert_device(conn, user_id, _check(values),
                                      warmup=bool(settings.warmup_plan))
    return get_device(conn, user_id, device_id)


def update_device(conn: Connection, user_id: int, device_id: int,
                  changes: dict[str, Any], plan: tuple[tuple[int, int], ...] = ()
                  ) -> dict[str, Any]:
    """Change some of the device's settings; warmup / warmup_since set its warm-up (plan:
    WARMUP_PLAN)."""
    if devices.lock_device(conn, user_id, device_id) is None:
        raise not_found("device", device_id)
    changes = dict(changes)
    warmup = {key: changes.pop(key) for key in ("warmup", "warmup_since") if key in changes}
    current = get_device(conn, user_id, device_id)
    values = _check({**{k: current[k] for k in devices.FIELDS}, **changes})
    if warmup:
        since = warmup.get("warmup_since", current["warmup_since"])
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)  # a time without its offset is UTC, as we write
        if since is not None and since > datetime.now(UTC):
            raise Invalid({"warmup_since": "must not be in the future"})
        devices.set_warmup(conn, user_id, device_id, warmup.get("warmup", current["warmup"]),
                           since, len(plan))
    devices.update_device(conn, user_id, device_id, values)
    return get_device(conn, user_id, device_id)


def lift_restriction(conn: Connection, user_id: int, device_id: int) -> dict[str, Any]:
    """End the device's timelock or temporary ban now (nothing when none is in force)."""
    if devices.lock_device(conn, user_id, device_id) is None:
        raise not_found("device", device_id)
    devices.lift_restriction(conn, user_id, device_id)
    return get_device(conn, user_id, device_id)


def risk_events(conn: Connection, user_id: int, device_id: int,
                limit: int = 20) -> list[dict[str, Any]]:
    """The ban-risk guard's latest events of the device, newest first."""
    return risk.device_risk_events(conn, user_id, device_id, limit)


def with_guard(device: dict[str, Any], plan: tuple[tuple[int, int], ...]) -> dict[str, Any]:
    """The device as the API shows it: its warm-up (plan: WARMUP_PLAN) and the restriction in
    force as objects."""
    view = dict(device)
    stage, since, enabled = device["warmup_stage"], device["warmup_since"], device["warmup"]
    active = enabled and stage < len(plan)
    view["warmup"] = {
        "enabled": enabled, "since": since,
        "day": (datetime.now(UTC) - since).days + 1 if since else None,
        "stage": min(stage, len(plan)) + 1 if active else min(stage, len(plan)),
        "stages": len(plan), "plan": [daily for daily, _ in plan],
        "daily_cap": plan[stage][0] if active else None,
        "hourly_cap": plan[stage][1] if active else None,
        "sent_24h": device["sent_24h"], "done": enabled and not active,
    }
    view["new_contacts_held"] = device["hold_new"]
    view["restriction"] = None if device["restricted_until"] is None else {
        "kind": device["restriction_kind"], "reason": device["restriction_reason"],
        "until": device["restricted_until"]}
    return view


def delete_device(conn: Connection, user_id: int, device_id: int) -> None:
    """Delete a device; its waiting messages are cancelled (409 while one is being sent)."""
    if devices.lock_device(conn, user_id, device_id) is None:
        raise not_found("device", device_id)
    if devices.open_messages(conn, user_id, device_id)["sending"]:
        raise Conflict("the device is sending a message: try again in a moment",
                       {"status": "sending"})
    devices.cancel_waiting(conn, user_id, device_id)
    devices.delete_device(conn, user_id, device_id)


def request_pairing(conn: Connection, user_id: int, device_id: int, mode: str,
                    phone: str | None, region: str) -> dict[str, Any]:
    """Ask the device host to link the device by QR code or by a code for `phone`."""
    row = devices.lock_device(conn, user_id, device_id)
    if row is None:
        raise not_found("device", device_id)
    if row["status"] == "online":
        raise Conflict("the device is already linked: log it out first", {"status": "online"})
    normalised = None
    if mode == "code":
        if not phone:
            raise Invalid({"phone": "pairing by code needs the phone number of the WhatsApp "
                                    "account"})
        normalised, reason = try_normalize_phone(phone, region)
        if normalised is None:
            raise Invalid({"phone": f"invalid phone number: {reason}"})
    devices.request_pairing(conn, user_id, device_id, mode, normalised)
    return pairing_state(conn, user_id, device_id)


def pairing_state(conn: Connection, user_id: int, device_id: int) -> dict[str, Any]:
    """Status, mode, the current QR payload with an SVG rendering, or the pair code; expiry."""
    row = devices.pairing(conn, user_id, device_id)
    if row is None:
        raise not_found("device", device_id)
    svg = None
    if row["pairing_qr"]:
        buffer = io.BytesIO()
        segno.make(row["pairing_qr"], error="l").save(buffer, kind="svg", scale=4, border=2,
                                                      xmldecl=False)
        svg = buffer.getvalue().decode("utf-8")
    return {"status": row["status"], "mode": row["pairing_mode"], "phone": row["pairing_phone"],
            "qr": row["pairing_qr"], "qr_svg": svg, "code": row["pairing_code"],
            "expires_at": row["pairing_expires_at"], "last_error": row["last_error"],
            "linked_phone": row["phone"]}


def logout(conn: Connection, user_id: int, device_id: int) -> dict[str, Any]:
    """Unlink: status 'logged_out'; the host ends the session and logs out of WhatsApp."""
    if devices.lock_device(conn, user_id, device_id) is None:
        raise not_found("device", device_id)
    devices.logout(conn, user_id, device_id)
    return get_device(conn, user_id, device_id)
