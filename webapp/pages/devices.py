"""Devices `/devices` (list, add) and `/devices/<id>` (settings, pairing by QR or code, log out,
a test message to one's own number)."""

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dripfleet.stores import monitoring
from webapp import db
from webapp.pages import access
from webapp.schemas.devices import DeviceIn, DevicePatch, PairIn
from webapp.schemas.messages import MessageIn
from webapp.services import devices, messages
from webapp.services.errors import Conflict, Invalid

bp = access.blueprint("pages_devices", __name__)
SETTING_FIELDS = ("name", "min_delay_s", "max_delay_s", "hourly_cap", "daily_cap", "quiet_start",
                  "quiet_end", "timezone")
OPTIONAL = ("hourly_cap", "daily_cap", "quiet_start", "quiet_end", "timezone")
TEST_TEXT = "This is a test message from dripfleet."
# the service's field names as the test-message form shows them (lead_id: the phone made none)
TEST_FIELDS = {"phone": "phone", "lead_id": "phone", "body": "body"}


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
    """Status, pairing (QR that refreshes itself, or a phone code), settings, log out, and a
    test message to one's own number."""
    return _detail_page(device_id)


def _detail_page(device_id: int, test: dict[str, str] | None = None,
                 test_errors: dict[str, str] | None = None) -> str:
    uid = access.user_id()
    with db.transaction() as conn:
        device = devices.with_guard(devices.get_device(conn, uid, device_id), _plan())
        events = devices.risk_events(conn, uid, device_id)
        stats = next((row for row in monitoring.queue_stats(conn, uid)
                      if row["device_id"] == device_id), None)
    return render_template("devices/detail.html", device=device, stats=stats, events=events,
                           settings=current_app.config["SETTINGS"],
                           test=test or {"phone": "", "body": TEST_TEXT},
                           test_errors=test_errors or {})


def _plan() -> tuple[tuple[int, int], ...]:
    return current_app.config["SETTINGS"].warmup_plan


@bp.post("/devices/<id:device_id>/warmup")
def warmup(device_id: int) -> Response:
    """Turn the warm-up on or off, and say since when the number exists (a date)."""
    since = request.form.get("warmup_since", "").strip()
    data = access.load(DevicePatch, {"warmup": request.form.get("warmup") == "on",
                                     "warmup_since": f"{since}T00:00:00+00:00" if since else None})
    with db.transaction() as conn:
        devices.update_device(conn, access.user_id(), device_id, data, _plan())
    flash("Warm-up saved.", "ok")
    return redirect(url_for(".detail", device_id=device_id, _anchor="ban-risk"))


@bp.post("/devices/<id:device_id>/lift-restriction")
def lift_restriction(device_id: int) -> Response:
    """End WhatsApp's timelock or temporary ban now."""
    with db.transaction() as conn:
        devices.lift_restriction(conn, access.user_id(), device_id)
    flash("Restriction lifted: the device sends again.", "ok")
    return redirect(url_for(".detail", device_id=device_id, _anchor="ban-risk"))


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


@bp.post("/devices/<id:device_id>/test-message")
def test_message(device_id: int) -> Response | str:
    """Queue a text to a number of one's own through this device (the messages service, with
    device_id set, as POST /api/messages); errors are shown on the form by field (the page
    answered 200 with what was typed, as the lead page's reply box does)."""
    uid = access.user_id()
    values = access.form_values("phone", "body")
    with db.transaction() as conn:
        device = devices.get_device(conn, uid, device_id)  # another user's: the 404 page
    if not values["phone"]:
        return _detail_page(device_id, values, {"phone": "enter the number to send to"})
    if device["status"] != "online":
        # the service would pick another online device, which is no test of this one
        return _detail_page(device_id, values, {"_": f"This device is {device['status']}: it "
                                                     "can send once it is online."})
    try:
        data = access.load(MessageIn, {"phone": values["phone"], "body": values["body"],
                                       "message_type": "text", "device_id": device_id,
                                       "priority": "high"})  # a test: before what waits
        data.pop("region", None)
        with db.transaction() as conn:
            message, _ = messages.send_message(
                conn, uid, {**data, "media_url": data.pop("media", None)},
                current_app.config["DEFAULT_REGION"],
                current_app.config["SETTINGS"].queue_buffer_size)
    except (Invalid, Conflict) as error:
        return _detail_page(device_id, values,
                            access.form_errors(error, lambda name: TEST_FIELDS.get(name, "_")))
    if message["device_id"] == device_id:
        flash(f"Test message queued to {message['phone']} (message {message['id']}): it leaves "
              "after this device's delay.", "ok")
    else:  # a number with a preferred device keeps it, as every message to it does
        flash(f"Test message queued to {message['phone']} (message {message['id']}) through "
              f"device {message['device_id']}, the device that number is assigned to.", "ok")
    return redirect(url_for(".detail", device_id=device_id, _anchor="test-message"))


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
