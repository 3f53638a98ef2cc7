"""WSGI entry point: `gunicorn webapp.wsgi:app`."""

from dripfleet.settings import exit_on_config_error
from webapp import create_app

with exit_on_config_error("webapp"):
    app = create_app()
