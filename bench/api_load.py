"""P6: 50 concurrent clients for 30 s against gunicorn on the list endpoints, 1,000,000 leads.

Each client is a person browsing: request, read the answer, pause THINK_S (1 s), again; the mix is
sequences list, a page of leads (first pages and deep keyset pages, some filtered by niche) and
queue stats. Baseline: GET /healthz (one SELECT 1) from the same clients in the same run, so
the ratio says what the list endpoints cost above the floor of Flask + gunicorn + a query.
"""

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from harness import ROOT, fresh_database

from dripfleet import database  # noqa: E402
from dripfleet.stores import users  # noqa: E402

LEADS = int(os.environ.get("BENCH_API_LEADS", "1000000"))
SECONDS = float(os.environ.get("BENCH_API_SECONDS", "30"))
CLIENTS = int(os.environ.get("BENCH_API_CLIENTS", "50"))
THINK_S = 1.0
GOAL_P99_MS = 50.0

# Bench data only (the application's SQL lives in sql/queries): one user's fleet and leads.
SEED_SQL = [
    """INSERT INTO devices (user_id, name, status)
       SELECT %(u)s, 'phone ' || g, 'online' FROM generate_series(1, 15) g""",
    """INSERT INTO leads (user_id, phone, name, niches, target_status, attributes)
       SELECT %(u)s, '+601' || (20000000 + g)::text, 'Lead ' || g,
              CASE g %% 4 WHEN 0 THEN ARRAY['fitness'] WHEN 1 THEN ARRAY['fitness', 'yoga']
                         WHEN 2 THEN ARRAY['running'] ELSE ARRAY['yoga'] END,
              CASE WHEN g %% 10 = 0 THEN 'customer' ELSE 'prospect' END,
              jsonb_build_object('city', 'KL')
       FROM generate_series(1, %(n)s) g""",
    """INSERT INTO sequences (user_id, name, niche, status)
       SELECT %(u)s, 'sequence ' || g, (ARRAY['fitness', 'yoga', 'running'])[1 + g %% 3],
              'active' FROM generate_series(1, 12) g""",
    """INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body)
       SELECT s.user_id, s.id, d, '09:00', 'Hi {{ name }} day ' || d
       FROM sequences s, generate_series(1, 5) d""",
    """INSERT INTO sequence_contacts (user_id, sequence_id, lead_id)
       SELECT s.user_id, s.id, l.id FROM sequences s
       JOIN LATERAL (SELECT id FROM leads WHERE user_id = s.user_id AND niches @> ARRAY[s.niche]
                     ORDER BY id LIMIT 2000) l ON true""",
    """INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source, dedupe_key,
                                  status, sent_at)
       SELECT %(u)s, d.id, l.id, l.phone, 'hello', 'api', 'api:' || l.id,
              CASE WHEN l.id %% 3 = 0 THEN 'sent' ELSE 'queued' END,
              CASE WHEN l.id %% 3 = 0 THEN now() - interval '1 hour' END
       FROM (SELECT id, phone, row_number() OVER (ORDER BY id) AS n FROM leads
             WHERE user_id = %(u)s ORDER BY id LIMIT 15000) l
       JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM devices) d
         ON d.k = l.n %% 15""",
    "ANALYZE",
]


def seed(url: str) -> tuple[str, int]:
    """Create the user, its token and the data; (token, highest lead id)."""
    engine = database.get_engine(url)
    with engine.begin() as conn:
        user = users.create_user(conn, "load@example.com", None)
        token, _ = users.create_token(conn, user["id"], "bench")
    with psycopg.connect(database.libpq_url(url), autocommit=True) as conn:
        for sql in SEED_SQL:
            conn.execute(sql, {"u": user["id"], "n": LEADS})
        top = conn.execute("SELECT max(id) FROM leads").fetchone()[0]
    return token, top


def free_port() -> int:
    """An unused local TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(url: str) -> Iterator[int]:
    """Serve webapp.wsgi:app as the Procfile does (2 workers); yield the port."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-secret", "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "python:webapp.gunicorn_conf", "-b",
         f"127.0.0.1:{port}", "-w", "2",
         "--log-level", "warning", "webapp.wsgi:app"],
        cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError("gunicorn did not answer /healthz")
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def run_clients(port: int, token: str, paths: list[str] | None, top_lead: int,
                seconds: float) -> tuple[list[float], int]:
    """CLIENTS threads for `seconds`; latencies in ms of 2xx answers, and the error count."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}

    def pick(rng: random.Random) -> str:
        if paths:
            return rng.choice(paths)
        roll = rng.random()
        if roll < 0.3:
            return "/api/sequences"
        if roll < 0.45:
            return "/api/leads?limit=50"
        if roll < 0.6:
            return f"/api/leads?limit=50&after={rng.randrange(top_lead)}"
        if roll < 0.7:
            return f"/api/leads?limit=50&niche=yoga&after={rng.randrange(top_lead)}"
        return "/api/queue/stats"

    def client(number: int) -> None:
        rng = random.Random(number)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        failed = 0
        time.sleep(rng.random() * THINK_S)
        while time.monotonic() < stop:
            path = pick(rng)
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 300
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
            if ok:
                mine.append(elapsed)
            else:
                failed += 1
            time.sleep(THINK_S)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main() -> None:
    """Run the benchmark and print the BENCH line."""
    with fresh_database("api_load") as url:
        token, top = seed(url)
        with gunicorn(url) as port:
            run_clients(port, token, None, top, 3)  # warm-up: pools, caches, imports
            base, base_errors = run_clients(port, token, ["/healthz"], top, SECONDS / 3)
            lists, errors = run_clients(port, token, None, top, SECONDS)
    p50, p99 = percentile(lists, 50), percentile(lists, 99)
    base_p99 = percentile(base, 99)
    line = {
        "value": round(p99, 1), "unit": "ms p99", "baseline": round(base_p99, 1),
        "ratio": round(p99 / base_p99, 2), "goal": f"p99 ≤ {GOAL_P99_MS:g} ms",
        "ok": p99 <= GOAL_P99_MS and errors == 0, "p50_ms": round(p50, 1),
        "baseline_p50_ms": round(percentile(base, 50), 1), "requests": len(lists),
        "req_per_s": round(len(lists) / SECONDS, 1), "errors": errors + base_errors,
        "clients": CLIENTS, "think_s": THINK_S, "seconds": SECONDS, "leads": LEADS,
        "workers": "gunicorn sync x2",
    }
    print("BENCH api_load " + json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
