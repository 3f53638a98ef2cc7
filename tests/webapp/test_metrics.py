"""GET /metrics of the web app: request counts by route template, the queue gauges, who may read
it; and under gunicorn with two workers, one scrape that adds both workers' counts up."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from webapp import create_app

ROOT = Path(__file__).resolve().parents[2]


def samples(body: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted label pairs): value}."""
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def requests_counted(found: dict, route: str, status: str) -> float:
    return sum(v for (name, labels), v in found.items()
               if name == "dripfleet_http_requests_total"
               and dict(labels).get("route") == route and dict(labels).get("status") == status)


def queue_messages(engine, user_id: int, count: int) -> None:
    with engine.begin() as conn:
        device = conn.execute(text(
            "INSERT INTO devices (user_id, name, status) VALUES (:u, 'metrics', 'online')"
            " RETURNING id"), {"u": user_id}).scalar()
        for n in range(count):
            phone = f"+60129{user_id % 1000:03d}{n:04d}"
            lead = conn.execute(text(
                "INSERT INTO leads (user_id, phone) VALUES (:u, :p) RETURNING id"),
                {"u": user_id, "p": phone}).scalar()
            conn.execute(text(
                "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source,"
                " dedupe_key, created_at) VALUES (:u, :d, :l, :p, 'hi', 'api', :k,"
                " now() - interval '90 seconds')"),
                {"u": user_id, "d": device, "l": lead, "p": phone, "k": f"metrics:{device}:{n}"})


def test_requests_are_counted_by_route_template_and_the_queue_is_measured(
    client, alice, engine
):
    queue_messages(engine, alice.id, 3)  # before the first scrape: the gauges are cached 15 s
    before = samples(client.get("/metrics").get_data(as_text=True))
    assert alice.get("/api/leads/999999999").status_code == 404
    assert alice.get("/api/leads/999999998").status_code == 404
    assert client.get("/healthz").status_code == 200
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain")
    body = answer.get_data(as_text=True)
    after = samples(body)
    lead_route = next(dict(labels)["route"] for (name, labels) in after
                      if name == "dripfleet_http_requests_total"
                      and dict(labels)["route"].startswith("/api/leads/<"))
    # one label value for both ids: the template, never the id. Checked on the labels, not the
    # whole text: a float such as a duration sum of 0.0299999999 holds the same digits.
    label_values = {value for (_, labels) in after for (_, value) in labels}
    assert not any("999999999" in v or "999999998" in v for v in label_values), label_values
    assert (requests_counted(after, lead_route, "404")
            - requests_counted(before, lead_route, "404")) == 2
    assert requests_counted(after, "/healthz", "200") - requests_counted(
        before, "/healthz", "200") == 1
    assert after[("dripfleet_http_request_duration_seconds_count",
                  (("method", "GET"), ("route", "/healthz")))] >= 1
    assert after[("dripfleet_queue_messages", (("status", "queued"),))] >= 3
    assert after[("dripfleet_queue_messages", (("status", "sending"),))] == 0
    assert after[("dripfleet_queue_oldest_queued_seconds", ())] >= 90


def test_without_a_token_only_this_machine_may_read_it(client):
    assert client.get("/metrics").status_code == 200  # the test client's peer is 127.0.0.1
    far = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert far.status_code == 403
    assert "METRICS_TOKEN" in far.get_json()["error"]["message"]
    # a proxy on this machine relays the world: a forwarded request is not local
    relayed = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert relayed.status_code == 403


def test_with_a_token_the_bearer_is_needed_from_anywhere(database_url, monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", "s3cret-scrape")
    client = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                         "PAGES": False}).test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"},
                         environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert allowed.status_code == 200
    assert "s3cret-scrape" not in allowed.get_data(as_text=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_workers_counts_add_up_in_one_scrape(database_url, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "metrics-tests",
           "LOG_FORMAT": "json"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "-c", "python:webapp.gunicorn_conf",
             "--bind", f"127.0.0.1:{port}", "--workers", "2", "webapp.wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # fresh connections, so that both workers answer some of them
        for _ in range(40):
            assert requests.get(f"{base}/api/openapi.json", timeout=10).status_code == 200
        for _ in range(4):  # whichever worker answers the scrape reads both workers' files
            found = samples(requests.get(f"{base}/metrics", timeout=10).text)
            assert requests_counted(found, "/api/openapi.json", "200") == 40
    finally:
        process.terminate()
        process.wait(timeout=30)
    # gunicorn's own lines come through the one log setup
    lines = log.read_text().splitlines()
    assert any('"logger": "gunicorn.error"' in line and '"process": "web"' in line
               for line in lines), lines[:10]


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_loopback_peers_are_local(client, peer):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": peer}).status_code == 200
