"""Accounts and API tokens: register, authenticate, create / list / revoke tokens."""

from typing import Any

from sqlalchemy import Connection

from dripfleet import credentials
from dripfleet.stores import users
from webapp.services.errors import Conflict, Invalid, ServiceError, not_found


class BadCredentials(ServiceError):
    """Email or password wrong (never says which)."""

    status = 401
    code = "unauthorized"


def register(conn: Connection, email: str, password: str, name: str = "",
             timezone: str = "UTC") -> dict[str, Any]:
    """Create an account with an Argon2id password hash; Conflict if the email is taken."""
    problem = credentials.password_problem(password)
    if problem:
        raise Invalid({"password": problem})
    try:
        return users.create_user(conn, email.lower(), password, name, timezone)
    except users.EmailTaken:
        raise Conflict("an account with this email exists", {"email": "already registered"}) \
            from None


def login(conn: Connection, email: str, password: str) -> dict[str, Any]:
    """The user for email + password, or BadCredentials."""
    user = users.authenticate(conn, email, password)
    if user is None:
        raise BadCredentials("wrong email or password")
    return user


def profile(conn: Connection, user_id: int) -> dict[str, Any]:
    """The user's own record (no password hash)."""
    user = users.get_user(conn, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


def create_token(conn: Connection, user_id: int, name: str = "") -> dict[str, Any]:
    """A new API token; the returned dict's `token` is the only time the secret is shown."""
    token, row = users.create_token(conn, user_id, name)
    return {**row, "token": token, "last_used_at": None}


def list_tokens(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    """The user's tokens without secrets."""
    return users.list_tokens(conn, user_id)


def revoke_token(conn: Connection, user_id: int, token_id: int) -> None:
    """Delete one of the user's tokens; NotFound otherwise."""
    if not users.delete_token(conn, user_id, token_id):
        raise not_found("token", token_id)
