"""Auth: register, login / logout (session cookie), the current user, API tokens."""

from apiflask import APIBlueprint

from webapp import auth, db
from webapp.schemas.auth import Login, NewToken, Register, TokenIn, TokenList, User
from webapp.schemas.common import ID_PATH, Deleted
from webapp.services import accounts

bp = APIBlueprint("auth", __name__, tag="Auth", url_prefix="/api")


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
@bp.doc(responses={401: "Wrong email or password"})
def login(body):
    """Sign in with email and password: sets the session cookie."""
    with db.transaction() as conn:
        user = accounts.login(conn, body["email"], body["password"])
    auth.log_in(user)
    return user


@bp.post("/auth/logout")
@bp.output(Deleted, status_code=204)
def logout():
    """End the session."""
    auth.log_out()
    return ""


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
