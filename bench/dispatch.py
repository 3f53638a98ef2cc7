"""P1: dispatch throughput of one device host, beside a raw SQL claim loop, same database.

3,000 simulated devices with zero delay and zero latency, 100,000 queued messages; a real
`dripfleet device-host` (supervisor + worker processes) sends them all, while every message gets a
delivery and a read receipt that the host records (`receipts_per_s`: timeline events recorded per
second, first to last, beside the same run's dispatch rate). The figure is messages/s
from the first claim to the last recorded outcome. The baseline is the simplest correct loop
(per device: claim its next row with FOR UPDATE SKIP LOCKED through the same partial index, mark
it sent, commit; 4 connections) on 20,000 more rows, for up to 20 s.
"""

import json
import os
import subprocess
import sys
import threading
import time

import psycopg
from harness import server_url, with_db

from dripfleet.migrations import migrate  # noqa: E402

DEVICES = 3000
MESSAGES = 100_000
BASELINE_MESSAGES = 20_000
BASELINE_CONNECTIONS = 4
# every simulated lead reads: a delivery and a read receipt for every message, recorded while
# the host dispatches (issue 13: receipts cost one statement a batch)
HOST_ENV = {"DEVICES_PER_WORKER": "1500", "WORKER_POOL_SIZE": "600",
            "SIM_LATENCY_SECONDS": "0", "HEALTH_CHECK_SECONDS": "5", "DEVICE_HOST_PORT": "0",
            "LOG_LEVEL": "WARNING", "SIM_DELIVER_SECONDS": "0.5", "SIM_READ_RATE": "1"}


def seed(url: str, device_status: str, messages: int, device_base: int = 0) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        user = conn.execute(
            "INSERT INTO users (email) VALUES (%s) RETURNING id",
            (f"bench{device_base}@example.com",)).fetchone()[0]
        conn.execute(
            "INSERT INTO devices (user_id, name, status, min_delay_s, max_delay_s, jid)"
            " SELECT %s, 'd' || g, %s, 0, 0, 'j' || g FROM generate_series(1, %s) g",
            (user, device_status, DEVICES))
        conn.execute(
            "INSERT INTO message_queue (user_id, device_id, phone, body, source, dedupe_key)"
            " SELECT %s, d.id, '+6012' || lpad(g::text, 7, '0'), 'hello ' || g, 'api',"
            "        'api:' || %s || ':' || g"
            " FROM generate_series(1, %s) g"
            " JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM devices"
            "       WHERE user_id = %s) d ON d.n = g %% %s",
            (user, device_base, messages, user, DEVICES))
        conn.execute("VACUUM ANALYZE message_queue")
        conn.execute("VACUUM ANALYZE devices")


def run_host(url: str, timeout: float = 300.0) -> tuple[float, int, int, float]:
    env = {**os.environ, **HOST_ENV, "DATABASE_URL": url}
    host = subprocess.Popen([sys.executable, "-m", "dripfleet.cli", "device-host"], env=env)
    try:
        deadline = time.monotonic() + timeout
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                left = conn.execute("SELECT count(*) FROM message_queue"
                                    " WHERE status IN ('queued', 'sending')").fetchone()[0]
                if left == 0:
                    break
                time.sleep(0.5)
            first, last, sent = conn.execute(
                "SELECT min(sent_at), max(sent_at), count(*) FROM message_queue"
                " WHERE status = 'sent'").fetchone()
            # from the first claim: the first sent_at minus nothing measurable is the start
            started = conn.execute(
                "SELECT min(started_at) FROM sim_deliveries").fetchone()[0]
            # the last receipts arrive a few delivery delays after the last send
            while time.monotonic() < deadline:
                receipts = conn.execute("SELECT count(*) FROM message_events").fetchone()[0]
                if receipts >= 2 * sent:
                    break
                time.sleep(0.5)
            receipts, span = conn.execute(
                "SELECT count(*), extract(epoch FROM max(recorded_at) - min(recorded_at))"
                " FROM message_events").fetchone()
    finally:
        host.terminate()
        host.wait(timeout=60)
    begin = min(first, started) if started else first
    print(f"host: {sent} sent in {(last - begin).total_seconds():.1f}s, {receipts} receipts"
          f" recorded over {float(span or 0):.1f}s", file=sys.stderr)
    return (last - begin).total_seconds(), sent, receipts, float(span or 0)


def raw_loop(url: str, device_ids: list[int], seconds: float = 20.0) -> float:
    """The simplest correct per-device loop: one claim, one update, one commit per message."""
    done = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def loop(mine: list[int]) -> None:
        with psycopg.connect(url) as conn:
            while mine and time.monotonic() < stop_at:
                for device_id in list(mine):
                    with conn.transaction():
                        row = conn.execute(
                            "SELECT id FROM message_queue WHERE device_id = %s"
                            " AND status = 'queued' AND not_before <= now()"
                            " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", (device_id,)).fetchone()
                        if row is None:
                            mine.remove(device_id)
                            continue
                        conn.execute("UPDATE message_queue SET status = 'sent', sent_at = now(),"
                                     " attempts = attempts + 1 WHERE id = %s", row)
                    with lock:
                        done[0] += 1

    shares = [device_ids[i::BASELINE_CONNECTIONS] for i in range(BASELINE_CONNECTIONS)]
    threads = [threading.Thread(target=loop, args=(share,)) for share in shares]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0] / (time.monotonic() - started)


def main() -> None:
    admin = server_url()
    name = f"bench_dispatch_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_db(admin, name)
    try:
        migrate(url)
        seed(url, "online", MESSAGES)
        seconds, sent, receipts, receipt_span = run_host(url)
        value = sent / seconds
        # baseline on fresh rows of devices no host drives
        seed(url, "new", BASELINE_MESSAGES, device_base=1)
        with psycopg.connect(url) as conn:
            idle = [r[0] for r in conn.execute("SELECT id FROM devices WHERE status = 'new'")]
        baseline = raw_loop(url, idle)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ratio = value / baseline
    result = {"value": round(value, 1), "unit": "msg/s", "baseline": round(baseline, 1),
              "ratio": round(ratio, 2), "goal": "≥3000 msg/s and ratio ≥0.5",
              "ok": value >= 3000 and ratio >= 0.5, "messages": sent, "seconds": round(seconds, 2),
              "receipts": receipts,
              "receipts_per_s": round(receipts / receipt_span, 1) if receipt_span else None,
              "devices": DEVICES, "host": HOST_ENV}
    print("BENCH dispatch " + json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
