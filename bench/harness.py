"""What every benchmark needs: the server to run on and a fresh, migrated database of its own."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dripfleet import database  # noqa: E402
from dripfleet.migrations import migrate  # noqa: E402


def server_url() -> str:
    """TEST_DATABASE_URL, else DATABASE_URL, else the local server (libpq form)."""
    return database.libpq_url(
        os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )


def with_db(url: str, name: str) -> str:
    """url pointing at database name instead."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def fresh_database(name: str) -> Iterator[str]:
    """Create bench_<name>_<pid> on the server, migrate it, yield its URL, drop it after."""
    admin = server_url()
    db_name = f"bench_{name}_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    url = with_db(admin, db_name)
    try:
        migrate(url)
        yield url
    finally:
        database.dispose_engines()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
