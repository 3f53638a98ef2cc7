"""Device and pairing schemas."""

from apiflask import Schema
from apiflask.fields import Boolean, Float, Integer, List, Nested, String
from apiflask.validators import OneOf, Range, Regexp

from dripfleet.stores.risk import RISK_ACTIONS
from webapp.schemas.common import Instant, Text, Timezone, WholeNumber
from webapp.schemas.sequences import HHMM
from webapp.schemas.webhooks import StrictBoolean

DELAY = Range(min=0, max=86400)
CAP = Range(min=1, max=1_000_000)
# the ban-risk score's signals (sql/queries/risk.sql assess_risk)
SIGNALS = {
    "not_on_whatsapp": "share of the last 24 h's sends to numbers not on WhatsApp",
    "device_failures": "share of the last 24 h's sends that failed on the device's side",
    "unanswered": "share of the last 24 h's sends to leads who never wrote back",
    "opt_outs": "share of the leads sent to in 24 h who opted out",
    "identical_bodies": "share of the last 24 h's sends with the most repeated content",
    "restrictions": "timelocks and temporary bans by WhatsApp in 7 days",
    "new_number": "the number's age in days, while it warms up (first week)",
}


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
    """Settings to change. warmup turns the warm-up of a new number on or off; warmup_since says
    since when the number exists (an old number paired again is not new; null: from its next
    send), and its stage follows."""

    name = Text(100, min_length=1)
    min_delay_s = Float(allow_nan=False, validate=DELAY)
    max_delay_s = Float(allow_nan=False, validate=DELAY)
    hourly_cap = WholeNumber(allow_none=True, validate=CAP)
    daily_cap = WholeNumber(allow_none=True, validate=CAP)
    quiet_start = String(allow_none=True, validate=Regexp(HHMM))
    quiet_end = String(allow_none=True, validate=Regexp(HHMM))
    timezone = Timezone(allow_none=True)
    warmup = StrictBoolean()
    warmup_since = Instant(allow_none=True)


class RiskReason(Schema):
    """One signal that scored: what it measured, its value and its points."""

    signal = String(required=True, validate=OneOf(SIGNALS), metadata={
        "description": "; ".join(f"{name}: {what}" for name, what in SIGNALS.items())})
    value = Float(allow_none=True)
    points = Integer(required=True)
    text = String(required=True)


class Warmup(Schema):
    """The warm-up of a new number: WARMUP_PLAN's caps by day of the number's age."""

    enabled = Boolean(required=True)
    since = Instant(allow_none=True, metadata={
        "description": "the number's age counts from here: its first send, or what a user set"})
    day = Integer(allow_none=True, metadata={"description": "the number's day (1 = its first)"})
    stage = Integer(required=True, metadata={
        "description": "the plan's stage in force (1-based); it advances once a day while the "
                       "risk action is none, and goes back one when the risk rises"})
    stages = Integer(required=True)
    plan = List(Integer(), required=True, metadata={"description": "daily caps by stage"})
    daily_cap = Integer(allow_none=True, metadata={"description": "the stage's daily cap"})
    hourly_cap = Integer(allow_none=True)
    sent_24h = Integer(required=True)
    done = Boolean(required=True, metadata={
        "description": "every stage passed: the device's own caps apply"})


class Restriction(Schema):
    """WhatsApp refuses the device's sends until `until`: it waits, its messages stay queued."""

    kind = String(required=True, validate=OneOf(["timelock", "temporary_ban"]))
    reason = String(allow_none=True)
    until = Instant(required=True)


class RiskEvent(Schema):
    """What the ban-risk guard did, and why."""

    at = Instant(required=True)
    kind = String(required=True, validate=OneOf(
        ["action", "warmup", "timelock", "temporary_ban", "lifted"]))
    action = String(allow_none=True)
    risk = Integer(allow_none=True)
    warmup_stage = Integer(allow_none=True)
    until = Instant(allow_none=True)
    reason = String(required=True)


class RiskEvents(Schema):
    """A device's ban-risk guard events, newest first."""

    items = List(Nested(RiskEvent), required=True)


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
    risk = Integer(required=True, metadata={
        "description": "ban-risk score 0-100 (README \"Anti-ban\"), recomputed every "
                       "RISK_CHECK_SECONDS while the device is leased"})
    risk_reasons = List(Nested(RiskReason), required=True)
    risk_action = String(required=True, validate=OneOf(RISK_ACTIONS), metadata={
        "description": "none; slow (at RISK_SLOW_AT: delays doubled, hourly cap halved); "
                       "pause_new (at RISK_PAUSE_AT: slow, and only leads who wrote to the "
                       "device are sent to)"})
    new_contacts_held = Boolean(required=True, metadata={
        "description": "messages to leads who never wrote to the device wait (pause_new, or "
                       "UNANSWERED_BUDGET spent)"})
    unanswered_30d = Integer(allow_none=True, metadata={
        "description": "sends of 30 days to leads who never wrote back, counted up to "
                       "UNANSWERED_BUDGET (null when no budget is set)"})
    warmup = Nested(Warmup, required=True)
    restriction = Nested(Restriction, allow_none=True, required=True)


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
