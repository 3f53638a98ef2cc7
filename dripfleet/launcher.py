"""`dripfleet up`: the whole system on one machine, for trying it and for development.

Starts (or reuses) the embedded PostgreSQL unless DATABASE_URL is set, migrates, then runs every
process of the Procfile under honcho with DATABASE_URL pointing at that database. Ctrl-C (SIGINT)
or SIGTERM stops the processes, then the embedded server.
"""

import os
import signal
import sys
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from dripfleet.database import resolve_url
from dripfleet.log_setup import resolve_format
from dripfleet.migrations import MigrationError, migrate
from dripfleet.settings import ConfigError, Settings


def say(line: str) -> None:
    """One status line of `up`, flushed at once (it is read by people and by tests)."""
    print(f"dripfleet up: {line}", flush=True)


def read_procfile(path: Path) -> list[tuple[str, str]]:
    """(name, command) pairs of a Procfile, in order; comments and blank lines skipped."""
    if not path.exists():
        return []
    entries = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, cmd = line.split(":", 1)
        entries.append((name.strip(), cmd.strip()))
    return entries


# share of messages the simulated leads answer under `up` (SIM_REPLY_RATE unset)
UP_SIM_REPLY_RATE = "0.1"


def child_environment(settings: Settings, url: str) -> dict[str, str]:
    """The environment every process of `up` gets: the resolved database and absolute paths."""
    env = dict(os.environ)
    env["DATABASE_URL"] = url
    env["DATA_DIR"] = str(settings.data_dir.resolve())
    env["DAGSTER_HOME"] = str((settings.dagster_home or settings.data_dir / "dagster").resolve())
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    if settings.transport == "neonize":
        env["DEVICE_HOST_COMMAND"] = str(neonize_device_host())
    elif "SIM_REPLY_RATE" not in env:
        # the simulated leads answer some messages under `up`, so the funnels, the inbox and the
        # sequences' on_reply show something; the setting's own default (0) keeps tests quiet
        env["SIM_REPLY_RATE"] = UP_SIM_REPLY_RATE
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # honcho hands the processes a pipe: they write what `up`'s own terminal would get
    env.setdefault("LOG_FORMAT", resolve_format(settings.log_format, sys.stdout))
    return env


def service_urls(settings: Settings, env: dict[str, str]) -> list[str]:
    """What `up` serves where, for people: the Procfile's ports (PORT, DAGSTER_PORT) and the
    settings' (DEVICE_HOST_PORT, WEBHOOKS_PORT)."""
    web = f"http://127.0.0.1:{env.get('PORT') or 8000}"
    dagster = f"http://127.0.0.1:{env.get('DAGSTER_PORT') or 3000}"
    host = f"http://127.0.0.1:{settings.device_host_port}"
    hooks = f"http://127.0.0.1:{settings.webhooks_port}"
    who = ("with Authorization: Bearer $METRICS_TOKEN" if settings.metrics_token
           else "from this machine only")
    return [
        f"web: {web}/",
        f"API docs: {web}/api/docs",
        f"Dagster: {dagster}/ (the every-minute schedule: Automation)",
        f"device host health: {host}/healthz",
        f"metrics ({who}): {web}/metrics {host}/metrics {hooks}/metrics",
    ]


def neonize_device_host() -> Path:
    """The `dripfleet` of .venv-neonize: the real transport cannot run in the main environment
    (neonize needs protobuf 7, Dagster protobuf < 7)."""
    program = Path(__file__).resolve().parent.parent / ".venv-neonize" / "bin" / "dripfleet"
    if not program.exists():
        raise ConfigError(
            "TRANSPORT", f"neonize runs from .venv-neonize, and {program} is missing: run "
            "`make install` (or `TRANSPORT=neonize make up`, which builds it)"
        )
    return program


def describe_database(settings: Settings, url: str) -> str:
    """Where the database is, without its password."""
    if not settings.database_url:
        return f"embedded PostgreSQL in {(settings.data_dir / 'postgres').resolve()}"
    parsed = make_url(url)
    return f"DATABASE_URL {parsed.host or 'local socket'}:{parsed.port or 5432}/{parsed.database}"


def run_up(settings: Settings, procfile: str = "Procfile", demo: bool = True) -> int:
    """Run the whole system until interrupted; returns the exit status."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    if settings.transport == "neonize":
        neonize_device_host()  # fail before starting anything
    url = resolve_url(settings)
    say(f"database: {describe_database(settings, url)}")
    try:
        applied = migrate(url)
    except MigrationError as error:
        say(f"migration failed: {error}")
        return 1
    say(f"migrations: {len(applied)} applied" if applied else "migrations: up to date")
    if demo:
        from dripfleet.database import get_engine
        from dripfleet.demo import ensure_demo

        for line in ensure_demo(get_engine(url), settings):
            say(line)
    processes = read_procfile(Path(procfile))
    env = child_environment(settings, url)
    if not processes:
        say(f"no processes in {procfile}; the database is ready. Ctrl-C to stop.")
        while not stopping.wait(0.5):
            pass
        say("stopped")
        return 0
    if stopping.is_set():
        say("stopped before the processes started")
        return 0
    from honcho.manager import Manager

    manager = Manager()
    for name, cmd in processes:
        manager.add_process(name, cmd, env=env)
        say(f"starting {name}: {cmd}")
    if Path(procfile).resolve() == Path("Procfile").resolve():
        for line in service_urls(settings, env):
            say(line)
    manager.loop()
    say("stopped")
    return manager.returncode or 0
