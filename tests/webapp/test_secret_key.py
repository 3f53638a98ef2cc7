"""SECRET_KEY: from the environment, generated once for local runs, else a clear config error."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dripfleet.settings import ConfigError, Settings
from webapp.secret_key import resolve_secret_key


def test_environment_value_wins(tmp_path):
    settings = Settings(secret_key="from-env", data_dir=tmp_path,
                        database_url="postgresql://db.example.com/x")
    assert resolve_secret_key(settings) == "from-env"


def test_local_run_generates_one_key_once(tmp_path):
    settings = Settings(data_dir=tmp_path)
    first = resolve_secret_key(settings)
    assert len(first) == 64
    assert resolve_secret_key(settings) == first
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [key_file]


def test_embedded_database_of_dripfleet_up_counts_as_local(tmp_path):
    socket = tmp_path / "postgres"
    url = f"postgresql://postgres:@/postgres?host={socket}"
    key = resolve_secret_key(Settings(data_dir=tmp_path, database_url=url))
    assert (tmp_path / "secret_key").read_text().strip() == key


def test_embedded_socket_outside_data_dir_found_through_postmaster_pid(tmp_path):
    pgdata = tmp_path / "postgres"
    pgdata.mkdir()
    socket = tmp_path / "runtime" / "abc123"
    socket.mkdir(parents=True)
    (pgdata / "postmaster.pid").write_text(f"123\n{pgdata}\n1700000000\n5432\n{socket}\n\n")
    url = f"postgresql://postgres:@/postgres?host={socket}"
    assert resolve_secret_key(Settings(data_dir=tmp_path, database_url=url))


def test_server_database_without_key_is_a_config_error(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url="postgresql://db.example.com/x")
    with pytest.raises(ConfigError) as caught:
        resolve_secret_key(settings)
    assert caught.value.variable == "SECRET_KEY"
    assert not (tmp_path / "secret_key").exists()


def test_wsgi_exits_with_one_line_naming_secret_key(tmp_path):
    env = {**os.environ, "DATABASE_URL": "postgresql://db.example.com/x",
           "DATA_DIR": str(tmp_path)}
    env.pop("SECRET_KEY", None)
    result = subprocess.run([sys.executable, "-c", "import webapp.wsgi"], env=env,
                            capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if "SECRET_KEY" in line]
    assert "webapp: configuration error: SECRET_KEY" in result.stderr
