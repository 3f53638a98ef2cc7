"""Auth: register, login / logout (session cookie), password, CSRF token, the current user,
API tokens."""

from apiflask import APIBlueprint

from webapp import auth, db
from webapp.schemas.auth import (
    ChangePassword,
    CsrfToken,
    Login,
    NewToken,
    Register,
    TokenIn,
    TokenList,
    User,
)
from webapp.schemas.common import ID_PATH, Deleted
from webapp.services import accounts

bp = APIBlueprint("auth", __name__, tag="Auth", url_prefix="/api")

_THROTTLED = {
    "description": "Too many failed sign-ins for this account or from this address",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    "headers": {"Retry-After": {"description": "seconds to wait before the next attempt",
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}


@bp.post("/auth/register")
@bp.input(Register, arg_name="body")
@bp.output(User, status_code=201)
@bp.doc(responses={409: "Email already registered"})
def register(body):
    """Create an account and sign in (session cookie)."""
    with db.transaction() as conn:
        user = accounts.register(conn, body["email"], body["password"], body["name"],
                                 body["timezone"])
    auth.log_in(user)
    return user, 201


@bp.post("/auth/login")
@bp.input(Login, arg_name="body")
@bp.output(User)
@bp.doc(responses={401: "Wrong email or password", 429: _THROTTLED})
def login(body):
    """Sign in with email and password: sets the session cookie.

    After LOGIN_MAX_FAILURES (10) failed attempts within LOGIN_THROTTLE_SECONDS (15 minutes), for
    one account or from one address, the next attempts answer 429 with Retry-After.
    """
    try:
        user = auth.sign_in(body["email"], body["password"])
    except accounts.TooManyAttempts as error:
        raise auth.too_many_attempts(error) from None
    auth.log_in(user)
    return user


@bp.post("/auth/logout")
@bp.output(Deleted, status_code=204)
def logout():
    """End the session: every session cookie of the user stops working (API tokens do not)."""
    auth.log_out()
    return ""


@bp.post("/auth/password")
@bp.input(ChangePassword, arg_name="body")
@bp.output(Deleted, status_code=204)
@bp.doc(responses={429: _THROTTLED})
def change_password(body):
    """Change the password: the user's other session cookies stop working; API tokens stay.

    A wrong current_password (422) counts as a failed sign-in for the login throttle.
    """
    try:
        auth.change_password(body["current_password"], body["new_password"])
    except accounts.TooManyAttempts as error:
        raise auth.too_many_attempts(error) from None
    return ""


@bp.get("/auth/csrf")
@bp.output(CsrfToken)
def csrf_token():
    """The CSRF token a session-cookie client sends as X-CSRFToken on writes (not for tokens)."""
    return {"csrf_token": auth.csrf_token()}


@bp.get("/auth/me")
@bp.output(User)
def me():
    """The signed-in user."""
    with db.transaction() as conn:
        return accounts.profile(conn, auth.current_user_id())


@bp.post("/tokens")
@bp.input(TokenIn, arg_name="body")
@bp.output(NewToken, status_code=201)
def create_token(body):
    """Create an API token; the response is the only time the token is shown."""
    with db.transaction() as conn:
        return accounts.create_token(conn, auth.current_user_id(), body["name"]), 201


@bp.get("/tokens")
@bp.output(TokenList)
def list_tokens():
    """The user's API tokens (prefix only)."""
    with db.transaction() as conn:
        return {"items": accounts.list_tokens(conn, auth.current_user_id())}


@bp.delete(f"/tokens/<{ID_PATH}:token_id>")
@bp.output(Deleted, status_code=204)
def delete_token(token_id: int):
    """Revoke a token."""
    with db.transaction() as conn:
        accounts.revoke_token(conn, auth.current_user_id(), token_id)
    return ""
