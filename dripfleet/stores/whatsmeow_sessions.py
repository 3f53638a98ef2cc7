"""The real transport's session store (schema `whatsmeow`, tables owned by whatsmeow): lookups."""

from sqlalchemy import Connection

from dripfleet.queries import queries

queries.require("whatsmeow_store_ready", "whatsmeow_session_exists")


def session_exists(conn: Connection, jid: str) -> bool:
    """Whether a paired session for jid (`user@server`, device part ignored) is stored."""
    if not conn.execute(queries.text("whatsmeow_store_ready")).scalar_one():
        return False
    user = jid.split("@", 1)[0].split(":", 1)[0]
    return bool(
        conn.execute(queries.text("whatsmeow_session_exists"), {"user": user}).scalar_one()
    )
