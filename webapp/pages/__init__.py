"""Server-rendered pages for marketers (Jinja templates in webapp/templates, assets in static/).

Owns HTML views, forms (CSRF-protected) and the small page-only read queries (stores.pages); every
write and every rule goes through webapp.services, exactly as the JSON API does.
"""

import importlib
from types import ModuleType

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from webapp.pages import formatting

csrf = CSRFProtect()


def register(app: Flask) -> None:
    """Install CSRF (pages' forms only), template helpers and every page blueprint."""
    # the JSON API authenticates Bearer tokens and must not demand a form token, so CSRF is only
    # checked where the pages' blueprints ask for it (access.blueprint's before_request)
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    formatting.install(app)
    for area in AREAS:
        module = _area_module(area)
        if module is not None:
            app.register_blueprint(module.bp)


# every page area; an area whose service (being built in the same tree) is not there yet is left
# out, and the navigation and links leave it out too (formatting.page_url)
AREAS = ("accounts", "dashboard", "devices", "leads", "inbox", "sequences", "campaigns",
         "queue", "webhooks")


def _area_module(area: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"webapp.pages.{area}")
    except ImportError as error:
        # `from webapp.services import x` names the package, `import webapp.services.x` the module
        if (error.name or "").startswith("webapp.services"):
            return None
        raise
