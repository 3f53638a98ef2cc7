"""The app's database handle: a transaction per call, on the engine built by the factory."""

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import Connection, Engine


def engine() -> Engine:
    """The SQLAlchemy engine of the running app."""
    return current_app.extensions["dripfleet_engine"]


@contextmanager
def transaction() -> Iterator[Connection]:
    """A connection in a transaction: committed on success, rolled back on any error."""
    with engine().begin() as conn:
        yield conn
