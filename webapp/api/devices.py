"""Devices: CRUD, pairing (QR or phone code), pairing state, logout, the ban-risk guard's
warm-up and restrictions."""

from apiflask import APIBlueprint
from flask import current_app

from webapp import auth, db
from webapp.api.paging import page
from webapp.schemas.common import ID_PATH, Deleted, PageQuery
from webapp.schemas.devices import (
    Device,
    DeviceIn,
    DeviceList,
    DevicePatch,
    PairIn,
    Pairing,
    RiskEvents,
)
from webapp.services import devices

bp = APIBlueprint("devices", __name__, tag="Devices", url_prefix="/api/devices")
ONE = f"/<{ID_PATH}:device_id>"


@bp.get("")
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(DeviceList)
def list_devices(query):
    """The user's devices with status, heartbeat and last error."""
    with db.transaction() as conn:
        items = devices.list_devices(conn, auth.current_user_id(), query["limit"],
                                     query["after"])
    return page([devices.with_guard(item, _plan()) for item in items], query["limit"])


@bp.post("")
@bp.input(DeviceIn, arg_name="body")
@bp.output(Device, status_code=201)
def create_device(body):
    """Add a device (then pair it)."""
    with db.transaction() as conn:
        return devices.with_guard(devices.create_device(
            conn, auth.current_user_id(), body, current_app.config["SETTINGS"]), _plan()), 201


@bp.get(ONE)
@bp.output(Device)
def get_device(device_id: int):
    """One device."""
    with db.transaction() as conn:
        return devices.with_guard(devices.get_device(conn, auth.current_user_id(), device_id),
                                  _plan())


@bp.get(f"{ONE}/risk-events")
@bp.output(RiskEvents)
def risk_events(device_id: int):
    """What the ban-risk guard did with the device and why (risk actions, warm-up stages,
    WhatsApp's restrictions), newest first: the latest 50."""
    uid = auth.current_user_id()
    with db.transaction() as conn:
        devices.get_device(conn, uid, device_id)  # 404 for another user's
        return {"items": devices.risk_events(conn, uid, device_id, 50)}


@bp.patch(ONE)
@bp.input(DevicePatch, arg_name="body")
@bp.output(Device)
def update_device(device_id: int, body):
    """Change a device's name, delays, caps, quiet hours or warm-up."""
    with db.transaction() as conn:
        return devices.with_guard(devices.update_device(
            conn, auth.current_user_id(), device_id, body, _plan()), _plan())


@bp.post(f"{ONE}/lift-restriction")
@bp.output(Device)
def lift_restriction(device_id: int):
    """End a timelock or temporary ban by WhatsApp now, instead of at its stated end (at your
    own risk: WhatsApp set it)."""
    with db.transaction() as conn:
        return devices.with_guard(devices.lift_restriction(
            conn, auth.current_user_id(), device_id), _plan())


@bp.delete(ONE)
@bp.output(Deleted, status_code=204)
@bp.doc(responses={409: "A message is being sent"})
def delete_device(device_id: int):
    """Delete a device (its waiting messages are cancelled)."""
    with db.transaction() as conn:
        devices.delete_device(conn, auth.current_user_id(), device_id)
    return ""


@bp.post(f"{ONE}/pair")
@bp.input(PairIn, arg_name="body")
@bp.output(Pairing, status_code=202)
@bp.doc(responses={409: "Already linked"})
def pair_device(device_id: int, body):
    """Start linking: poll GET …/pairing for the QR code or the pair code."""
    region = (body.get("region") or current_app.config["DEFAULT_REGION"]).upper()
    with db.transaction() as conn:
        return devices.request_pairing(conn, auth.current_user_id(), device_id, body["mode"],
                                       body.get("phone"), region), 202


@bp.get(f"{ONE}/pairing")
@bp.output(Pairing)
def pairing(device_id: int):
    """The current QR (payload and SVG) or pair code, its expiry and the status."""
    with db.transaction() as conn:
        return devices.pairing_state(conn, auth.current_user_id(), device_id)


@bp.post(f"{ONE}/logout")
@bp.output(Device)
def logout_device(device_id: int):
    """Unlink the device from WhatsApp."""
    with db.transaction() as conn:
        return devices.with_guard(devices.logout(conn, auth.current_user_id(), device_id),
                                  _plan())


def _plan() -> tuple[tuple[int, int], ...]:
    return current_app.config["SETTINGS"].warmup_plan
