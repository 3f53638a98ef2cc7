"""Webhook endpoint, delivery and event schemas."""

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range
from flask import current_app, has_app_context
from marshmallow import ValidationError

from dripfleet.public_urls import UrlRefused, check_url_syntax
from webapp.schemas.common import MAX_ID, Instant, Text, no_nul

# every event type an endpoint may take, and what its `data` is
EVENT_TYPES = {
    "message.queued": "a message was queued (data: the message, as GET /api/messages/{id} "
                      "shows it without its timeline). Off under \"*\": name it to get it",
    "message.sent": "WhatsApp accepted a message from the device (data: the message)",
    "message.delivered": "the lead's phone received it: WhatsApp's delivery receipt "
                         "(data: the message)",
    "message.read": "the lead read it: WhatsApp's read receipt (data: the message)",
    "message.failed": "a message failed for good (data: the message, with failure_class "
                      "device / recipient / content and last_error)",
    "message.received": "a lead wrote to one of your devices (data: the incoming message)",
    "lead.opted_out": "a lead opted out (data: the lead)",
    "contact.completed": "a sequence contact got its last step (data: the contact)",
    "contact.replied": "a sequence contact wrote in (data: the contact)",
    "device.status_changed": "a device went online, offline, logged out … (data: the device)",
    "device.risk_changed": "the ban-risk guard changed a device's action: none, slow (delays "
                           "doubled, hourly cap halved) or pause_new (only leads who wrote back "
                           "are sent to) (data: id, name, phone, risk, risk_reasons, action, "
                           "previous_action, warmup_stage)",
    "device.restricted": "WhatsApp restricted a device until a stated end: a 463 timelock or a "
                         "temporary ban; it waits, its messages stay queued (data: id, name, "
                         "phone, kind, reason, restricted_until)",
    "campaign.completed": "a campaign finished (data: the campaign)",
    "webhook.test": "sent by POST /api/webhooks/{id}/test (data: {\"webhook_id\": id})",
}
ALL = "*"
EVENT_CHOICES = (*EVENT_TYPES, ALL)
DELIVERY_STATUSES = ("pending", "delivered", "failed")
_EVENTS_HELP = (
    "event types this endpoint takes; \"*\" is every type except message.queued (which must be "
    "named). " + "; ".join(f"{name}: {what}" for name, what in EVENT_TYPES.items()))


def webhook_url(value: str) -> None:
    """https on a public address (http too, and private addresses, when ALLOW_PRIVATE_URLS is
    set); names are resolved and checked again by the dispatcher at each send."""
    settings = current_app.config.get("SETTINGS") if has_app_context() else None
    allow_private = bool(settings and settings.allow_private_urls)
    try:
        target = check_url_syntax(value, allow_private=allow_private)
    except UrlRefused as error:
        raise ValidationError(f"refused: {error} (only public addresses are called)") from None
    if target.scheme != "https" and not allow_private:
        raise ValidationError("must start with https:// (http only when ALLOW_PRIVATE_URLS is "
                              "set, for local use)")


class StrictBoolean(Boolean):
    """true or false, as JSON Schema's boolean means it: never 0, 1 or "true"."""

    def _deserialize(self, value, attr, data, **kwargs):  # noqa: ANN001, ANN003, ANN202
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def WebhookUrl(**kw) -> String:  # noqa: N802
    """The URL an endpoint is called at."""
    return String(validate=[Length(min=1, max=2000), no_nul, webhook_url], metadata={
        "description": "https URL on a public address (http and private addresses only when "
                       "the server sets ALLOW_PRIVATE_URLS); redirects are not followed",
        "example": "https://crm.example.com/hooks/dripfleet"}, **kw)


def Events(**kw) -> List:  # noqa: N802
    """A list of event types, or ["*"]."""
    return List(String(validate=OneOf(EVENT_CHOICES)), validate=Length(min=1, max=20),
                metadata={"description": _EVENTS_HELP, "example": ["message.delivered",
                                                                   "message.read"]}, **kw)


class WebhookIn(Schema):
    """A new endpoint. Its signing secret is made by the server and shown once, in the answer."""

    url = WebhookUrl(required=True)
    events = Events(load_default=[ALL])
    description = Text(500, load_default="")
    enabled = StrictBoolean(load_default=True)


class WebhookPatch(Schema):
    """Change any of url, events, description, enabled. Enabling an endpoint the dispatcher
    turned off clears disabled_reason and failing_since."""

    url = WebhookUrl()
    events = Events()
    description = Text(500)
    enabled = StrictBoolean()


class WebhookItem(Schema):
    """An endpoint in a list. The secret itself is shown only on creation and rotation."""

    id = Integer(required=True)
    url = String(required=True)
    description = String(required=True)
    events = List(String(validate=OneOf(EVENT_CHOICES)), required=True)
    enabled = Boolean(required=True)
    disabled_reason = String(allow_none=True, required=True, metadata={
        "description": "why the dispatcher turned it off (410 Gone, failing for 24 h); null "
                       "when on, or turned off by you"})
    failing_since = Instant(allow_none=True, required=True, metadata={
        "description": "start of the current run of failed attempts; null after a success"})
    secret_hint = String(required=True, metadata={
        "description": "the end of the signing secret, to tell secrets apart",
        "example": "whsec_…Xk4Q"})
    previous_secret_until = Instant(allow_none=True, required=True, metadata={
        "description": "after a rotation, the old secret also signs (a second signature in "
                       "webhook-signature) until this time"})
    created_at = Instant(required=True)
    updated_at = Instant(required=True)


class Webhook(WebhookItem):
    """An endpoint. The secret itself is shown only on creation and rotation."""


class WebhookWithSecret(WebhookItem):
    """An endpoint with its signing secret: the only time the secret is shown."""

    secret = String(required=True, metadata={
        "description": "the Standard Webhooks signing secret (\"whsec_\" + base64 of 32 "
                       "random bytes); keep it: it is not shown again",
        "example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})


class WebhookList(Schema):
    """A page of endpoints; pass next_after as `after` for the next page."""

    items = List(Nested(WebhookItem), required=True)
    next_after = Integer(allow_none=True, required=True)


class WebhookEvent(Schema):
    """What is POSTed to an endpoint (the body), signed per Standard Webhooks: headers
    webhook-id (the delivery's event_id, the same on every retry), webhook-timestamp,
    webhook-signature."""

    type = String(required=True, metadata={"enum": list(EVENT_TYPES)})
    timestamp = String(required=True, metadata={"format": "date-time",
                                                "description": "when the event happened"})
    data = Dict(required=True, metadata={
        "description": "the object as the REST API shows it (the message, lead, contact, "
                       "device or campaign), as it was at the event: receivers keep the "
                       "latest by timestamp, since order is not promised"})


class Attempt(Schema):
    """One try at a delivery."""

    id = Integer(required=True)
    attempted_at = String(required=True, metadata={"format": "date-time"})
    status_code = Integer(allow_none=True, required=True,
                          metadata={"description": "null when no answer came"})
    latency_ms = Integer(allow_none=True, required=True)
    response_excerpt = String(allow_none=True, required=True,
                              metadata={"description": "the first 1 kB of the answer"})
    error = String(allow_none=True, required=True)


class DeliveryItem(Schema):
    """One event for one endpoint, and its attempts (kept 7 days)."""

    id = Integer(required=True)
    event_id = String(required=True, metadata={
        "description": "the webhook-id header: the same on every attempt, so a receiver can "
                       "drop a repeat"})
    event_type = String(required=True, metadata={"enum": list(EVENT_TYPES)})
    status = String(required=True, metadata={"enum": list(DELIVERY_STATUSES)})
    attempts = Integer(required=True)
    next_attempt_at = Instant(required=True, metadata={
        "description": "when a pending delivery is due"})
    last_status_code = Integer(allow_none=True, required=True)
    last_error = String(allow_none=True, required=True)
    created_at = Instant(required=True)
    finished_at = Instant(allow_none=True, required=True)
    payload = Nested(WebhookEvent, required=True)
    attempt_log = List(Nested(Attempt), required=True, metadata={
        "description": "every attempt, oldest first"})


class Delivery(DeliveryItem):
    """One event for one endpoint, and its attempts (kept 7 days)."""


class DeliveryList(Schema):
    """A page of deliveries, newest first."""

    items = List(Nested(DeliveryItem), required=True)
    next_before = Integer(allow_none=True, required=True)


class DeliveryQuery(Schema):
    """Newest first; pass next_before as `before` for older deliveries."""

    limit = Integer(load_default=50, validate=Range(min=1, max=500))
    before = Integer(validate=Range(min=1, max=MAX_ID))
    status = String(validate=OneOf(DELIVERY_STATUSES))
