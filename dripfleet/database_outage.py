"""Telling a database outage (restart, failover, network) from a bug, and backing off meanwhile.

Long-lived processes (the device host's supervisor and workers) ride through an outage: an
operation that failed because PostgreSQL went away is kept and tried again after a backoff,
while any other error is a bug and is raised as before.
"""

import random

import psycopg
from sqlalchemy import exc as sa_exc

# SQLSTATE classes that mean "the server or the connection", not "this statement":
# 08 connection exception, 57P01-57P03 admin / crash shutdown and cannot-connect-now,
# 53 insufficient resources (too many connections), 40001/40P01 would be retried by anyone
_OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53")


def is_outage(error: BaseException) -> bool:
    """Whether error means the database is (briefly) unreachable, not that the work is wrong."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        if isinstance(current, sa_exc.TimeoutError):  # the pool waited for a connection
            return True
        if isinstance(current, psycopg.OperationalError | psycopg.InterfaceError):
            return True
        state = getattr(current, "sqlstate", None)
        if state and state.startswith(_OUTAGE_SQLSTATES):
            return True
        current = current.__cause__ or current.__context__
    return False


class Backoff:
    """Exponential backoff with jitter for retrying while the database is away."""

    def __init__(self, first: float = 0.5, most: float = 10.0) -> None:
        self.first = first
        self.most = most
        self.failures = 0

    def next_delay(self) -> float:
        """Count a failure; seconds to wait before the next try."""
        self.failures += 1
        delay = min(self.most, self.first * 2 ** (self.failures - 1))
        # jitter so that many workers do not reconnect in lockstep
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> bool:
        """The database answered again; returns whether it had been failing."""
        was, self.failures = self.failures > 0, 0
        return was
