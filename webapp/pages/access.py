"""Who is looking at a page: the session user, login redirects, CSRF on posts, 404 pages."""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from webapp import auth
from webapp.services.errors import Conflict, NotFound, ServiceError


def blueprint(name: str, import_name: str, public: bool = False) -> Blueprint:
    """A page blueprint: loads the session user, sends strangers to login, checks CSRF on posts."""
    bp = Blueprint(name, import_name)
    # pages are not API operations: APIFlask reads this flag on every blueprint with a
    # before_request function while it builds /api/openapi.json
    bp.enable_openapi = False  # type: ignore[attr-defined]

    @bp.before_request
    def load_user() -> Response | None:
        g.user = _session_user()
        if g.user is None and not public:
            # after signing in, come back to the page (a form's target cannot be revisited)
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("pages_accounts.login", next=target))
        if request.method == "POST" and current_app.config.get("WTF_CSRF_ENABLED", True):
            from webapp.pages import csrf

            csrf.protect()
        return None

    bp.register_error_handler(404, _not_found)
    bp.register_error_handler(NotFound, _not_found)
    bp.register_error_handler(CSRFError, _csrf_failed)
    bp.register_error_handler(ServiceError, _refused)
    bp.register_error_handler(413, _too_large)
    return bp


def user_id() -> int:
    """The signed-in user's id (pages behind blueprint() only)."""
    return int(g.user["id"])


def _session_user() -> dict[str, Any] | None:
    # None for a session ended by sign-out or a password change (elsewhere too): back to login
    return auth.session_user()


def safe_next(target: str | None, default: str) -> str:
    """A redirect target on this site only (never an open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def back(default: str) -> Response:
    """Redirect to the page the form came from (same site), else to default."""
    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if parts.netloc and parts.netloc != request.host:
        return redirect(default)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return redirect(safe_next(path or None, default))


def _not_found(error: Exception) -> tuple[str, int]:
    return render_template("errors/404.html"), 404


def _csrf_failed(error: CSRFError) -> Response:
    flash("The form had expired; please try again.", "error")
    return back(url_for("pages_dashboard.index"))


def _too_large(error: Exception) -> Response:
    limit = current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    flash(f"The file is too large (the limit is about {limit} MB).", "error")
    return back(url_for("pages_dashboard.index"))


def _refused(error: ServiceError) -> Response:
    detail = "; ".join(f"{k}: {v}" for k, v in error.fields.items() if k != "_")
    flash(f"{error.message}" + (f" ({detail})" if detail and detail not in error.message else ""),
          "error")
    return back(url_for("pages_dashboard.index"))


def form_values(*names: str) -> dict[str, str]:
    """The named form fields, stripped; absent ones as ''."""
    return {name: request.form.get(name, "").strip() for name in names}



def load(schema: type, data: dict[str, Any]) -> dict[str, Any]:
    """Validate form data with the API's own schema; Invalid (naming each field) when it fails."""
    from marshmallow import ValidationError

    from webapp.errors import flatten_fields
    from webapp.services.errors import Invalid

    try:
        return schema().load(data)
    except ValidationError as error:
        raise Invalid(flatten_fields(error.messages)) from None


def form_errors(error: ServiceError, field_of: Callable[[str], str]) -> dict[str, str]:
    """A refused form's reasons by its inputs: field_of maps a service field (e.g. "events.3")
    to the form's input name, or "_" for a reason shown under the form. A one-off send to an
    opted-out number says so by its phone input."""
    if isinstance(error, Conflict):
        if error.fields.get("lead_id") == "opted out":
            return {"phone": "this number has opted out: nothing is sent to it"}
        return {"_": error.message}
    out: dict[str, str] = {}
    for name, reason in error.fields.items():
        field = field_of(name)
        out[field] = f"{out[field]}; {reason}" if field in out else reason
    return out or {"_": error.message}
