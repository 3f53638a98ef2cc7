"""`dripfleet up` on the embedded default: starts, migrates, runs the Procfile, stops cleanly."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from dripfleet.migrations import discover


def processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def wait_for_line(proc, needle, seen, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if needle in line:
            return True
    return False


def test_up_on_embedded_default_starts_migrates_and_stops_leaving_nothing(open_tmp_path):
    tmp_path = open_tmp_path
    data_dir = tmp_path / "data"
    marker = f"dripfleet-up-test-{os.getpid()}"
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"sleeper: {sys.executable} -c \"import time; print('ready {marker}', flush=True); "
        f'time.sleep(600)" {marker}\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env.update(DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dripfleet.cli", "up", "--procfile", str(procfile)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert wait_for_line(proc, f"| ready {marker}", seen, 120), "".join(seen)
        text = "".join(seen)
        assert "embedded PostgreSQL in" in text and str(data_dir) in text
        assert f"migrations: {len(discover())} applied" in text
        assert "starting sleeper" in text
        socket_dir = data_dir / "postgres"
        with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres") as conn:
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] >= 1
        assert processes_mentioning(marker), "the Procfile process should be running"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        rest = proc.stdout.read()
        proc.stdout.close()
    assert proc.returncode is not None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (
        processes_mentioning(marker) or processes_mentioning(str(data_dir))
    ):
        time.sleep(0.2)
    assert processes_mentioning(marker) == [], rest
    assert processes_mentioning(str(data_dir)) == [], "embedded PostgreSQL left running"


def test_up_keeps_data_between_runs_and_reports_nothing_to_apply(open_tmp_path):
    tmp_path = open_tmp_path
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env.update(DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    outputs = []
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "dripfleet.cli", "up", "--procfile", str(tmp_path / "none")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        seen: list[str] = []
        assert wait_for_line(proc, "Ctrl-C to stop", seen, 120), "".join(seen)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        proc.stdout.close()
        outputs.append("".join(seen))
    assert f"migrations: {len(discover())} applied" in outputs[0]
    assert "migrations: up to date" in outputs[1]
