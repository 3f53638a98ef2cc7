"""`make up` on a fresh data folder: all processes answer, the demo delivers, Ctrl-C leaves nothing,
and the output stays quiet: every URL once at start, then no Dagster step DEBUG lines, no warning,
and well under 100 lines for three minutes.

This runs the real thing: embedded PostgreSQL, migrations, the demo workspace, the Dagster
webserver and daemon (the every-minute schedule), gunicorn and the simulated device host, all from
the Procfile. Bounded in time: the demo's sequence and campaign are due within two minutes.
"""

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 300
# acceptance (issue 16): fewer than 100 lines in 3 minutes after start-up, i.e. per minute tick
LINES_PER_TICK = 33
# what a quiet `make up` never prints: Dagster's per-step events, its retired code servers'
# heartbeat warning, and any warning or error of our processes (JSON lines) or Dagster's
NOISE = ("- DEBUG -", "No heartbeat received", '"level": "WARNING"', '"level": "ERROR"',
         '"level": "CRITICAL"', " - WARNING - ", " - ERROR - ", "Traceback")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every live process below pid (walks /proc once)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def processes_with_env(needle: bytes) -> set[int]:
    """Processes whose environment contains needle (e.g. DATA_DIR=<this test's folder>)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def alive(pids: set[int]) -> set[int]:
    still = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            still.add(pid)
    return still


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=3).status_code == 200
    except requests.RequestException:
        return False


def delivered(socket_dir: Path) -> int:
    try:
        with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres",
                             connect_timeout=3) as conn:
            return conn.execute("SELECT count(*) FROM sim_deliveries").fetchone()[0]
    except psycopg.Error:
        return 0


def test_make_up_runs_the_demo_and_stops_leaving_nothing(open_tmp_path):
    tmp_path = open_tmp_path
    data_dir = tmp_path / "data"
    web, dagster, host, hooks = free_port(), free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    env.update(
        DATA_DIR=str(data_dir), PORT=str(web), DAGSTER_PORT=str(dagster),
        DEVICE_HOST_PORT=str(host), WEBHOOKS_PORT=str(hooks), MIN_DELAY_SECONDS="0.5",
        MAX_DELAY_SECONDS="1", PYTHONUNBUFFERED="1",
    )
    for name in ("DAGSTER_HOME", "LOG_FORMAT", "DAGSTER_LOG_LEVEL", "METRICS_TOKEN"):
        env.pop(name, None)
    output: list[str] = []
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "up"], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
    reader.start()
    seen: dict[str, float] = {}
    started = time.monotonic()
    tree: set[int] = set()
    try:
        checks = {
            "web /healthz": lambda: answers(f"http://127.0.0.1:{web}/healthz"),
            "API docs": lambda: answers(f"http://127.0.0.1:{web}/api/docs/"),
            "Dagster /server_info": lambda: answers(f"http://127.0.0.1:{dagster}/server_info"),
            "device host /healthz": lambda: answers(f"http://127.0.0.1:{host}/healthz"),
            "web /metrics": lambda: answers(f"http://127.0.0.1:{web}/metrics"),
            "device host /metrics": lambda: answers(f"http://127.0.0.1:{host}/metrics"),
            "webhooks /metrics": lambda: answers(f"http://127.0.0.1:{hooks}/metrics"),
            "a demo message delivered": lambda: delivered(data_dir / "postgres") > 0,
        }
        while len(seen) < len(checks) and time.monotonic() - started < DEADLINE_SECONDS:
            assert proc.poll() is None, "make up exited early:\n" + "".join(output[-60:])
            for name, check in checks.items():
                if name not in seen and check():
                    seen[name] = round(time.monotonic() - started, 1)
            tree |= descendants(proc.pid)
            time.sleep(2)
        missing = [name for name in checks if name not in seen]
        assert not missing, f"not seen within {DEADLINE_SECONDS}s: {missing} (seen: {seen})\n" + (
            "".join(output[-80:])
        )
        text = "".join(output)
        assert "demo login: demo@dripfleet.local / " in text
        assert "demo API token: " in text
        for url in (f"http://127.0.0.1:{web}/", f"http://127.0.0.1:{web}/api/docs",
                    f"http://127.0.0.1:{dagster}/", f"http://127.0.0.1:{host}/healthz",
                    f"http://127.0.0.1:{web}/metrics", f"http://127.0.0.1:{host}/metrics",
                    f"http://127.0.0.1:{hooks}/metrics"):
            assert f" {url}" in text, f"make up did not print {url}"
        assert_quiet(list(output))
        tree |= descendants(proc.pid)
    finally:
        # Ctrl-C in a terminal signals the whole foreground process group
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        reader.join(timeout=10)
        proc.stdout.close()
    deadline = time.monotonic() + 20
    left = alive(tree) | processes_with_env(f"DATA_DIR={data_dir}".encode())
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = alive(tree) | processes_with_env(f"DATA_DIR={data_dir}".encode())
    assert not left, f"processes left behind: {sorted(left)}"
    postgres_left = [p for p in alive(descendants(1)) if _mentions(p, str(data_dir))]
    assert not postgres_left, "the embedded PostgreSQL was left running"


def assert_quiet(lines: list[str]) -> None:
    """No noise at all, and from the first schedule tick on at most LINES_PER_TICK lines per
    tick seen (a clock-free form of "fewer than 100 lines in 3 minutes")."""
    noisy = [line for line in lines if any(word in line for word in NOISE)]
    assert not noisy, "make up printed noise:\n" + "".join(noisy[:20])
    ticks = [i for i, line in enumerate(lines) if "Evaluating schedule" in line]
    assert ticks, "no schedule tick seen:\n" + "".join(lines[-40:])
    after = lines[ticks[0]:]
    assert len(after) <= LINES_PER_TICK * len(ticks), (
        f"{len(after)} lines over {len(ticks)} tick(s):\n" + "".join(after))


def _mentions(pid: int, needle: str) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return False
