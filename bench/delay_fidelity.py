"""P4: delay fidelity. 200 simulated devices, min/max delay 0.5/1.0 s, a backlog, 60 s.

A real `dripfleet device-host` sends for 60 s. The figure is the share of the rate the delays
allow that was achieved (the baseline: 200 devices × 60 s / mean delay 0.75 s; sends take no
time on the simulated network here); every gap between two sends of one device is checked
against min_delay (goal: none below).
"""

import json
import os
import subprocess
import sys
import time

import psycopg
from harness import fresh_database

DEVICES = 200
PER_DEVICE = 120  # more than 60 s / 0.5 s: the backlog never runs dry
MIN_DELAY, MAX_DELAY = 0.5, 1.0
WINDOW = 60.0
HOST_ENV = {"SIM_LATENCY_SECONDS": "0", "HEALTH_CHECK_SECONDS": "5", "DEVICE_HOST_PORT": "0",
            "DEVICES_PER_WORKER": "100", "LOG_LEVEL": "WARNING"}


def main() -> None:
    with fresh_database("delay_fidelity") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            user = conn.execute("INSERT INTO users (email) VALUES ('b@example.com')"
                                " RETURNING id").fetchone()[0]
            conn.execute(
                "INSERT INTO devices (user_id, name, status, min_delay_s, max_delay_s, jid)"
                " SELECT %s, 'd' || g, 'online', %s, %s, 'j' || g"
                " FROM generate_series(1, %s) g", (user, MIN_DELAY, MAX_DELAY, DEVICES))
            conn.execute(
                "INSERT INTO message_queue (user_id, device_id, phone, body, source, dedupe_key)"
                " SELECT %s, d.id, '+6012' || lpad(g::text, 7, '0'), 'hi ' || g, 'api',"
                "        'api:' || d.id || ':' || g"
                " FROM devices d, generate_series(1, %s) g", (user, PER_DEVICE))
        env = {**os.environ, **HOST_ENV, "DATABASE_URL": url}
        host = subprocess.Popen([sys.executable, "-m", "dripfleet.cli", "device-host"], env=env)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                while not conn.execute("SELECT count(*) FROM sim_deliveries").fetchone()[0]:
                    time.sleep(0.1)
                time.sleep(WINDOW + 2)
        finally:
            host.terminate()
            host.wait(timeout=60)
        with psycopg.connect(url, autocommit=True) as conn:
            start = conn.execute("SELECT min(delivered_at) FROM sim_deliveries").fetchone()[0]
            sends = conn.execute(
                "SELECT count(*) FROM sim_deliveries"
                " WHERE delivered_at < %s + make_interval(secs => %s)", (start, WINDOW)
            ).fetchone()[0]
            short, gaps, smallest = conn.execute(
                "SELECT count(*) FILTER (WHERE gap < %s), count(*), min(gap) FROM ("
                " SELECT extract(epoch FROM delivered_at - lag(delivered_at)"
                "        OVER (PARTITION BY device_id ORDER BY delivered_at)) AS gap"
                " FROM sim_deliveries) g WHERE gap IS NOT NULL", (MIN_DELAY,)).fetchone()
    allowed = DEVICES * WINDOW / ((MIN_DELAY + MAX_DELAY) / 2)
    rate, baseline = sends / WINDOW, allowed / WINDOW
    ratio = rate / baseline
    result = {"value": round(rate, 1), "unit": "sends/s", "baseline": round(baseline, 1),
              "ratio": round(ratio, 3), "goal": "0 gaps < min_delay and ratio ≥0.95",
              "ok": short == 0 and ratio >= 0.95, "gaps_below_min": short, "gaps": gaps,
              "smallest_gap_s": round(float(smallest), 3) if smallest is not None else None,
              "devices": DEVICES, "window_s": WINDOW}
    print("BENCH delay_fidelity " + json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
