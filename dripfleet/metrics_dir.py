"""Where the processes of one service share their Prometheus counters (multiprocess mode).

prometheus_client decides at import whether values live in memory or in files under
PROMETHEUS_MULTIPROC_DIR, so the directory is made, and named in the environment, before any
process of the family imports it: gunicorn's master does it in webapp/gunicorn_conf.py (its workers
inherit it), the device host's supervisor around each worker's start. Each service gets a fresh
directory of its own under PROMETHEUS_MULTIPROC_DIR (when set) or the temporary folder, so that a
restart starts from zero and two services never count into one another's files.

This module must not import prometheus_client (dripfleet/metrics.py holds the metrics).
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def make_dir(service: str) -> Path:
    """A fresh, empty directory for one service's processes' metric files."""
    base = os.environ.get(ENV) or None
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"dripfleet-{service}-metrics-", dir=base))


def remove_dir(path: Path | None) -> None:
    """Delete a directory made by make_dir (when the service stops)."""
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def exported(path: Path | None) -> Iterator[None]:
    """ENV names path for processes started in this block; this process's own value is kept
    (its prometheus_client was imported already, and a test process must not change mode)."""
    if path is None:
        yield
        return
    before = os.environ.get(ENV)
    os.environ[ENV] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
