"""Small helpers that turn tick results into metadata an analyst can read in the Dagster UI:
tables, and names instead of bare ids."""

from collections.abc import Iterable, Sequence
from typing import Any

from dagster import MetadataValue
from sqlalchemy import Engine

from dripfleet.stores import maintenance

TABLE_ROWS = 50


class Names:
    """Labels "Year-end promo (#12)" for the campaigns, sequences and devices of a table, read
    in one query for the ids of the rows the table shows (TABLE_ROWS at most)."""

    def __init__(self, engine: Engine, campaigns: Iterable[int | None] = (),
                 sequences: Iterable[int | None] = (), devices: Iterable[int | None] = ()) -> None:
        def shown(ids: Iterable[int | None]) -> list[int]:
            return [i for i in list(ids)[:TABLE_ROWS] if i is not None]

        ids = shown(campaigns), shown(sequences), shown(devices)
        self._names: dict[tuple[str, int], str] = {}
        if any(ids):  # no connection for a table without ids
            with engine.connect() as conn:
                self._names = maintenance.names(conn, *ids)

    def __call__(self, kind: str, id_: int | None) -> str:
        """The name with its id (the id alone once the row is gone; '' for no id)."""
        if id_ is None:
            return ""
        name = self._names.get((kind, id_))
        return f"{name} (#{id_})" if name else f"#{id_}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
                   limit: int = TABLE_ROWS) -> Any:
    """A markdown table (first `limit` rows) as Dagster metadata."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    count = 0
    for row in rows:
        count += 1
        if count <= limit:
            cells = ("" if v is None else str(v).replace("|", "\\|") for v in row)
            lines.append("| " + " | ".join(cells) + " |")
    if count > limit:
        lines.append(f"\n… {count - limit} more rows")
    if count == 0:
        lines.append("| " + " | ".join("–" for _ in headers) + " |")
    return MetadataValue.md("\n".join(lines))
