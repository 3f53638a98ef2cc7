"""Webhook endpoints: create with a signing secret shown once, change, rotate the secret, delete;
the delivery log, a retry of one delivery, a test event."""

import base64
import secrets
from typing import Any

from sqlalchemy import Connection

from dripfleet.stores import webhooks
from webapp.services.errors import Conflict, not_found

# endpoints per user: each event is written once per endpoint that takes it, in the transaction
# of the change that caused it, so the fan-out has to stay small
MAX_ENDPOINTS = 20
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def new_secret() -> str:
    """A Standard Webhooks signing secret: "whsec_" + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _events(values: list[str]) -> list[str]:
    # the same type twice is one; the order as given
    return list(dict.fromkeys(values))


def list_endpoints(conn: Connection, user_id: int, limit: int = 50,
                   after: int | None = None) -> list[dict[str, Any]]:
    """The user's endpoints by id."""
    return webhooks.list_endpoints(conn, user_id, limit, after)


def get_endpoint(conn: Connection, user_id: int, endpoint_id: int) -> dict[str, Any]:
    """One endpoint; NotFound otherwise (another user's too)."""
    row = webhooks.get_endpoint(conn, user_id, endpoint_id)
    if row is None:
        raise not_found("webhook", endpoint_id)
    return row


def create_endpoint(conn: Connection, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """A new endpoint; the answer carries its secret (the only time it is shown)."""
    if webhooks.count_endpoints_locked(conn, user_id) >= MAX_ENDPOINTS:
        raise Conflict(f"you have {MAX_ENDPOINTS} webhook endpoints, the most there can be: "
                       "delete one first", {"url": f"at most {MAX_ENDPOINTS} endpoints"})
    secret = new_secret()
    values = {"url": data["url"], "description": data.get("description", ""),
              "events": _events(data.get("events") or ["*"]),
              "enabled": data.get("enabled", True)}
    endpoint_id = webhooks.insert_endpoint(conn, user_id, values, secret)
    return {**get_endpoint(conn, user_id, endpoint_id), "secret": secret}


def update_endpoint(conn: Connection, user_id: int, endpoint_id: int,
                    changes: dict[str, Any]) -> dict[str, Any]:
    """Change url, events, description or enabled; enabling clears why it was off."""
    if webhooks.lock_endpoint(conn, user_id, endpoint_id) is None:
        raise not_found("webhook", endpoint_id)
    current = get_endpoint(conn, user_id, endpoint_id)
    values = {key: changes.get(key, current[key]) for key in webhooks.FIELDS}
    values["events"] = _events(values["events"])
    webhooks.update_endpoint(conn, user_id, endpoint_id, values)
    return get_endpoint(conn, user_id, endpoint_id)


def rotate_secret(conn: Connection, user_id: int, endpoint_id: int) -> dict[str, Any]:
    """A new secret, shown in the answer; the old one keeps signing for 24 hours."""
    secret = new_secret()
    if not webhooks.rotate_secret(conn, user_id, endpoint_id, secret):
        raise not_found("webhook", endpoint_id)
    return {**get_endpoint(conn, user_id, endpoint_id), "secret": secret}


def delete_endpoint(conn: Connection, user_id: int, endpoint_id: int) -> None:
    """Delete the endpoint, its deliveries and their attempts."""
    if not webhooks.delete_endpoint(conn, user_id, endpoint_id):
        raise not_found("webhook", endpoint_id)


def list_deliveries(conn: Connection, user_id: int, endpoint_id: int, limit: int = 50,
                    before: int | None = None, status: str | None = None
                    ) -> list[dict[str, Any]]:
    """The endpoint's deliveries newest first, with their attempts."""
    get_endpoint(conn, user_id, endpoint_id)
    return webhooks.list_deliveries(conn, user_id, endpoint_id, limit, before, status)


def get_delivery(conn: Connection, user_id: int, endpoint_id: int,
                 delivery_id: int) -> dict[str, Any]:
    """One delivery of the endpoint with its attempts; NotFound otherwise."""
    row = webhooks.get_delivery(conn, user_id, endpoint_id, delivery_id)
    if row is None:
        raise not_found("delivery", delivery_id)
    return row


def _enabled_endpoint(conn: Connection, user_id: int, endpoint_id: int, what: str) -> None:
    row = webhooks.lock_endpoint(conn, user_id, endpoint_id)
    if row is None:
        raise not_found("webhook", endpoint_id)
    if not row["enabled"]:
        raise Conflict(f"the endpoint is disabled: enable it to {what}",
                       {"enabled": "the endpoint is disabled"})


def retry_delivery(conn: Connection, user_id: int, endpoint_id: int,
                   delivery_id: int) -> dict[str, Any]:
    """A failed or pending delivery due now again, with the same event id; 409 once delivered
    or while the endpoint is disabled."""
    _enabled_endpoint(conn, user_id, endpoint_id, "retry its deliveries")
    row = webhooks.lock_delivery(conn, user_id, endpoint_id, delivery_id)
    if row is None:
        raise not_found("delivery", delivery_id)
    if row["status"] == "delivered":
        raise Conflict("the delivery was delivered: send a test event instead",
                       {"status": "delivered"})
    webhooks.retry_delivery(conn, user_id, endpoint_id, delivery_id)
    return get_delivery(conn, user_id, endpoint_id, delivery_id)


def send_test(conn: Connection, user_id: int, endpoint_id: int) -> dict[str, Any]:
    """Write one webhook.test delivery to this endpoint only; the dispatcher sends it."""
    _enabled_endpoint(conn, user_id, endpoint_id, "send it a test event")
    delivery_id = webhooks.insert_test_delivery(conn, user_id, endpoint_id)
    return get_delivery(conn, user_id, endpoint_id, delivery_id)
