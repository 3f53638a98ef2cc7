"""Webhooks: the user's endpoints (the signing secret shown once), secret rotation, the
delivery log with every attempt, a retry of one delivery, a test event."""

from apiflask import APIBlueprint

from webapp import auth, db
from webapp.api.paging import page
from webapp.schemas.common import ID_PATH, Deleted, PageQuery
from webapp.schemas.webhooks import (
    Delivery,
    DeliveryList,
    DeliveryQuery,
    Webhook,
    WebhookIn,
    WebhookList,
    WebhookPatch,
    WebhookWithSecret,
)
from webapp.services import webhooks

bp = APIBlueprint("webhooks", __name__, tag="Webhooks", url_prefix="/api/webhooks")
ONE = f"/<{ID_PATH}:webhook_id>"
DELIVERY = f"{ONE}/deliveries/<{ID_PATH}:delivery_id>"
_DISABLED = "The endpoint is disabled: enable it first"


@bp.get("")
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(WebhookList)
def list_webhooks(query):
    """The user's webhook endpoints (never their secrets)."""
    with db.transaction() as conn:
        items = webhooks.list_endpoints(conn, auth.current_user_id(), query["limit"],
                                        query["after"])
    return page(items, query["limit"])


@bp.post("")
@bp.input(WebhookIn, arg_name="body")
@bp.output(WebhookWithSecret, status_code=201,
           description="Created; `secret` is shown here only: keep it")
@bp.doc(responses={409: "The most endpoints a user may have (20) exist already",
                   422: "A field is invalid: url (https, public addresses only), events.N"})
def create_webhook(body):
    """Add an endpoint: events of these types are POSTed to its URL, signed with its secret
    per Standard Webhooks."""
    with db.transaction() as conn:
        return webhooks.create_endpoint(conn, auth.current_user_id(), body), 201


@bp.get(ONE)
@bp.output(Webhook)
def get_webhook(webhook_id: int):
    """One endpoint (a hint of its secret, never the secret)."""
    with db.transaction() as conn:
        return webhooks.get_endpoint(conn, auth.current_user_id(), webhook_id)


@bp.patch(ONE)
@bp.input(WebhookPatch, arg_name="body")
@bp.output(Webhook)
@bp.doc(responses={422: "A field is invalid: url (https, public addresses only), events.N"})
def update_webhook(webhook_id: int, body):
    """Change url, events, description or enabled (enabling clears disabled_reason and
    failing_since)."""
    with db.transaction() as conn:
        return webhooks.update_endpoint(conn, auth.current_user_id(), webhook_id, body)


@bp.delete(ONE)
@bp.output(Deleted, status_code=204)
def delete_webhook(webhook_id: int):
    """Delete an endpoint with its deliveries (nothing more is sent to it)."""
    with db.transaction() as conn:
        webhooks.delete_endpoint(conn, auth.current_user_id(), webhook_id)
    return ""


@bp.post(f"{ONE}/rotate-secret")
@bp.output(WebhookWithSecret, description="The new `secret`, shown here only")
def rotate_secret(webhook_id: int):
    """A new signing secret; the old one keeps signing beside it for 24 hours
    (previous_secret_until), so receivers can switch without losing events."""
    with db.transaction() as conn:
        return webhooks.rotate_secret(conn, auth.current_user_id(), webhook_id)


@bp.get(f"{ONE}/deliveries")
@bp.input(DeliveryQuery, location="query", arg_name="query")
@bp.output(DeliveryList)
def list_deliveries(webhook_id: int, query):
    """The endpoint's deliveries, newest first, each with its attempts (status code, latency,
    the start of the answer); kept 7 days."""
    with db.transaction() as conn:
        items = webhooks.list_deliveries(conn, auth.current_user_id(), webhook_id,
                                         query["limit"], query.get("before"),
                                         query.get("status"))
    return page(items, query["limit"], "next_before")


@bp.get(DELIVERY)
@bp.output(Delivery)
def get_delivery(webhook_id: int, delivery_id: int):
    """One delivery with every attempt."""
    with db.transaction() as conn:
        return webhooks.get_delivery(conn, auth.current_user_id(), webhook_id, delivery_id)


@bp.post(f"{DELIVERY}/retry")
@bp.output(Delivery, description="Pending and due now, with the same event_id (webhook-id)")
@bp.doc(responses={409: "Delivered already, or the endpoint is disabled"})
def retry_delivery(webhook_id: int, delivery_id: int):
    """Send a failed or pending delivery again now, with the same webhook-id."""
    with db.transaction() as conn:
        return webhooks.retry_delivery(conn, auth.current_user_id(), webhook_id, delivery_id)


@bp.post(f"{ONE}/test")
@bp.output(Delivery, status_code=202, description="Written: the dispatcher sends it shortly")
@bp.doc(responses={409: _DISABLED})
def send_test(webhook_id: int):
    """Send a `webhook.test` event to this endpoint only:
    `{"type": "webhook.test", "timestamp": …, "data": {"webhook_id": id}}`."""
    with db.transaction() as conn:
        return webhooks.send_test(conn, auth.current_user_id(), webhook_id), 202
