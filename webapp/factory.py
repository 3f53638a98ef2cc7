"""Assembles the Flask app: configuration, engine, errors, auth, blueprints, OpenAPI and docs."""

from typing import Any

from apiflask import APIFlask
from flask_swagger_ui import get_swaggerui_blueprint

from dripfleet.database import get_engine, resolve_url
from dripfleet.settings import load_settings
from webapp import auth, converters, errors, metrics, openapi
from webapp.secret_key import resolve_secret_key

SPEC_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"


def build(test_config: dict[str, Any] | None = None) -> APIFlask:
    """Create the application (see webapp.create_app)."""
    settings = load_settings()
    app = APIFlask(
        "webapp", title="dripfleet API", version="1", spec_path=SPEC_PATH, docs_path=None
    )
    app.config.update(
        SETTINGS=settings,
        DATABASE_URL=None,
        MAX_CONTENT_LENGTH=max(settings.max_upload_bytes, settings.max_media_bytes) + 65536,
        MAX_UPLOAD_BYTES=settings.max_upload_bytes,
        MAX_MEDIA_BYTES=settings.max_media_bytes,
        DEFAULT_REGION=settings.default_region,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=auth.cookie_secure(settings),
        TRUSTED_PROXIES=settings.trusted_proxies,
        LOGIN_MAX_FAILURES=settings.login_max_failures,
        LOGIN_THROTTLE_SECONDS=settings.login_throttle_seconds,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = resolve_secret_key(settings, testing=app.testing)
    url = app.config["DATABASE_URL"] or resolve_url(settings)
    app.extensions["dripfleet_engine"] = get_engine(url, pool_size=app.config.get("DB_POOL", 5))
    converters.install(app.url_map)  # before any blueprint adds a rule with <id:…>
    metrics.install(app)  # first: its before_request times everything that follows
    errors.install(app)
    auth.install(app)
    openapi.install(app)
    _register_blueprints(app)
    if app.config.get("PAGES", True):
        _register_pages(app)
    app.register_blueprint(
        get_swaggerui_blueprint(DOCS_PATH, SPEC_PATH, config={"app_name": "dripfleet API"}),
        url_prefix=DOCS_PATH,
    )
    return app


def _register_blueprints(app: APIFlask) -> None:
    from webapp.api import (
        auth as auth_api,
    )
    from webapp.api import (
        health,
    )

    for module in (health, auth_api):
        app.register_blueprint(module.bp)
    for name in ("sequences", "leads", "campaigns", "devices", "media", "monitoring",
                 "messages", "conversations", "results", "webhooks"):
        try:
            module = __import__(f"webapp.api.{name}", fromlist=["bp"])
        except ModuleNotFoundError as error:
            if error.name != f"webapp.api.{name}":
                raise
            continue
        app.register_blueprint(module.bp)


def _register_pages(app: APIFlask) -> None:
    """The HTML pages (webapp/pages, built by its own package) when that package is present."""
    try:
        from webapp import pages
    except ModuleNotFoundError as error:
        if error.name != "webapp.pages":
            raise
        return
    register = getattr(pages, "register", None)
    if register is not None:
        register(app)
