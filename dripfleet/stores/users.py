"""Users and API tokens."""

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from dripfleet import credentials
from dripfleet.queries import queries

queries.require(
    "insert_user", "user_by_email", "user_by_id", "insert_api_token", "user_by_token_hash",
    "list_api_tokens", "delete_api_token", "update_user_login", "user_for_session",
    "revoke_user_sessions", "update_user_password",
)


class EmailTaken(ValueError):
    """A user with this email already exists."""


def create_user(
    conn: Connection, email: str, password: str | None, name: str = "", timezone: str = "UTC"
) -> dict[str, Any]:
    """Insert a user with a hashed password (None: no password login until one is set)."""
    password_hash = credentials.hash_password(password) if password else None
    try:
        with conn.begin_nested():
            row = conn.execute(
                queries.text("insert_user"),
                {"email": email.strip(), "name": name, "password_hash": password_hash,
                 "timezone": timezone},
            ).mappings().one()
    except IntegrityError as error:
        if "users_email_key" in str(error.orig):
            raise EmailTaken(email) from None
        raise
    return dict(row)


def find_by_email(conn: Connection, email: str) -> dict[str, Any] | None:
    """The user with this email (including its password hash), or None."""
    row = conn.execute(queries.text("user_by_email"), {"email": email.strip()}).mappings().first()
    return dict(row) if row else None


def authenticate(conn: Connection, email: str, password: str) -> dict[str, Any] | None:
    """The user when email and password match, else None."""
    user = find_by_email(conn, email)
    if user is None:
        # spend the same time as a real check so responses do not reveal which emails exist
        credentials.verify_password(_DUMMY_HASH, password)
        return None
    if not credentials.verify_password(user["password_hash"], password):
        return None
    user.pop("password_hash")
    return user


def create_token(conn: Connection, user_id: int, name: str = "") -> tuple[str, dict[str, Any]]:
    """A new API token for user_id: (the token, shown once; its stored row, without the hash)."""
    token, token_hash, prefix = credentials.new_api_token()
    row = conn.execute(
        queries.text("insert_api_token"),
        {"user_id": user_id, "name": name, "token_hash": token_hash, "prefix": prefix},
    ).mappings().one()
    return token, dict(row)


def user_for_token(conn: Connection, token: str) -> dict[str, Any] | None:
    """The user owning a bearer token, or None."""
    row = conn.execute(
        queries.text("user_by_token_hash"), {"token_hash": credentials.hash_token(token)}
    ).mappings().first()
    return dict(row) if row else None


def get_user(conn: Connection, user_id: int) -> dict[str, Any] | None:
    """The user with this id (no password hash), or None."""
    row = conn.execute(queries.text("user_by_id"), {"user_id": user_id}).mappings().first()
    return dict(row) if row else None


def user_for_session(conn: Connection, user_id: int, session_version: int) -> dict[str, Any] | None:
    """The user of a cookie session issued under session_version, or None once it was revoked."""
    row = conn.execute(
        queries.text("user_for_session"), {"user_id": user_id, "session_version": session_version}
    ).mappings().first()
    return dict(row) if row else None


def revoke_sessions(conn: Connection, user_id: int) -> int | None:
    """End every cookie session of the user; the new session version (None: no such user)."""
    return conn.execute(queries.text("revoke_user_sessions"), {"user_id": user_id}).scalar()


def set_password(conn: Connection, user_id: int, password: str) -> int | None:
    """Store a new password hash and end the user's cookie sessions; the new session version."""
    return conn.execute(
        queries.text("update_user_password"),
        {"user_id": user_id, "password_hash": credentials.hash_password(password)},
    ).scalar()


def list_tokens(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    """The user's API tokens (id, name, prefix, created_at, last_used_at), never the secret."""
    rows = conn.execute(queries.text("list_api_tokens"), {"user_id": user_id}).mappings()
    return [dict(row) for row in rows]


def delete_token(conn: Connection, user_id: int, token_id: int) -> bool:
    """Revoke one of the user's tokens; False when it is not theirs or does not exist."""
    row = conn.execute(
        queries.text("delete_api_token"), {"user_id": user_id, "token_id": token_id}
    ).first()
    return row is not None


def update_profile(conn: Connection, user_id: int, name: str, timezone: str) -> dict[str, Any]:
    """Change the user's display name and timezone."""
    row = conn.execute(
        queries.text("update_user_login"),
        {"user_id": user_id, "name": name, "timezone": timezone},
    ).mappings().one()
    return dict(row)


_DUMMY_HASH = credentials.hash_password("not-a-real-password")
