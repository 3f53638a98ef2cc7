"""Small helpers that turn tick results into metadata an analyst can read in the Dagster UI."""

from collections.abc import Iterable, Sequence
from typing import Any

from dagster import MetadataValue


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], limit: int = 50) -> Any:
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
