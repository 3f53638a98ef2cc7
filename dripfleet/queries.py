"""Named SQL queries loaded once from `sql/queries/*.sql`.

A file holds blocks that start with `-- name: some_query`, optionally followed by comment lines
describing it, then the SQL (SQLAlchemy `:param` style). Duplicate names fail at import; an unknown
name fails at the first lookup with the list of files searched, and `require()` lets a store fail
at import instead.
"""

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import TextClause, text

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
QUERY_DIR = SQL_DIR / "queries"
_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


class QueryError(LookupError):
    """A query file is malformed or a query name is unknown."""


@dataclass(frozen=True)
class Query:
    """One named query: its SQL and where it came from."""

    name: str
    sql: str
    source: str
    description: str = ""
    text: TextClause = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", text(self.sql))


def parse_queries(content: str, source: str) -> list[Query]:
    """Split one file's content into named queries."""
    found: list[Query] = []
    marks = list(_NAME.finditer(content))
    head = content[: marks[0].start()] if marks else content
    if any(line.strip() and not line.strip().startswith("--") for line in head.splitlines()):
        raise QueryError(f"{source}: SQL before the first '-- name:' line")
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(content)
        lines = content[mark.end() : end].strip("\n").splitlines()
        description = []
        while lines and lines[0].lstrip().startswith("--"):
            description.append(lines.pop(0).lstrip()[2:].strip())
        sql = "\n".join(lines).strip().rstrip(";").strip()
        if not sql:
            raise QueryError(f"{source}: query {mark.group(1)!r} has no SQL")
        found.append(Query(mark.group(1), sql, source, " ".join(description)))
    return found


class QueryBook(Mapping[str, Query]):
    """All named queries, by name."""

    def __init__(self, directory: Path = QUERY_DIR) -> None:
        self.directory = directory
        self._queries: dict[str, Query] = {}
        for path in sorted(directory.glob("*.sql")):
            for query in parse_queries(path.read_text(encoding="utf-8"), path.name):
                if query.name in self._queries:
                    other = self._queries[query.name].source
                    raise QueryError(f"query {query.name!r} defined in {other} and {path.name}")
                self._queries[query.name] = query

    def __getitem__(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            raise QueryError(f"no query named {name!r} in {self.directory}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)

    def require(self, *names: str) -> None:
        """Fail now (at import of the caller) if any of names is missing."""
        missing = [name for name in names if name not in self._queries]
        if missing:
            raise QueryError(f"missing queries {missing} in {self.directory}")

    def text(self, name: str) -> TextClause:
        """The SQLAlchemy text clause of a query."""
        return self[name].text


queries = QueryBook()
