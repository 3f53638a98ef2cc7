"""Accounts and API tokens: register, authenticate, throttle sign-ins, change the password,
create / list / revoke tokens."""

from dataclasses import dataclass
from math import ceil
from typing import Any

from sqlalchemy import Connection

from dripfleet import credentials
from dripfleet.stores import login_throttle, users
from webapp.services.errors import Conflict, Invalid, ServiceError, not_found


class BadCredentials(ServiceError):
    """Email or password wrong (never says which)."""

    status = 401
    code = "unauthorized"


class TooManyAttempts(ServiceError):
    """Too many failed sign-ins for this account or from this address: wait retry_after s."""

    status = 429
    code = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, ceil(retry_after / 60))
        super().__init__(f"too many failed sign-ins: try again in {minutes} "
                         f"minute{'s' if minutes > 1 else ''}")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginAttempt:
    """A sign-in attempt counted against its account and address (rows in login_attempts)."""

    account: str
    ids: tuple[int, ...]


# longer than any email can be: such a string still counts, it just shares its count
_MAX_SUBJECT = 254


def begin_login_attempt(conn: Connection, email: str, address: str, max_failures: int,
                        window_seconds: float) -> LoginAttempt:
    """Count an attempt against the account and the address; TooManyAttempts when either has
    max_failures in the window. Commit before checking the password, so parallel guesses see it.
    """
    account, address = email.strip().lower()[:_MAX_SUBJECT], address[:_MAX_SUBJECT]
    login_throttle.lock(conn, account, address)
    counts = login_throttle.recent(conn, account, address, window_seconds, max_failures)
    waits = [retry for attempts, retry in counts.values() if attempts >= max_failures]
    if waits:
        # not recorded: a subject at its limit keeps exactly that many rows, however hard it tries
        raise TooManyAttempts(max(waits))
    ids = login_throttle.record(conn, account, address)
    login_throttle.prune(conn, window_seconds)
    return LoginAttempt(account, tuple(ids))


def end_login_attempt(conn: Connection, attempt: LoginAttempt) -> None:
    """The attempt succeeded: it is no failure, and the account's earlier failures are forgiven."""
    login_throttle.forget(conn, list(attempt.ids), attempt.account)


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


def check_new_password(password: str) -> None:
    """Invalid (naming new_password) when the password is not acceptable."""
    problem = credentials.password_problem(password)
    if problem:
        raise Invalid({"new_password": problem})


def change_password(conn: Connection, user: dict[str, Any], current_password: str,
                    new_password: str) -> int:
    """Replace the user's password after checking the current one; the new session version.

    Every cookie session of the user ends; API tokens stay valid (revoke them one by one).
    """
    check_new_password(new_password)
    checked = users.authenticate(conn, user["email"], current_password)
    if checked is None or checked["id"] != user["id"]:
        raise Invalid({"current_password": "is not the current password"})
    version = users.set_password(conn, int(user["id"]), new_password)
    if version is None:
        raise not_found("user", user["id"])
    return version


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
