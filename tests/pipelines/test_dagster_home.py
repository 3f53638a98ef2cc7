"""`dripfleet dagster`: DAGSTER_HOME gets dagster.yaml; the storage URL is psycopg2 + schema."""

from pathlib import Path

from sqlalchemy.engine import make_url

from dripfleet.settings import Settings
from pipelines.dagster_home import INSTANCE_FILE, dagster_storage_url, prepare


def test_storage_url_uses_psycopg2_and_the_dagster_schema():
    url = make_url(dagster_storage_url("postgres://u:p@db.example:5433/app?sslmode=require"))
    assert url.drivername == "postgresql+psycopg2"
    assert (url.host, url.port, url.database, url.password) == ("db.example", 5433, "app", "p")
    assert url.query == {"sslmode": "require", "options": "-csearch_path=dagster"}


def test_prepare_puts_the_instance_file_in_the_home(tmp_path: Path):
    settings = Settings(database_url="postgresql://u@h/app", data_dir=tmp_path)
    environ: dict[str, str] = {}
    home = prepare(settings, environ)
    assert home == (tmp_path / "dagster").resolve()
    assert (home / "dagster.yaml").read_bytes() == INSTANCE_FILE.read_bytes()
    assert environ["DAGSTER_HOME"] == str(home)
    assert environ["DAGSTER_PG_URL"].startswith("postgresql+psycopg2://u@h/app?options=")
    # an explicit DAGSTER_PG_URL (deployment) is kept
    environ = {"DAGSTER_PG_URL": "postgresql+psycopg2://other/db"}
    prepare(settings, environ)
    assert environ["DAGSTER_PG_URL"] == "postgresql+psycopg2://other/db"
