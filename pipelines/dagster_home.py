"""Prepare DAGSTER_HOME and Dagster's storage URL, then exec a Dagster command (no Dagster import).

Dagster reads `dagster.yaml` from DAGSTER_HOME only. `dripfleet dagster -- dagster-daemon run ...`
puts the repository's dagster.yaml there (default DATA_DIR/dagster) and, unless DAGSTER_PG_URL is
set, derives it from DATABASE_URL: psycopg2 driver, search_path `dagster` (migration 0020).
"""

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from dripfleet.database import dagster_url, resolve_url
from dripfleet.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_FILE = REPO_ROOT / "dagster.yaml"
SCHEMA = "dagster"


def dagster_storage_url(database_url: str) -> str:
    """Dagster's storage URL: psycopg2, with its tables in the schema `dagster`."""
    url = make_url(dagster_url(database_url))
    return url.update_query_dict({"options": f"-csearch_path={SCHEMA}"}).render_as_string(
        hide_password=False
    )


def prepare(settings: Settings, environ: dict[str, str]) -> Path:
    """Set DAGSTER_HOME (with dagster.yaml) and DAGSTER_PG_URL in `environ`; returns the home."""
    configured = environ.get("DAGSTER_HOME") or settings.dagster_home
    home = Path(configured or settings.data_dir / "dagster")
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if target.resolve() != INSTANCE_FILE and (
        not target.exists() or target.read_bytes() != INSTANCE_FILE.read_bytes()
    ):
        shutil.copyfile(INSTANCE_FILE, target)
    environ["DAGSTER_HOME"] = str(home)
    if not environ.get("DAGSTER_PG_URL"):
        environ["DAGSTER_PG_URL"] = dagster_storage_url(resolve_url(settings))
    return home


def exec_dagster(settings: Settings, argv: Sequence[str]) -> None:
    """Prepare the environment and replace this process with `argv` (e.g. dagster-webserver)."""
    if not argv:
        raise SystemExit("dripfleet dagster: name the command to run after '--'")
    environ = dict(os.environ)
    prepare(settings, environ)
    os.chdir(REPO_ROOT)  # workspace.yaml and the pipelines package are found from here
    os.execvpe(argv[0], list(argv), environ)  # noqa: S606 - argv is the operator's command
