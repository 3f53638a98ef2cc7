import shutil
import subprocess
import sys

import psycopg
import pytest

from dripfleet.database import libpq_url
from dripfleet.migrations import MIGRATIONS_DIR, MigrationError, discover, migrate


def _recorded(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute(
            "SELECT name, count(*) FROM schema_migrations GROUP BY name ORDER BY name"
        ).fetchall()


def _cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "dripfleet.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_twice_applies_nothing_the_second_time(empty_database_url):
    first = _cli(empty_database_url, "migrate")
    assert first.returncode == 0, first.stderr
    assert "applied 0001_core.sql" in first.stdout
    second = _cli(empty_database_url, "migrate")
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    assert _recorded(empty_database_url) == [(m.name, 1) for m in discover()]


def test_concurrent_migrate_runs_each_migration_once(empty_database_url):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": empty_database_url}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "dripfleet.cli", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    applied_lines = sum(out.count("applied 0001_core.sql") for out, _ in outputs)
    assert applied_lines == 1
    assert _recorded(empty_database_url) == [(m.name, 1) for m in discover()]


def test_edited_migration_is_refused_naming_the_file(empty_database_url, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    migrate(empty_database_url, folder)
    edited = sorted(folder.glob("*.sql"))[0]
    edited.write_text(edited.read_text() + "\n-- a harmless-looking edit\n")
    with pytest.raises(MigrationError, match=edited.name):
        migrate(empty_database_url, folder)


def test_failed_migration_rolls_back_and_names_itself(empty_database_url, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    (folder / "9998_good_then_bad.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n"
    )
    with pytest.raises(MigrationError, match="9998_good_then_bad.sql failed"):
        migrate(empty_database_url, folder)
    with psycopg.connect(libpq_url(empty_database_url)) as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)
    assert "9998_good_then_bad.sql" not in dict(_recorded(empty_database_url))


def test_misnamed_migration_file_is_refused(tmp_path):
    (tmp_path / "1_oops.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="NNNN_name.sql"):
        discover(tmp_path)
