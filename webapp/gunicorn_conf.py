"""gunicorn settings of the web service: `gunicorn -c python:webapp.gunicorn_conf webapp.wsgi:app`.

Sync workers answer a CSV import of up to MAX_UPLOAD_MB in one request (50 MB is about 900,000
rows, 20-30 s here): gunicorn's default 30 s worker timeout would kill such a request half way,
so the timeout is WEB_TIMEOUT_SECONDS (default 120). Bind address and worker count stay on the
command line of each deployment.
"""

from dripfleet.settings import exit_on_config_error, load_settings

with exit_on_config_error("webapp"):
    timeout = load_settings().web_timeout_seconds
graceful_timeout = 30
