"""The invariants the pipeline checks verify, and names of campaigns, sequences and devices for
their metadata: read-only queries (the queue's upkeep jobs are in dripfleet.materialise.upkeep)."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from dripfleet.queries import queries

queries.require(
    "devices_over_buffer", "messages_for_opted_out_leads", "sending_past_lease",
    "contacts_behind_schedule", "metadata_names",
)


def names(engine: Engine, campaigns: Iterable[int] = (), sequences: Iterable[int] = (),
          devices: Iterable[int] = ()) -> dict[tuple[str, int], str]:
    """Titles of campaigns and names of sequences and devices by (kind, id), for metadata."""
    params = {"campaigns": sorted(set(campaigns)), "sequences": sorted(set(sequences)),
              "devices": sorted(set(devices))}
    if not any(params.values()):
        return {}
    return {(r["kind"], r["id"]): r["name"] for r in _rows(engine, "metadata_names", params)}


def _rows(engine: Engine, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(queries.text(name), params).mappings()]


def devices_over_buffer(engine: Engine, buffer_size: int) -> list[dict[str, Any]]:
    """Devices with more than buffer_size queued messages (at most 20)."""
    return _rows(engine, "devices_over_buffer", {"buffer_size": buffer_size})


def messages_for_opted_out_leads(engine: Engine) -> list[dict[str, Any]]:
    """Open messages created after their lead opted out (at most 20)."""
    return _rows(engine, "messages_for_opted_out_leads", {})


def sending_past_lease(
    engine: Engine, now: datetime, grace: timedelta = timedelta(minutes=2)
) -> list[dict[str, Any]]:
    """Messages still 'sending' more than `grace` after their lease ran out (at most 20)."""
    return _rows(engine, "sending_past_lease", {"cutoff": now - grace})


def contacts_behind_schedule(engine: Engine, now: datetime) -> list[dict[str, Any]]:
    """Active contacts more than one step behind their schedule (at most 20)."""
    return _rows(engine, "contacts_behind_schedule", {"now": now})
