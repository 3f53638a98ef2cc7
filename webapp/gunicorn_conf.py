"""gunicorn settings of the web service: `gunicorn -c python:webapp.gunicorn_conf webapp.wsgi:app`.

Sync workers answer a CSV import of up to MAX_UPLOAD_MB in one request (50 MB is about 900,000
rows, 20-30 s here): gunicorn's default 30 s worker timeout would kill such a request half way,
so the timeout is WEB_TIMEOUT_SECONDS (default 120). Bind address and worker count stay on the
command line of each deployment.

Logs go through dripfleet's one setup (dripfleet/log_setup.py: LOG_FORMAT, LOG_LEVEL), gunicorn's
own messages included; the access log stays off (the request counts are in /metrics). The
workers' metrics share a directory made here, before any worker imports prometheus_client
(dripfleet/metrics_dir.py); a worker that exits has its live gauges dropped.
"""

import os
from pathlib import Path

from dripfleet import log_setup, metrics_dir
from dripfleet.settings import exit_on_config_error, load_settings

with exit_on_config_error("webapp"):
    _settings = load_settings()
timeout = _settings.web_timeout_seconds
graceful_timeout = 30
# gunicorn 24+ opens a control socket at $HOME/.gunicorn/gunicorn.ctl by default: one path shared
# by every gunicorn of the user (tests run several at once), for a tool nothing here uses
control_socket_disable = True
logconfig_dict = log_setup.gunicorn_logconfig(_settings.log_level, _settings.log_format)

_metrics: dict[str, Path] = {}


def on_starting(server: object) -> None:
    """In the master, before any worker: the directory the workers count into."""
    _metrics["dir"] = metrics_dir.make_dir("web")
    os.environ[metrics_dir.ENV] = str(_metrics["dir"])


def child_exit(server: object, worker: object) -> None:
    """A worker is gone: its gauges no longer count (its counters do)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(_metrics["dir"]))  # type: ignore[attr-defined]


def on_exit(server: object) -> None:
    """gunicorn stops: its metric files go with it."""
    metrics_dir.remove_dir(_metrics.get("dir"))
