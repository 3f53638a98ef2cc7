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
    """A fresh, empty directory for one service's processes' metric files (named after this
    process; those of processes that died without cleaning up, kill -9, are removed)."""
    base = Path(os.environ.get(ENV) or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    for old in base.glob(f"dripfleet-{service}-metrics-*-*"):
        pid = old.name.rsplit("-", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"dripfleet-{service}-metrics-{os.getpid()}-", dir=base))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
