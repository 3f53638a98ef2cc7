"""Webhook endpoints of a user and their delivery log (the API's and the pages' side; the
dispatcher has its own store)."""

from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require(
    "webhooks_endpoint_list", "webhooks_endpoint_get", "webhooks_endpoint_lock",
    "webhooks_user_lock", "webhooks_endpoint_count", "webhooks_endpoint_insert",
    "webhooks_endpoint_update", "webhooks_endpoint_rotate", "webhooks_endpoint_delete",
    "webhooks_delivery_list", "webhooks_delivery_lock",
    "webhooks_delivery_retry", "webhooks_delivery_insert_test",
)

FIELDS = ("url", "description", "events", "enabled")


def _one(conn: Connection, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
    row = conn.execute(queries.text(name), params).mappings().first()
    return dict(row) if row else None


def list_endpoints(conn: Connection, user_id: int, limit: int = 50,
                   after: int | None = None) -> list[dict[str, Any]]:
    """A page of the user's endpoints by id (a hint of the secret, never the secret)."""
    rows = conn.execute(queries.text("webhooks_endpoint_list"),
                        {"user_id": user_id, "limit": limit, "after": after}).mappings()
    return [dict(row) for row in rows]


def get_endpoint(conn: Connection, user_id: int, endpoint_id: int) -> dict[str, Any] | None:
    """One endpoint (a hint of the secret, never the secret), or None."""
    return _one(conn, "webhooks_endpoint_get", {"user_id": user_id, "endpoint_id": endpoint_id})


def lock_endpoint(conn: Connection, user_id: int, endpoint_id: int) -> dict[str, Any] | None:
    """Lock the endpoint row; id and enabled, or None."""
    return _one(conn, "webhooks_endpoint_lock", {"user_id": user_id, "endpoint_id": endpoint_id})


def count_endpoints_locked(conn: Connection, user_id: int) -> int:
    """How many endpoints the user has, after locking the user's row until the transaction
    ends (so two creations cannot both pass a cap)."""
    conn.execute(queries.text("webhooks_user_lock"), {"user_id": user_id})
    return int(conn.execute(queries.text("webhooks_endpoint_count"),
                            {"user_id": user_id}).scalar_one())


def insert_endpoint(conn: Connection, user_id: int, values: dict[str, Any], secret: str) -> int:
    """Insert an endpoint with its signing secret; its id."""
    params = {key: values[key] for key in FIELDS}
    return int(conn.execute(queries.text("webhooks_endpoint_insert"),
                            {"user_id": user_id, "secret": secret, **params}).scalar_one())


def update_endpoint(conn: Connection, user_id: int, endpoint_id: int,
                    values: dict[str, Any]) -> None:
    """Replace url, description, events and enabled (enabling clears the reason it was off and
    the failing run)."""
    params = {key: values[key] for key in FIELDS}
    conn.execute(queries.text("webhooks_endpoint_update"),
                 {"user_id": user_id, "endpoint_id": endpoint_id, **params})


def rotate_secret(conn: Connection, user_id: int, endpoint_id: int, secret: str) -> bool:
    """The new secret signs from now on, the old one beside it for 24 hours; False if not
    found."""
    return _one(conn, "webhooks_endpoint_rotate",
                {"user_id": user_id, "endpoint_id": endpoint_id, "secret": secret}) is not None


def delete_endpoint(conn: Connection, user_id: int, endpoint_id: int) -> bool:
    """Delete the endpoint with its deliveries; False if not found."""
    return _one(conn, "webhooks_endpoint_delete",
                {"user_id": user_id, "endpoint_id": endpoint_id}) is not None


def list_deliveries(conn: Connection, user_id: int, endpoint_id: int, limit: int = 50,
                    before: int | None = None, status: str | None = None
                    ) -> list[dict[str, Any]]:
    """The endpoint's deliveries newest first, before id `before`, each with its attempts."""
    rows = conn.execute(queries.text("webhooks_delivery_list"), {
        "user_id": user_id, "endpoint_id": endpoint_id, "limit": limit, "before": before,
        "status": status, "delivery_id": None}).mappings()
    return [dict(row) for row in rows]


def get_delivery(conn: Connection, user_id: int, endpoint_id: int,
                 delivery_id: int) -> dict[str, Any] | None:
    """One delivery of the endpoint with its attempts, or None."""
    return _one(conn, "webhooks_delivery_list",
                {"user_id": user_id, "endpoint_id": endpoint_id, "delivery_id": delivery_id,
                 "limit": 1, "before": None, "status": None})


def lock_delivery(conn: Connection, user_id: int, endpoint_id: int,
                  delivery_id: int) -> dict[str, Any] | None:
    """Lock one delivery of the endpoint; id and status, or None."""
    return _one(conn, "webhooks_delivery_lock",
                {"user_id": user_id, "endpoint_id": endpoint_id, "delivery_id": delivery_id})


def retry_delivery(conn: Connection, user_id: int, endpoint_id: int, delivery_id: int) -> None:
    """A delivery that is not delivered: pending and due now, with the same event id."""
    conn.execute(queries.text("webhooks_delivery_retry"),
                 {"user_id": user_id, "endpoint_id": endpoint_id, "delivery_id": delivery_id})


def insert_test_delivery(conn: Connection, user_id: int, endpoint_id: int) -> int:
    """One webhook.test delivery to this endpoint only, due now; its id."""
    return int(conn.execute(queries.text("webhooks_delivery_insert_test"),
                            {"user_id": user_id, "endpoint_id": endpoint_id}).scalar_one())
