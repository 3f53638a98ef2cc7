"""Who is calling: a session cookie (pages) or `Authorization: Bearer <token>` (clients).

Every /api endpoint needs one of them except those in PUBLIC_ENDPOINTS and the docs. A cookie
session names its user and the user's session version when it was issued, so sign-out and a
password change end it everywhere; a cookie-authenticated write also needs the CSRF token in a
header. Sign-in goes through the login throttle (counts in PostgreSQL, shared by every worker).
"""

import ipaddress
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Flask, current_app, g, request, session
from flask_wtf.csrf import generate_csrf, validate_csrf
from werkzeug.middleware.proxy_fix import ProxyFix
from wtforms import ValidationError

from dripfleet.settings import Settings
from dripfleet.stores import users
from webapp import db
from webapp.secret_key import _is_embedded
from webapp.services import accounts

PUBLIC_ENDPOINTS = frozenset({
    "health.healthz", "auth.register", "auth.login", "openapi.spec", "static",
})
PUBLIC_PREFIXES = ("/api/docs",)
SESSION_KEY = "user_id"
VERSION_KEY = "session_version"
CSRF_HEADERS = ("X-CSRFToken", "X-CSRF-Token")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def current_user() -> dict[str, Any]:
    """The authenticated user of this request (set before the view runs)."""
    return g.user


def current_user_id() -> int:
    """The id of the authenticated user."""
    return int(g.user["id"])


def log_in(user: dict[str, Any]) -> None:
    """Start a cookie session for user (pages and browser clients), under its session version."""
    session.clear()
    session[SESSION_KEY] = int(user["id"])
    session[VERSION_KEY] = int(user["session_version"])
    session.permanent = True


def log_out() -> None:
    """End the cookie session, and every other cookie session of the same user with it."""
    ident = session.get(SESSION_KEY)
    if isinstance(ident, int):
        with db.transaction() as conn:
            # a copy of the cookie (another browser, or a stolen one) must not outlive sign-out,
            # and a signed cookie cannot be recalled: moving the user's version on refuses them all
            users.revoke_sessions(conn, ident)
    session.clear()


def session_user() -> dict[str, Any] | None:
    """The user of the session cookie, or None (no session, or one revoked since it was issued)."""
    ident = session.get(SESSION_KEY)
    if not isinstance(ident, int):
        return None
    # cookies issued before sessions had versions were issued under version 0, every user's first
    version = session.get(VERSION_KEY, 0)
    if not isinstance(version, int):
        version = -1
    with db.transaction() as conn:
        user = users.user_for_session(conn, ident, version)
    if user is None:
        session.clear()  # the browser gets the cookie deleted instead of sending it again
    return user


def renew_session(user_id: int, session_version: int) -> None:
    """Keep this browser signed in after its user's version moved on (own password change)."""
    if session.get(SESSION_KEY) == user_id:
        # the rest stays, the CSRF token included: the page or client carries on with it
        session[VERSION_KEY] = session_version


def client_address() -> str:
    """The caller's address for the login throttle; an IPv6 caller counts as its /64 network.

    request.remote_addr is the TCP peer unless TRUSTED_PROXIES installed ProxyFix, which takes it
    from that many X-Forwarded-For entries: without a trusted proxy the header is the client's
    own words and would let it pick a fresh address for every guess.
    """
    raw = request.remote_addr or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        # one subscriber usually holds a whole /64: counting single addresses would be no limit
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def sign_in(email: str, password: str) -> dict[str, Any]:
    """The user for email + password under the login throttle (TooManyAttempts, BadCredentials)."""
    attempt = _begin_attempt(email)
    with db.transaction() as conn:
        user = accounts.login(conn, email, password)
        accounts.end_login_attempt(conn, attempt)
    return user


def change_password(current_password: str, new_password: str) -> None:
    """Change the signed-in user's password: a wrong current one counts as a failed sign-in.

    Every cookie session of the user ends except this one, which is renewed (when it is one).
    """
    user = current_user()
    accounts.check_new_password(new_password)
    attempt = _begin_attempt(user["email"])
    with db.transaction() as conn:
        version = accounts.change_password(conn, user, current_password, new_password)
        accounts.end_login_attempt(conn, attempt)
    renew_session(int(user["id"]), version)


def _begin_attempt(email: str) -> accounts.LoginAttempt:
    config = current_app.config
    with db.transaction() as conn:
        # committed before the (slow) password check, so parallel guesses already count this
        # one; when the password turns out wrong it simply stays, as a failure
        return accounts.begin_login_attempt(
            conn, email, client_address(), max_failures=config["LOGIN_MAX_FAILURES"],
            window_seconds=config["LOGIN_THROTTLE_SECONDS"])


def too_many_attempts(error: accounts.TooManyAttempts) -> HTTPError:
    """The API's 429 for a throttled sign-in, with Retry-After."""
    return HTTPError(429, error.message, headers={"Retry-After": str(error.retry_after)},
                     extra_data={"code": error.code, "fields": {}})


def cookie_secure(settings: Settings) -> bool:
    """SESSION_COOKIE_SECURE, else on unless this is a local run on the embedded database.

    Local means what lets the app make up its own SECRET_KEY (webapp.secret_key): no
    DATABASE_URL, or the embedded server of `make up`. Anything that names a database server is
    taken for a deployment, served over HTTPS. (Chrome and Firefox accept Secure cookies from
    http://localhost and http://127.0.0.1 as well; other plain-HTTP setups set it to false.)
    """
    if settings.session_cookie_secure is not None:
        return settings.session_cookie_secure
    return not (not settings.database_url or _is_embedded(settings))


def trust_proxies(app: Flask) -> None:
    """Believe TRUSTED_PROXIES reverse proxies' X-Forwarded-For and -Proto (0: none)."""
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def _needs_auth() -> bool:
    if not request.path.startswith("/api/"):
        return False
    public = request.endpoint in PUBLIC_ENDPOINTS or request.path.startswith(PUBLIC_PREFIXES)
    return not public


def _authenticate() -> tuple[dict[str, Any] | None, str]:
    """(the user or None, how: "token" or "session")."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "token"
        with db.transaction() as conn:
            return users.user_for_token(conn, token.strip()), "token"
    return session_user(), "session"


def _check_csrf() -> None:
    """A write on the strength of a cookie must carry the session's CSRF token in a header."""
    token = next((request.headers[name] for name in CSRF_HEADERS if name in request.headers), "")
    try:
        validate_csrf(token)
    except ValidationError as error:
        reason = str(error.args[0]) if error.args else "The CSRF token is invalid."
        raise HTTPError(
            403, f"{reason} A write with the session cookie needs the X-CSRFToken header "
                 "(the token is in the pages' csrf-token meta tag and at GET /api/auth/csrf); "
                 "API clients use a Bearer token instead.",
            extra_data={"code": "csrf_failed", "fields": {"X-CSRFToken": reason}},
        ) from None


def csrf_token() -> str:
    """This session's CSRF token (the one the pages' forms and meta tag carry)."""
    return generate_csrf()


def install(app: APIFlask) -> None:
    """Trust the configured proxies; check credentials (and CSRF on cookie writes) before every
    protected request."""
    trust_proxies(app)
    # the pages set the same: a token lives as long as its session (sessions end at sign-out)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)

    @app.before_request
    def require_auth() -> None:
        g.user = None
        if not _needs_auth() or request.endpoint is None:
            return
        signed_in = isinstance(session.get(SESSION_KEY), int)
        user, how = _authenticate()
        if user is None:
            message = "authentication required: a session cookie or a Bearer token"
            if how == "session" and signed_in:
                message = "the session has ended (signed out or password changed): sign in again"
            raise HTTPError(
                401, message, headers={"WWW-Authenticate": 'Bearer realm="dripfleet"'},
            )
        if (how == "session" and request.method not in SAFE_METHODS
                and app.config.get("WTF_CSRF_ENABLED", True)):
            _check_csrf()
        g.user = user
