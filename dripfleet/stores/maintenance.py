"""The invariants the pipeline checks verify, and names of campaigns, sequences and devices for
their metadata: read-only query wrappers taking a Connection (the queue's upkeep jobs, which
commit, are in dripfleet.materialise.upkeep)."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require(
    "devices_over_buffer", "messages_for_opted_out_leads", "sending_past_lease",
    "contacts_behind_schedule", "metadata_names",
)


def names(conn: Connection, campaigns: Iterable[int] = (), sequences: Iterable[int] = (),
          devices: Iterable[int] = ()) -> dict[tuple[str, int], str]:
    """Titles of campaigns and names of sequences and devices by (kind, id), for metadata."""
    params = {"campaigns": sorted(set(campaigns)), "sequences": sorted(set(sequences)),
              "devices": sorted(set(devices))}
    if not any(params.values()):
        return {}
    return {(r["kind"], r["id"]): r["name"] for r in _rows(conn, "metadata_names", params)}


def _rows(conn: Connection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(queries.text(name), params).mappings()]


def devices_over_buffer(conn: Connection, buffer_size: int) -> list[dict[str, Any]]:
    """Devices with more than buffer_size queued messages (at most 20)."""
    return _rows(conn, "devices_over_buffer", {"buffer_size": buffer_size})


def messages_for_opted_out_leads(conn: Connection) -> list[dict[str, Any]]:
    """Open messages created after their lead opted out (at most 20)."""
    return _rows(conn, "messages_for_opted_out_leads", {})


def sending_past_lease(
    conn: Connection, now: datetime, grace: timedelta = timedelta(minutes=2)
) -> list[dict[str, Any]]:
    """Messages still 'sending' more than `grace` after their lease ran out (at most 20)."""
    return _rows(conn, "sending_past_lease", {"cutoff": now - grace})


def contacts_behind_schedule(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Active contacts more than one step behind their schedule (at most 20)."""
    return _rows(conn, "contacts_behind_schedule", {"now": now})
