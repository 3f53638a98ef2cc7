"""Campaigns: CRUD, status changes moving queued ↔ held / cancelled messages, progress counts."""

from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries
from dripfleet.stores import messages

queries.require(
    "campaigns_list", "campaigns_get", "campaigns_lock", "campaigns_insert", "campaigns_update",
    "campaigns_set_status", "campaigns_delete", "campaign_messages_hold",
    "campaign_messages_release", "campaign_audience_count",
    "campaign_message_counts", "campaign_audience_sample", "campaigns_list_counts",
    "campaigns_set_priority", "campaign_messages_relane", "audience_count_capped",
)

FIELDS = ("title", "niche", "target_status", "scheduled_at", "timezone", "message_type", "body",
          "media_url", "media_id", "caption", "filename", "pinned_device_id", "priority")


def list_campaigns(conn: Connection, user_id: int, limit: int = 50, after: int | None = None,
                   status: str | None = None) -> list[dict[str, Any]]:
    """A page of the user's campaigns by id."""
    rows = conn.execute(queries.text("campaigns_list"), {
        "user_id": user_id, "limit": limit, "after": after, "status": status}).mappings()
    return [dict(row) for row in rows]


def get_campaign(conn: Connection, user_id: int, campaign_id: int) -> dict[str, Any] | None:
    """One campaign, or None."""
    row = conn.execute(queries.text("campaigns_get"),
                       {"user_id": user_id, "campaign_id": campaign_id}).mappings().first()
    return dict(row) if row else None


def lock_campaign(conn: Connection, user_id: int, campaign_id: int) -> dict[str, Any] | None:
    """Lock the row for a change; id, status, scheduled_at, started_at — or None."""
    row = conn.execute(queries.text("campaigns_lock"),
                       {"user_id": user_id, "campaign_id": campaign_id}).mappings().first()
    return dict(row) if row else None


def insert_campaign(conn: Connection, user_id: int, values: dict[str, Any]) -> int:
    """Insert a draft campaign; its id."""
    params = {key: values.get(key) for key in FIELDS}
    return conn.execute(queries.text("campaigns_insert"), {"user_id": user_id, **params}
                        ).scalar_one()


def update_campaign(conn: Connection, user_id: int, campaign_id: int,
                    values: dict[str, Any]) -> None:
    """Replace the campaign's definition."""
    params = {key: values.get(key) for key in FIELDS}
    conn.execute(queries.text("campaigns_update"),
                 {"user_id": user_id, "campaign_id": campaign_id, **params})


def set_priority(conn: Connection, user_id: int, campaign_id: int, priority: str) -> int:
    """Set the campaign's priority and move its waiting messages to the matching claim lane;
    how many moved."""
    params = {"user_id": user_id, "campaign_id": campaign_id}
    conn.execute(queries.text("campaigns_set_priority"), {**params, "priority": priority})
    return conn.execute(queries.text("campaign_messages_relane"),
                        {**params, "lane": 2 if priority == "high" else 1}).rowcount


def set_status(conn: Connection, user_id: int, campaign_id: int, status: str,
               scheduled_at: Any = None) -> None:
    """Change status (and scheduled_at when given)."""
    conn.execute(queries.text("campaigns_set_status"), {
        "user_id": user_id, "campaign_id": campaign_id, "status": status,
        "scheduled_at": scheduled_at})


def delete_campaign(conn: Connection, user_id: int, campaign_id: int) -> bool:
    """Delete; False if not found."""
    return conn.execute(queries.text("campaigns_delete"),
                        {"user_id": user_id, "campaign_id": campaign_id}).first() is not None


def _messages(name: str, conn: Connection, user_id: int, campaign_id: int) -> int:
    return conn.execute(queries.text(name), {"user_id": user_id, "campaign_id": campaign_id}
                        ).rowcount


def hold_messages(conn: Connection, user_id: int, campaign_id: int) -> int:
    """queued → held."""
    return _messages("campaign_messages_hold", conn, user_id, campaign_id)


def release_messages(conn: Connection, user_id: int, campaign_id: int) -> int:
    """held → queued."""
    return _messages("campaign_messages_release", conn, user_id, campaign_id)


def cancel_messages(conn: Connection, user_id: int, campaign_id: int) -> None:
    """queued/held → cancelled (counted on their batches)."""
    messages.cancel_waiting(conn, user_id, campaign_id=campaign_id)


def audience_count(conn: Connection, user_id: int, niche: str | None,
                   target_status: str) -> int:
    """How many leads match now."""
    return conn.execute(queries.text("campaign_audience_count"), {
        "user_id": user_id, "niche": niche, "target_status": target_status}).scalar_one()


def audience_count_capped(conn: Connection, user_id: int, niche: str | None,
                          target_status: str, cap: int) -> int:
    """How many leads match now, counting no further than cap."""
    return conn.execute(queries.text("audience_count_capped"), {
        "user_id": user_id, "niche": niche, "target_status": target_status, "cap": cap}
    ).scalar_one()


def message_counts(conn: Connection, user_id: int, campaign_id: int) -> list[dict[str, Any]]:
    """(device_id, status, n) rows of the campaign's messages."""
    rows = conn.execute(queries.text("campaign_message_counts"),
                        {"user_id": user_id, "campaign_id": campaign_id}).mappings()
    return [dict(row) for row in rows]


def audience_sample(conn: Connection, user_id: int, niche: str | None, target_status: str,
                    limit: int = 3) -> list[dict[str, Any]]:
    """The first `limit` leads that match now (id, name, phone, attributes)."""
    rows = conn.execute(queries.text("campaign_audience_sample"), {
        "user_id": user_id, "niche": niche, "target_status": target_status,
        "limit": limit}).mappings()
    return [dict(row) for row in rows]


def list_counts(conn: Connection, user_id: int,
                campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """{campaign_id: {sent, failed, read}} of the given campaigns (absent: no message yet)."""
    rows = conn.execute(queries.text("campaigns_list_counts"), {
        "user_id": user_id, "campaign_ids": campaign_ids}).mappings()
    return {row["campaign_id"]: {"sent": row["sent"], "failed": row["failed"],
                                 "read": row["read"]} for row in rows}
