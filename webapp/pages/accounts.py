"""Sign in, create an account, sign out, change the password: the same accounts service, login
throttle and session as the API."""

from flask import flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webapp import auth, db
from webapp.pages import access
from webapp.pages.formatting import page_url
from webapp.schemas.auth import Login, Register
from webapp.services import accounts
from webapp.services.errors import ServiceError

bp = access.blueprint("pages_accounts", __name__, public=True)


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int, dict[str, str]]:
    """The sign-in form; on success, back to where the user was going."""
    target = access.safe_next(request.values.get("next"), url_for("pages_dashboard.index"))
    if request.method == "GET":
        return render_template("auth/login.html", next=target, email="")
    values = access.form_values("email")
    try:
        body = access.load(Login, {**values, "password": request.form.get("password", "")})
        user = auth.sign_in(body["email"], body["password"])
    except ServiceError as error:
        flash(error.message, "error")
        page = render_template("auth/login.html", next=target, email=values["email"])
        return page, error.status, _retry_after(error)
    auth.log_in(user)
    flash(f"Signed in as {user['email']}.", "ok")
    return redirect(target)


@bp.route("/register", methods=["GET", "POST"])
def register() -> str | Response:
    """Create an account, then sign in."""
    values = access.form_values("email", "name", "timezone")
    if request.method == "GET":
        return render_template("auth/register.html", values=values, errors={})
    try:
        body = access.load(Register, {**values, "timezone": values["timezone"] or "UTC",
                                      "password": request.form.get("password", "")})
        with db.transaction() as conn:
            user = accounts.register(conn, body["email"], body["password"], body["name"],
                                     body["timezone"])
    except ServiceError as error:
        flash(error.message, "error")
        return render_template("auth/register.html", values=values, errors=error.fields), \
            error.status
    auth.log_in(user)
    flash("Welcome to dripfleet: add a device to start.", "ok")
    return redirect(page_url("pages_devices.index") or url_for("pages_dashboard.index"))


@bp.post("/logout")
def logout() -> Response:
    """End the session (and the user's sessions in other browsers)."""
    auth.log_out()
    flash("Signed out.", "ok")
    return redirect(url_for("pages_accounts.login"))


@bp.route("/account", methods=["GET", "POST"])
def account() -> str | Response | tuple[str, int, dict[str, str]]:
    """The signed-in user's account: change the password."""
    if g.user is None:
        return redirect(url_for("pages_accounts.login", next=url_for("pages_accounts.account")))
    if request.method == "GET":
        return render_template("auth/account.html", errors={})
    try:
        auth.change_password(request.form.get("current_password", ""),
                             request.form.get("new_password", ""))
    except ServiceError as error:
        flash(error.message, "error")
        page = render_template("auth/account.html", errors=error.fields)
        return page, error.status, _retry_after(error)
    flash("Password changed: other browsers signed in to this account are signed out.", "ok")
    return redirect(url_for("pages_accounts.account"))


def _retry_after(error: ServiceError) -> dict[str, str]:
    if isinstance(error, accounts.TooManyAttempts):
        return {"Retry-After": str(error.retry_after)}
    return {}
