"""P3: footprint of an idle device host driving 3,000 simulated devices for 60 s.

Figures: total resident memory of the supervisor and its workers, and the statements per second
the host runs while idle. Statements are counted exactly from the server log: the bench database
gets `log_min_duration_statement = 0` and the lines the server appends for it during the idle
window are counted (PG_LOG_FILE, default the Debian path). Where the log cannot be read the figure
falls back to pg_stat_database transactions (which also counts work that is not the host's, so it
overstates). The baseline is what a naive host that polls each device once a second would cost:
3,000 statements/s.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dripfleet.database import libpq_url  # noqa: E402
from dripfleet.migrations import migrate  # noqa: E402

DEVICES = 3000
IDLE = 60.0
LOG_FILE = Path(os.environ.get("PG_LOG_FILE", "/var/log/postgresql/postgresql-15-main.log"))
HOST_ENV = {"DEVICES_PER_WORKER": "750", "SIM_LATENCY_SECONDS": "0", "DEVICE_HOST_PORT": "0",
            "LOG_LEVEL": "WARNING"}


def tree_rss_bytes(pid: int) -> tuple[int, int]:
    """Resident memory of pid and all its descendants; and how many processes."""
    pids, total = [pid], 0
    seen = 0
    while pids:
        current = pids.pop()
        seen += 1
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line for line in status.splitlines()
                              if line.startswith("VmRSS:")).split()[1]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pids.extend(int(c) for c in children)
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            continue
    return total, seen


def transactions(url: str, name: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database"
                            " WHERE datname = %s", (name,)).fetchone()[0]


def log_size() -> int | None:
    try:
        with LOG_FILE.open("rb") as log:
            return log.seek(0, 2)
    except OSError:
        return None


def logged_statements(name: str, start: int) -> int:
    with LOG_FILE.open("rb") as log:
        log.seek(start)
        added = log.read().decode("utf-8", "replace")
    marker = f"@{name} LOG:  duration:"
    return sum(1 for line in added.splitlines() if marker in line and "statement:" in line)


def main() -> None:
    admin = libpq_url(os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
                      or "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"bench_host_footprint_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rpartition("/")[0] + "/" + name
    try:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            user = conn.execute("INSERT INTO users (email) VALUES ('b@example.com')"
                                " RETURNING id").fetchone()[0]
            conn.execute(
                "INSERT INTO devices (user_id, name, status, jid)"
                " SELECT %s, 'd' || g, 'online', 'j' || g FROM generate_series(1, %s) g",
                (user, DEVICES))
        with psycopg.connect(admin, autocommit=True) as conn:
            # before the host connects: the setting applies to new sessions only
            conn.execute(f'ALTER DATABASE "{name}" SET log_min_duration_statement = 0')
        env = {**os.environ, **HOST_ENV, "DATABASE_URL": url}
        host = subprocess.Popen([sys.executable, "-m", "dripfleet.cli", "device-host"], env=env)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                while conn.execute("SELECT count(*) FROM devices WHERE lease_owner IS NOT NULL"
                                   ).fetchone()[0] < DEVICES:
                    time.sleep(0.5)
            time.sleep(5)  # sessions started, first claims done: from here on it is idle
            before, log_start = transactions(admin, name), log_size()
            time.sleep(IDLE)
            after = transactions(admin, name)
            xacts = max(after - before - 2, 0)  # our own two probes are transactions too
            counted = logged_statements(name, log_start) if log_start is not None else None
            rss, processes = tree_rss_bytes(host.pid)
        finally:
            host.terminate()
            host.wait(timeout=60)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    method = "server log" if counted is not None else "pg_stat_database transactions"
    statements = (counted if counted is not None else xacts) / IDLE
    baseline = float(DEVICES)
    rss_mb = rss / 1024 / 1024
    result = {"value": round(statements, 2), "unit": "statements/s", "method": method,
              "baseline": baseline, "ratio": round(statements / baseline, 4),
              "goal": "≤20 statements/s and ≤1.5 GB resident",
              "ok": statements <= 20 and rss_mb <= 1536, "rss_mb": round(rss_mb, 1),
              "processes": processes, "transactions_per_s": round(xacts / IDLE, 2),
              "devices": DEVICES, "idle_s": IDLE, "host": HOST_ENV}
    print("BENCH host_footprint " + json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
