"""Sign-in attempts counted per account and per client address (the login throttle's counts)."""

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require(
    "lock_login_subject", "recent_login_attempts", "insert_login_attempt", "prune_login_attempts",
    "forget_login_attempt",
)

PRUNE_BATCH = 200


def lock(conn: Connection, account: str, address: str) -> None:
    """Hold the account's, then the address's, attempts until the transaction ends."""
    for scope, subject in (("account", account), ("address", address)):
        conn.execute(queries.text("lock_login_subject"), {"scope": scope, "subject": subject})


def recent(
    conn: Connection, account: str, address: str, window_seconds: float, max_attempts: int
) -> dict[str, tuple[int, int]]:
    """{scope: (attempts in the window, seconds until one more is allowed)} for both subjects."""
    rows = conn.execute(
        queries.text("recent_login_attempts"),
        {"account": account, "address": address, "window_seconds": float(window_seconds),
         "max_attempts": max_attempts},
    ).all()
    return {row.scope: (int(row.attempts), int(row.retry_after)) for row in rows}


def record(conn: Connection, account: str, address: str) -> list[int]:
    """Count one attempt against the account and the address; the ids of its rows."""
    rows = conn.execute(
        queries.text("insert_login_attempt"), {"account": account, "address": address}
    )
    return [int(ident) for ident in rows.scalars()]


def prune(conn: Connection, window_seconds: float, batch: int = PRUNE_BATCH) -> int:
    """Delete up to batch attempts older than the window; how many went."""
    result = conn.execute(
        queries.text("prune_login_attempts"),
        {"window_seconds": float(window_seconds), "batch": batch},
    )
    return result.rowcount


def forget(conn: Connection, attempt_ids: list[int], account: str) -> None:
    """A successful sign-in: drop its own attempt and the account's earlier failures."""
    conn.execute(
        queries.text("forget_login_attempt"), {"attempt_ids": attempt_ids, "account": account}
    )
