"""Devices `/devices` (list, add) and `/devices/<id>` (settings, pairing by QR or code, log out)."""

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dripfleet.stores import monitoring
from webapp import db
from webapp.pages import access
from webapp.schemas.devices import DeviceIn, DevicePatch, PairIn
from webapp.services import devices

bp = access.blueprint("pages_devices", __name__)
SETTING_FIELDS = ("name", "min_delay_s", "max_delay_s", "hourly_cap", "daily_cap", "quiet_start",
                  "quiet_end", "timezone")
OPTIONAL = ("hourly_cap", "daily_cap", "quiet_start", "quiet_end", "timezone")


@bp.get("/devices")
def index() -> str:
    """Every device with status, heartbeat, queue depth; the form to add one."""
    uid = access.user_id()
    with db.transaction() as conn:
        items = devices.list_devices(conn, uid, limit=500)
        depth = {row["device_id"]: row for row in monitoring.queue_stats(conn, uid)}
    return render_template("devices/index.html", devices=items, depth=depth)


@bp.post("/devices")
def create() -> Response:
    """Add a device, then go to its page to pair it."""
    data = access.load(DeviceIn, _settings_form(access.form_values(*SETTING_FIELDS)))
    with db.transaction() as conn:
        device = devices.create_device(conn, access.user_id(), data,
                                       current_app.config["SETTINGS"])
    flash(f"Device “{device['name']}” added: pair it with WhatsApp.", "ok")
    return redirect(url_for(".detail", device_id=device["id"]))


@bp.get("/devices/<id:device_id>")
def detail(device_id: int) -> str:
    """Status, pairing (QR that refreshes itself, or a phone code), settings, log out."""
    uid = access.user_id()
    with db.transaction() as conn:
        device = devices.get_device(conn, uid, device_id)
        stats = next((row for row in monitoring.queue_stats(conn, uid)
                      if row["device_id"] == device_id), None)
    return render_template("devices/detail.html", device=device, stats=stats)


@bp.post("/devices/<id:device_id>/settings")
def update(device_id: int) -> Response:
    """Save delays, caps and quiet hours."""
    values = access.form_values(*SETTING_FIELDS)
    data = access.load(DevicePatch, _settings_form(values))
    # an emptied cap, quiet hour or zone field clears it
    data.update({name: None for name in OPTIONAL if not values[name]})
    with db.transaction() as conn:
        devices.update_device(conn, access.user_id(), device_id, data)
    flash("Device settings saved.", "ok")
    return redirect(url_for(".detail", device_id=device_id))


@bp.post("/devices/<id:device_id>/pair")
def pair(device_id: int) -> Response:
    """Ask the device host to pair the device by QR code or by phone code."""
    body = access.load(PairIn, {"mode": request.form.get("mode", "qr"),
                                "phone": request.form.get("phone", "").strip() or None})
    mode = body["mode"]
    with db.transaction() as conn:
        devices.request_pairing(conn, access.user_id(), device_id, mode, body["phone"],
                                current_app.config["DEFAULT_REGION"])
    flash("Pairing started: scan the QR code with WhatsApp › Linked devices." if mode == "qr"
          else "Pairing started: enter the code shown here in WhatsApp.", "ok")
    return redirect(url_for(".detail", device_id=device_id))


@bp.post("/devices/<id:device_id>/logout")
def logout(device_id: int) -> Response:
    """Log the device out of WhatsApp."""
    with db.transaction() as conn:
        devices.logout(conn, access.user_id(), device_id)
    flash("Device logged out.", "ok")
    return redirect(url_for(".detail", device_id=device_id))


@bp.post("/devices/<id:device_id>/delete")
def delete(device_id: int) -> Response:
    """Remove the device."""
    with db.transaction() as conn:
        devices.delete_device(conn, access.user_id(), device_id)
    flash("Device deleted.", "ok")
    return redirect(url_for(".index"))


def _settings_form(values: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in values.items():
        if value == "":
            continue
        if name in ("min_delay_s", "max_delay_s"):
            data[name] = _number(value, float)
        elif name in ("hourly_cap", "daily_cap"):
            data[name] = _number(value, int)
        else:
            data[name] = value
    return data


def _number(value: str, kind: type) -> Any:
    try:
        return kind(value)
    except ValueError:
        return value
