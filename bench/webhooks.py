"""Webhooks dispatcher: events delivered per second to a local receiver, beside a bare loop posting
the same bodies to the same receiver, and the event-to-delivery latency p99 at 100 events/s.

A real `dripfleet webhooks` process on a fresh database; the receiver (tests/webhooks/receiver.py)
verifies every signature. The bare loop is httpx posting with the dispatcher's concurrency and no
database, signing or retries: what the HTTP side alone allows on this machine now.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
from harness import ROOT, fresh_database
from sqlalchemy import text

from dripfleet.database import get_engine
from dripfleet.stores import users
from tests.webhooks.conftest import add_endpoint, emit, new_secret
from tests.webhooks.receiver import Receiver

EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "5000"))
CONCURRENCY = int(os.environ.get("BENCH_WEBHOOK_CONCURRENCY", "16"))
RATE = 100.0  # events per second for the latency run
LATENCY_SECONDS = float(os.environ.get("BENCH_WEBHOOK_LATENCY_SECONDS", "20"))
GOAL_RATE, GOAL_RATIO, GOAL_P99 = 500.0, 0.5, 2.0


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def bare_loop(url: str, bodies: list[tuple[bytes, dict[str, str]]]) -> float:
    """Events per second of httpx alone posting bodies with CONCURRENCY in flight."""

    async def run() -> float:
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(limits=limits, timeout=15) as client:
            queue: asyncio.Queue = asyncio.Queue()
            for item in bodies:
                queue.put_nowait(item)

            async def worker() -> None:
                while not queue.empty():
                    body, headers = queue.get_nowait()
                    (await client.post(url, content=body, headers=headers)).raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            return len(bodies) / (time.perf_counter() - started)

    return asyncio.run(run())


def start_dispatcher(url: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "ALLOW_PRIVATE_URLS": "true",
           "WEBHOOK_CONCURRENCY": str(CONCURRENCY), "WEBHOOK_PER_ENDPOINT": str(CONCURRENCY),
           "LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "dripfleet.cli", "webhooks"], env=env,
                            cwd=ROOT)


def wait_delivered(engine, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            done = conn.execute(text("SELECT count(*) FROM webhook_deliveries"
                                     " WHERE status = 'delivered'")).scalar()
        if done >= count:
            return
        time.sleep(0.1)
    raise SystemExit(f"only {done} of {count} delivered")


def main() -> None:
    """Run the benchmark and print the BENCH line."""
    arrived: dict[str, float] = {}

    def answer(received, _seen):
        arrived.setdefault(received.headers["webhook-id"], time.time())
        return 200, {}, b"ok"

    with fresh_database("webhooks") as url:
        engine = get_engine(url)
        with engine.begin() as conn:
            user = users.create_user(conn, "bench@example.com", "correct horse")["id"]
        secret = new_secret()
        server = Receiver([secret], answer)
        add_endpoint(engine, user, server.url(), secret)

        # throughput: a backlog of EVENTS, drained by one dispatcher
        emit(engine, user, EVENTS)
        with engine.connect() as conn:
            sample = [(r[0].encode(), {"webhook-id": r[1], "content-type": "application/json"})
                      for r in conn.execute(text(
                          "SELECT CAST(payload AS text), event_id || '-bare'"
                          " FROM webhook_deliveries ORDER BY id"))]
        process = start_dispatcher(url)
        try:
            wait_delivered(engine, EVENTS)
            with engine.connect() as conn:
                span = conn.execute(text(
                    "SELECT extract(epoch FROM max(d.finished_at) - min(a.attempted_at))"
                    " FROM webhook_deliveries d JOIN webhook_attempts a ON a.delivery_id = d.id"
                )).scalar()
            rate = EVENTS / float(span)
            bad_signatures = len(server.bad_signatures)  # the bare loop's bodies are unsigned
            baseline = bare_loop(server.url(), sample)

            # latency: one event every 10 ms, each in its own transaction, as the outbox writes
            ats: dict[int, float] = {}
            started = time.monotonic()
            sent = 0
            while time.monotonic() - started < LATENCY_SECONDS:
                due = started + sent / RATE
                time.sleep(max(0.0, due - time.monotonic()))
                ats[EVENTS + sent] = datetime.now(UTC).timestamp()
                emit(engine, user, 1, event_type="message.delivered", start=EVENTS + sent)
                sent += 1
            wait_delivered(engine, EVENTS + sent)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT event_id, CAST(payload -> 'data' ->> 'id' AS integer) FROM"
                " webhook_deliveries WHERE event_type = 'message.delivered'")).all()
        latencies = [arrived[event_id] - ats[n] for event_id, n in rows]
        server.close()
    p99 = percentile(latencies, 99)
    ratio = rate / baseline
    line = {
        "value": round(rate, 1), "unit": "events/s", "baseline": round(baseline, 1),
        "ratio": round(ratio, 2),
        "goal": f"≥ {GOAL_RATE:g} events/s, ratio ≥ {GOAL_RATIO}, p99 ≤ {GOAL_P99:g} s at "
                f"{RATE:g}/s",
        "ok": rate >= GOAL_RATE and ratio >= GOAL_RATIO and p99 <= GOAL_P99,
        "latency_p99_s": round(p99, 3), "latency_p50_s": round(percentile(latencies, 50), 3),
        "latency_events": len(latencies), "events": EVENTS, "concurrency": CONCURRENCY,
        "bad_signatures": bad_signatures + len(server.bad_signatures) - EVENTS,
    }
    print("BENCH webhooks " + json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
