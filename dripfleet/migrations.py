"""Apply `sql/migrations/NNNN_name.sql` in order, each once, each in its own transaction.

Each applied file is recorded with a SHA-256 checksum; a file edited after it was applied is
refused. A session-level advisory lock makes concurrent `migrate` runs safe: the second waits, then
finds nothing left to do. (Kept small on purpose: the libraries we tried either do not checksum
file contents or want their own migration format; see README "Libraries".)
"""

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from dripfleet.database import libpq_url
from dripfleet.queries import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"
# pg_advisory_lock key: any constant unique to dripfleet's migrations
LOCK_KEY = 0x64726970  # "drip"
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """A migration cannot be applied, or an applied one was changed."""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    name: str
    sql: str
    checksum: str


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in order; refuse misnamed files and duplicate numbers."""
    found: list[Migration] = []
    numbers: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_name.sql")
        if match.group(1) in numbers:
            raise MigrationError(f"{path.name} and {numbers[match.group(1)]} share a number")
        numbers[match.group(1)] = path.name
        data = path.read_bytes()
        found.append(Migration(path.name, data.decode("utf-8"), hashlib.sha256(data).hexdigest()))
    return found


def migrate(
    url: str,
    directory: Path = MIGRATIONS_DIR,
    report: Callable[[str], None] = lambda line: None,
) -> list[str]:
    """Apply pending migrations to the database at url; return the names applied."""
    migrations = discover(directory)
    applied_now: list[str] = []
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       name text PRIMARY KEY,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            recorded = dict(conn.execute("SELECT name, checksum FROM schema_migrations").fetchall())
            _check_recorded(recorded, migrations, directory)
            for migration in migrations:
                if migration.name in recorded:
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.sql.encode("utf-8"))
                        conn.execute(
                            "INSERT INTO schema_migrations (name, checksum) VALUES (%s, %s)",
                            (migration.name, migration.checksum),
                        )
                except psycopg.Error as error:
                    first = str(error).strip().splitlines()[0]
                    raise MigrationError(f"{migration.name} failed: {first}") from error
                applied_now.append(migration.name)
                report(f"applied {migration.name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now


def _check_recorded(recorded: dict[str, str], migrations: list[Migration], directory: Path) -> None:
    by_name = {m.name: m for m in migrations}
    for name, checksum in sorted(recorded.items()):
        migration = by_name.get(name)
        if migration is None:
            raise MigrationError(
                f"the database has migration {name} applied, but {directory}/{name} is missing"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"{directory.parent.name}/{directory.name}/{name} was changed after it was applied "
                f"(checksum {checksum[:12]} recorded, {migration.checksum[:12]} now): "
                "restore it and put the change in a new migration"
            )
