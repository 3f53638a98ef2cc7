"""Polling the database until rows reach a state (shared by the neonize tests)."""

import time


def wait_rows(engine, query, ids, done, timeout: float = 60.0):
    """Run query with :ids until done(row) holds for every row; fail with the rows at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.begin() as conn:
            rows = conn.execute(query, {"ids": ids}).all()
        if rows and all(done(row) for row in rows):
            return rows
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)
