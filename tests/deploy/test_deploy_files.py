"""The deploy files name real commands, documented variables and real health endpoints.

No Docker engine runs here, so the compose file and the Railway configs are checked statically
against the project: every command resolves to a console script or an installed program, every
variable they use is documented, and every health path is served by the app that owns it.
"""

import json
import os
import re
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCUMENTED = (ROOT / "README.md").read_text() + (ROOT / "deploy" / "README.md").read_text()
VENV_BIN = Path(shutil.which("dripfleet") or ROOT / ".venv" / "bin" / "dripfleet").parent
# programs that come from the base image, not from the project
IMAGE_PROGRAMS = {"python", "sh", "pg_isready"}
CONSOLE_SCRIPTS = {"dripfleet", "gunicorn", "dagster-webserver", "dagster-daemon"}


def _program(command: list[str]) -> str:
    return Path(command[0]).name


def test_every_service_command_exists_in_the_project():
    for name, service in SERVICES.items():
        command = service.get("command")
        if command is None:
            assert "image" in service and name == "postgres", name
            continue
        program = _program(command)
        assert program in CONSOLE_SCRIPTS, f"{name}: {program} is not one of our commands"
        assert (VENV_BIN / program).exists(), f"{name}: {program} is not installed"
        if program == "dripfleet":
            from dripfleet.cli import _COMMANDS

            assert command[1] in _COMMANDS, f"{name}: no subcommand {command[1]!r}"
        if "webapp.wsgi:app" in command:
            from webapp import wsgi

            assert wsgi.app is not None


def test_dagster_commands_point_at_the_workspace_file():
    for name in ("dagster-webserver", "dagster-daemon"):
        command = SERVICES[name]["command"]
        assert command[:3] == ["dripfleet", "dagster", "--"]
        workspace = command[command.index("-w") + 1]
        assert (ROOT / workspace).exists()


def test_every_variable_is_documented():
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (ROOT / "docker-compose.yml").read_text()))
    for service in SERVICES.values():
        environment = service.get("environment") or {}
        used.update(k for k in environment if not k.startswith("<<"))
    for path in (ROOT / "deploy" / "railway").glob("*.json"):
        used.update(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", path.read_text()))
    used -= {"POSTGRES_USER", "POSTGRES_DB"}  # the postgres image's own variables, set inline
    missing = sorted(v for v in used if f"`{v}`" not in DOCUMENTED)
    assert missing == [], f"variables used by the deploy files but not documented: {missing}"


def test_health_checks_point_at_real_endpoints(database_url):
    from webapp import create_app

    client = create_app({"TESTING": True, "DATABASE_URL": database_url}).test_client()
    web = " ".join(SERVICES["web"]["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1:\d+(/\S*?)'", web).group(1)
    assert client.get(path).status_code == 200
    dagster = " ".join(SERVICES["dagster-webserver"]["healthcheck"]["test"])
    assert "/server_info" in dagster  # served by dagster-webserver (checked live in test_make_up)
    device = " ".join(SERVICES["device-host"]["healthcheck"]["test"])
    assert ":8001/healthz" in device
    assert SERVICES["device-host"]["environment"]["DEVICE_HOST_PORT"] == "8001"


def test_railway_configs_name_real_commands_and_paths():
    files = (ROOT / "deploy" / "railway").glob("*.json")
    configs = {path.stem: json.loads(path.read_text()) for path in files}
    assert set(configs) == {"web", "dagster-webserver", "dagster-daemon", "device-host",
                            "webhooks"}
    expected_health = {"web": "/healthz", "dagster-webserver": "/server_info",
                       "device-host": "/healthz"}
    for name, config in configs.items():
        assert config["build"]["dockerfilePath"] == "Dockerfile"
        assert (ROOT / config["build"]["dockerfilePath"]).exists()
        start = config["deploy"]["startCommand"]
        programs = re.findall(r"(?:exec |^)(\S+)", start)
        for program in programs:
            name_only = Path(program).name
            assert name_only in CONSOLE_SCRIPTS | IMAGE_PROGRAMS, f"{name}: {program}"
        assert config["deploy"].get("healthcheckPath") == expected_health.get(name)
    assert configs["web"]["deploy"]["preDeployCommand"] == ["dripfleet migrate"]


def test_the_webhooks_dispatcher_runs_everywhere_the_system_runs():
    """Procfile (make up), compose and Railway all run `dripfleet webhooks`."""
    from dripfleet.cli import _COMMANDS
    from dripfleet.launcher import read_procfile

    assert "webhooks" in _COMMANDS
    assert dict(read_procfile(ROOT / "Procfile"))["webhooks"] == "exec dripfleet webhooks"
    assert SERVICES["webhooks"]["command"] == ["dripfleet", "webhooks"]
    # SIGTERM lets in-flight sends (15 s at most) finish and be recorded
    assert SERVICES["webhooks"]["stop_grace_period"] == "40s"
    railway = json.loads((ROOT / "deploy" / "railway" / "webhooks.json").read_text())
    assert railway["deploy"]["startCommand"] == "dripfleet webhooks"
    assert railway["deploy"]["drainingSeconds"] >= 20


def test_every_web_server_command_loads_the_gunicorn_settings():
    """A long CSV import must not meet gunicorn's default 30 s worker timeout anywhere."""
    commands = {
        "Procfile": (ROOT / "Procfile").read_text(),
        "Dockerfile": (ROOT / "Dockerfile").read_text(),
        "docker-compose.yml": " ".join(SERVICES["web"]["command"]),
        "railway web": json.loads((ROOT / "deploy" / "railway" / "web.json").read_text())
        ["deploy"]["startCommand"],
    }
    for where, text in commands.items():
        for line in text.splitlines():
            if "gunicorn " in line and "webapp.wsgi:app" in line:
                assert "-c python:webapp.gunicorn_conf" in line, f"{where}: {line}"


def test_gunicorn_settings_take_the_timeout_from_the_environment():
    import subprocess
    import sys

    code = "import webapp.gunicorn_conf as c; print(c.timeout)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "WEB_TIMEOUT_SECONDS": "300"}, timeout=60)
    assert run.stdout.strip() == "300", run.stderr
    bad = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "WEB_TIMEOUT_SECONDS": "soon"}, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "WEB_TIMEOUT_SECONDS" in bad.stderr


def test_the_image_copies_every_package_the_project_installs():
    """A package missing from the Dockerfile's COPY lines breaks its service only at start."""
    import re
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.M))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
