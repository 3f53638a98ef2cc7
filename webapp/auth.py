"""Who is calling: a session cookie (pages) or `Authorization: Bearer <token>` (clients).

Every /api endpoint needs one of them except those in PUBLIC_ENDPOINTS and the docs.
"""

from typing import Any

from apiflask import APIFlask, HTTPError
from flask import g, request, session

from dripfleet.stores import users
from webapp import db

PUBLIC_ENDPOINTS = frozenset({
    "health.healthz", "auth.register", "auth.login", "openapi.spec", "static",
})
PUBLIC_PREFIXES = ("/api/docs",)
SESSION_KEY = "user_id"


def current_user() -> dict[str, Any]:
    """The authenticated user of this request (set before the view runs)."""
    return g.user


def current_user_id() -> int:
    """The id of the authenticated user."""
    return int(g.user["id"])


def log_in(user: dict[str, Any]) -> None:
    """Start a cookie session for user (pages and browser clients)."""
    session.clear()
    session[SESSION_KEY] = int(user["id"])
    session.permanent = True


def log_out() -> None:
    """End the cookie session."""
    session.clear()


def _needs_auth() -> bool:
    if not request.path.startswith("/api/"):
        return False
    public = request.endpoint in PUBLIC_ENDPOINTS or request.path.startswith(PUBLIC_PREFIXES)
    return not public


def _authenticate() -> dict[str, Any] | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        with db.transaction() as conn:
            return users.user_for_token(conn, token.strip())
    user_id = session.get(SESSION_KEY)
    if not isinstance(user_id, int):
        return None
    with db.transaction() as conn:
        return users.get_user(conn, user_id)


def install(app: APIFlask) -> None:
    """Check credentials before every protected request."""

    @app.before_request
    def require_auth() -> None:
        g.user = None
        if not _needs_auth() or request.endpoint is None:
            return
        user = _authenticate()
        if user is None:
            raise HTTPError(
                401, "authentication required: a session cookie or a Bearer token",
                headers={"WWW-Authenticate": 'Bearer realm="dripfleet"'},
            )
        g.user = user
