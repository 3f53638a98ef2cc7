"""Test harness: one migrated template database per run, cloned for each test that needs one.

TEST_DATABASE_URL (CI: the machine's PostgreSQL) names the server; unset, an embedded PostgreSQL
(pgserver) is started in a temporary folder for the run. Databases are named dft_<pid>_* so that
runs sharing a server never collide; leftovers of dead runs are dropped at start.
"""

import itertools
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from dripfleet import database
from dripfleet.migrations import migrate
from tests.own_postgres import OwnPostgres

# Devices added through the API start a warm-up of 20 messages a day (WARMUP_PLAN): tests that
# send more through one such device would wait for tomorrow. The warm-up's own tests set a plan.
os.environ.setdefault("WARMUP_PLAN", "off")
_counter = itertools.count(1)
_PREFIX = f"dft_{os.getpid()}"


def _with_database(url: str, name: str) -> str:
    return (
        make_url(database.libpq_url(url)).set(database=name).render_as_string(hide_password=False)
    )


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(database.libpq_url(url), autocommit=True)


def _drop_leftovers(url: str) -> None:
    with _admin(url) as conn:
        names = [
            r[0]
            for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'dft\\_%'")
        ]
        for name in names:
            match = re.match(r"dft_(\d+)_", name)
            if match and not os.path.exists(f"/proc/{match.group(1)}"):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of the PostgreSQL server for this run (its maintenance database)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        try:
            _drop_leftovers(url)
        except psycopg.OperationalError as error:
            pytest.fail(f"TEST_DATABASE_URL={url} is not reachable: {error}", pytrace=False)
        yield url
        return
    folder = tempfile.mkdtemp(prefix="dripfleet-test-pg-")
    server = database.start_embedded(Path(folder), cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        database.dispose_engines()
        server.cleanup()


@pytest.fixture(scope="session")
def template_database(pg_server_url: str) -> Iterator[str]:
    """Name of a database with every migration applied, cloned by `database_url`."""
    name = f"{_PREFIX}_template"
    with _admin(pg_server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(_with_database(pg_server_url, name))
    yield name
    with _admin(pg_server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(pg_server_url: str, template: str | None = None) -> str:
    """Create a fresh database (a clone of template, or empty); return its URL."""
    name = f"{_PREFIX}_{next(_counter)}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with _admin(pg_server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}')
    return _with_database(pg_server_url, name)


def drop_database(pg_server_url: str, url: str) -> None:
    """Drop a database made by create_database, closing our pooled connections first."""
    database.dispose_engines()
    name = make_url(url).database
    with _admin(pg_server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(
    pg_server_url: str, template_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh migrated database for one test; DATABASE_URL points at it during the test."""
    url = create_database(pg_server_url, template_database)
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    drop_database(pg_server_url, url)


@pytest.fixture
def empty_database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    url = create_database(pg_server_url)
    yield url
    drop_database(pg_server_url, url)


@pytest.fixture
def engine(database_url: str) -> Engine:
    """The pooled SQLAlchemy engine of this test's database."""
    return database.get_engine(database_url)


@pytest.fixture
def make_user(engine: Engine):
    """Factory: create a user (and return its row) in this test's database."""
    from dripfleet.stores import users

    def make(email: str | None = None, password: str = "correct horse", **kw) -> dict:
        email = email or f"user{next(_counter)}@example.com"
        with engine.begin() as conn:
            return users.create_user(conn, email, password, **kw)

    return make


def scalar(engine: Engine, sql: str, **params) -> object:
    """Run one SQL statement and return its single value (tests only)."""
    with engine.begin() as conn:
        return conn.execute(text(sql), params).scalar()


@pytest.fixture
def open_tmp_path() -> Iterator[Path]:
    """A temporary folder other local users can traverse: the embedded PostgreSQL runs as the
    `pgserver` user when we are root, and pytest's own tmp_path is private (mode 700)."""
    import shutil

    folder = Path(tempfile.mkdtemp(prefix="dripfleet-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def own_pg() -> Iterator[OwnPostgres]:
    """A migrated PostgreSQL server of this test's own, which it may stop, start and restart
    (fault tests never touch the shared server)."""
    server = OwnPostgres()
    server.migrated()
    yield server
    server.close()
