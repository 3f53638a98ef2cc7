"""One way to reach PostgreSQL: URLs for each driver, engines, and the embedded server.

`DATABASE_URL` unset means an embedded PostgreSQL (pgserver) under `DATA_DIR/postgres`, started on
first use and kept for the life of the process that started it.
"""

import logging
import threading
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from dripfleet.settings import Settings, load_settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10  # unless the URL sets its own connect_timeout
_engines: dict[tuple[str, int], Engine] = {}
_servers: dict[Path, Any] = {}
_lock = threading.Lock()


def libpq_url(url: str) -> str:
    """The URL as libpq / psycopg.connect() and neonize want it (no SQLAlchemy driver suffix)."""
    parsed = make_url(_plain(url))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_url(url: str) -> str:
    """The URL for SQLAlchemy over psycopg 3 (the application's driver)."""
    return make_url(_plain(url)).set(drivername="postgresql+psycopg").render_as_string(
        hide_password=False
    )


def dagster_url(url: str) -> str:
    """The URL for Dagster's storage, which needs psycopg2 (notes/dagster.md)."""
    return make_url(_plain(url)).set(drivername="postgresql+psycopg2").render_as_string(
        hide_password=False
    )


def _plain(url: str) -> str:
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def embedded_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under data_dir/postgres and return its URL."""
    pgdata = (data_dir / "postgres").resolve()
    with _lock:
        server = _servers.get(pgdata)
        if server is None:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            log.info("starting embedded PostgreSQL in %s", pgdata)
            server = start_embedded(pgdata, cleanup_mode="stop")
            _servers[pgdata] = server
    return server.get_uri()


def start_embedded(pgdata: Path, cleanup_mode: str | None = "stop") -> Any:
    """A pgserver handle for pgdata (created if new); see pgserver.get_server for cleanup_mode."""
    with warnings.catch_warnings():
        # platformdirs warns once that XDG_RUNTIME_DIR is unset (always so in containers)
        warnings.simplefilter("ignore")
        import pgserver  # deferred: only the embedded default needs it

        return pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)


def resolve_url(settings: Settings | None = None) -> str:
    """DATABASE_URL, or the embedded server's URL when it is unset."""
    settings = settings or load_settings()
    if settings.database_url:
        return settings.database_url
    return embedded_url(settings.data_dir)


def get_engine(url: str | None = None, pool_size: int = 5) -> Engine:
    """A pooled SQLAlchemy engine for url (default: the configured database), one per process."""
    url = url or resolve_url()
    key = (sqlalchemy_url(url), pool_size)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            # pool_pre_ping: a connection that died with a restart or failover is replaced at
            # checkout, so every process recovers by itself once the server is back.
            # connect_timeout: a server that is unreachable (failover, network) fails a connect
            # in seconds instead of the kernel's minutes, so callers can answer or retry
            connect_args = {} if "connect_timeout" in make_url(key[0]).query else {
                "connect_timeout": CONNECT_TIMEOUT_SECONDS}
            engine = create_engine(
                key[0], pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                connect_args=connect_args,
            )
            _engines[key] = engine
    return engine


def dispose_engines() -> None:
    """Close every pooled connection (after fork, at shutdown, between tests)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
