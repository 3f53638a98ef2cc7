"""Device and pairing schemas."""

from apiflask import Schema
from apiflask.fields import Float, Integer, List, Nested, String
from apiflask.validators import OneOf, Range, Regexp

from webapp.schemas.common import Instant, Text, Timezone, WholeNumber
from webapp.schemas.sequences import HHMM

DELAY = Range(min=0, max=86400)
CAP = Range(min=1, max=1_000_000)


class DeviceIn(Schema):
    """A device's settings (delays default to MIN/MAX_DELAY_SECONDS)."""

    name = Text(100, required=True, min_length=1)
    min_delay_s = Float(load_default=None, allow_none=True, allow_nan=False, validate=DELAY)
    max_delay_s = Float(load_default=None, allow_none=True, allow_nan=False, validate=DELAY)
    hourly_cap = WholeNumber(load_default=None, allow_none=True, validate=CAP)
    daily_cap = WholeNumber(load_default=None, allow_none=True, validate=CAP)
    quiet_start = String(load_default=None, allow_none=True, validate=Regexp(HHMM))
    quiet_end = String(load_default=None, allow_none=True, validate=Regexp(HHMM))
    timezone = Timezone(load_default=None, allow_none=True)


class DevicePatch(Schema):
    """Settings to change."""

    name = Text(100, min_length=1)
    min_delay_s = Float(allow_nan=False, validate=DELAY)
    max_delay_s = Float(allow_nan=False, validate=DELAY)
    hourly_cap = WholeNumber(allow_none=True, validate=CAP)
    daily_cap = WholeNumber(allow_none=True, validate=CAP)
    quiet_start = String(allow_none=True, validate=Regexp(HHMM))
    quiet_end = String(allow_none=True, validate=Regexp(HHMM))
    timezone = Timezone(allow_none=True)


class Device(Schema):
    """A device with its live status."""

    id = Integer(required=True)
    name = String(required=True)
    phone = String(allow_none=True)
    jid = String(allow_none=True)
    status = String(required=True)
    min_delay_s = Float(required=True)
    max_delay_s = Float(required=True)
    hourly_cap = Integer(allow_none=True)
    daily_cap = Integer(allow_none=True)
    quiet_start = String(allow_none=True)
    quiet_end = String(allow_none=True)
    timezone = String(allow_none=True)
    next_send_at = Instant(required=True)
    last_sent_at = Instant(allow_none=True)
    heartbeat_at = Instant(allow_none=True)
    last_error = String(allow_none=True)
    consecutive_failures = Integer(required=True)
    pairing_mode = String(allow_none=True)
    pairing_expires_at = Instant(allow_none=True)
    created_at = Instant(required=True)
    updated_at = Instant(required=True)


class DeviceItem(Device):
    """A device in a list."""


class DeviceList(Schema):
    """A page of devices."""

    items = List(Nested(DeviceItem), required=True)
    next_after = Integer(allow_none=True, required=True)


class PairIn(Schema):
    """How to link: scan a QR code, or enter a code on the phone with this number."""

    mode = String(load_default="qr", validate=OneOf(["qr", "code"]))
    phone = Text(64, load_default=None, allow_none=True)
    region = String(load_default=None, allow_none=True, validate=Regexp(r"^[A-Za-z]{2}$"))


class Pairing(Schema):
    """Where linking stands: the QR (payload + SVG) or the code, expiry and status."""

    status = String(required=True)
    mode = String(allow_none=True)
    phone = String(allow_none=True)
    qr = String(allow_none=True)
    qr_svg = String(allow_none=True)
    code = String(allow_none=True)
    expires_at = Instant(allow_none=True)
    last_error = String(allow_none=True)
    linked_phone = String(allow_none=True)
