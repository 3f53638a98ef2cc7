"""Read-only summaries that only the web pages show (dashboard, queue monitor) and the keyset
pages of their long tables with capped totals (webapp/pages/paging.py)."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries
from dripfleet.stores.leads import search_params

queries.require(
    "pages_dashboard_counts", "pages_hourly_sends", "pages_upcoming_campaigns",
    "pages_running_sequences", "pages_devices_needing_attention", "pages_recent_outcomes",
    "pages_recent_campaigns", "pages_leads", "pages_sequence_contacts", "pages_sequence_logs",
    "pages_campaign_recipients",
)
# one page: the rows in the list's order and the matching rows counted up to the cap
Paged = tuple[list[dict[str, Any]], int]


def _rows(conn: Connection, name: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(queries.text(name), params).mappings()]


def dashboard_counts(conn: Connection, user_id: int, since: datetime) -> dict[str, int]:
    """Devices online / total, queue depth, sent and failed since `since`."""
    row = conn.execute(
        queries.text("pages_dashboard_counts"), {"user_id": user_id, "since": since}
    ).mappings().one()
    return dict(row)


def hourly_sends(conn: Connection, user_id: int, since: datetime) -> list[dict[str, Any]]:
    """Per hour since `since`: sent and failed (delivery_stats_hourly)."""
    return _rows(conn, "pages_hourly_sends", user_id=user_id, since=since)


def upcoming_campaigns(conn: Connection, user_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """Scheduled campaigns, soonest first."""
    return _rows(conn, "pages_upcoming_campaigns", user_id=user_id, limit=limit)


def running_sequences(conn: Connection, user_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """Active sequences with their active contact counts."""
    return _rows(conn, "pages_running_sequences", user_id=user_id, limit=limit)


def devices_needing_attention(
    conn: Connection, user_id: int, stale_seconds: float, limit: int = 10
) -> list[dict[str, Any]]:
    """Devices that are not sending, carry an error, or stopped heartbeating."""
    return _rows(conn, "pages_devices_needing_attention", user_id=user_id,
                 stale_s=stale_seconds, limit=limit)


def recent_outcomes(conn: Connection, user_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The latest sent or failed messages."""
    return _rows(conn, "pages_recent_outcomes", user_id=user_id, limit=limit)


def recent_campaigns(conn: Connection, user_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """Finished campaigns, latest first: sent, delivered, read, replied and failed."""
    return _rows(conn, "pages_recent_campaigns", user_id=user_id, limit=limit)


def _paged(conn: Connection, name: str, **params: Any) -> Paged:
    rows = _rows(conn, name, **params)
    total = int(rows[0]["total"]) if rows else 0
    # an empty page is one row of NULLs carrying the total
    return [row for row in rows if row["id"] is not None], total


def leads_page(conn: Connection, user_id: int, after: int | None, before: int | None,
               limit: int, cap: int, niche: str | None = None,
               target_status: str | None = None, opted_out: bool | None = None,
               search: str | None = None) -> Paged:
    """A page of the user's leads by id (niche a normalised tag) and their capped total."""
    return _paged(conn, "pages_leads", user_id=user_id, after=after, before=before, limit=limit,
                  cap=cap, niche=niche, target_status=target_status, opted_out=opted_out,
                  **search_params(search))


def sequence_contacts_page(conn: Connection, user_id: int, sequence_id: int, after: int | None,
                           before: int | None, limit: int, cap: int,
                           status: str | None = None) -> Paged:
    """A page of a sequence's contacts by id with their progress, and their capped total."""
    return _paged(conn, "pages_sequence_contacts", user_id=user_id, sequence_id=sequence_id,
                  after=after, before=before, limit=limit, cap=cap, status=status)


def sequence_logs_page(conn: Connection, user_id: int, sequence_id: int, after: int | None,
                       before: int | None, limit: int, cap: int,
                       status: str | None = None) -> Paged:
    """A page of a sequence's log, newest first, naming lead and step; its capped total."""
    return _paged(conn, "pages_sequence_logs", user_id=user_id, sequence_id=sequence_id,
                  after=after, before=before, limit=limit, cap=cap, status=status)


def campaign_recipients_page(conn: Connection, user_id: int, campaign_id: int,
                             after: int | None, before: int | None, limit: int, cap: int,
                             stage: str | None = None) -> Paged:
    """A page of a campaign's recipients by message id, of one stage or all; capped total."""
    return _paged(conn, "pages_campaign_recipients", user_id=user_id, campaign_id=campaign_id,
                  after=after, before=before, limit=limit, cap=cap, stage=stage)
