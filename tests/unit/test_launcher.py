from pathlib import Path

from dripfleet.launcher import UP_SIM_REPLY_RATE, child_environment, read_procfile
from dripfleet.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_procfile_runs_every_process_of_the_system():
    names = [name for name, _ in read_procfile(ROOT / "Procfile")]
    assert sorted(names) == ["dagster-daemon", "dagster-web", "devices", "web", "webhooks"]


def test_neonize_transport_runs_the_device_host_from_its_own_environment(tmp_path):
    env = child_environment(Settings(transport="neonize", data_dir=tmp_path), "postgresql://x/y")
    assert env["DEVICE_HOST_COMMAND"] == str(ROOT / ".venv-neonize" / "bin" / "dripfleet")
    assert Path(env["DEVICE_HOST_COMMAND"]).exists()
    devices = dict(read_procfile(ROOT / "Procfile"))["devices"]
    assert "${DEVICE_HOST_COMMAND:-dripfleet} device-host" in devices


def test_simulated_transport_uses_the_main_environment(tmp_path):
    env = child_environment(Settings(transport="simulated", data_dir=tmp_path), "postgresql://x/y")
    assert "DEVICE_HOST_COMMAND" not in env
    assert env["DATABASE_URL"] == "postgresql://x/y"
    assert env["DAGSTER_HOME"] == str((tmp_path / "dagster").resolve())


def test_up_lets_simulated_leads_answer_unless_told_otherwise(tmp_path, monkeypatch):
    settings = Settings(transport="simulated", data_dir=tmp_path)
    monkeypatch.delenv("SIM_REPLY_RATE", raising=False)
    assert child_environment(settings, "postgresql://x/y")["SIM_REPLY_RATE"] == UP_SIM_REPLY_RATE
    monkeypatch.setenv("SIM_REPLY_RATE", "0")
    assert child_environment(settings, "postgresql://x/y")["SIM_REPLY_RATE"] == "0"
