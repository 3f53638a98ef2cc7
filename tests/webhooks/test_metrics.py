"""/metrics of a real `dripfleet webhooks`: deliveries by result and their latency."""

import socket
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import scalar
from tests.webhooks.conftest import add_endpoint, emit, new_secret, wait_for


def _fail_first(_received, seen):
    return (500, {}, b"try again") if seen == 0 else (200, {}, b"thanks")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - http only
        body = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def test_deliveries_are_counted_by_result(engine, make_user, receiver, dispatchers,
                                          database_url):
    user = make_user()["id"]
    secret = new_secret()
    add_endpoint(engine, user, receiver([secret], _fail_first).url(), secret)
    emit(engine, user, 5)
    port = _free_port()
    process = dispatchers(database_url, WEBHOOKS_PORT=str(port))
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM webhook_deliveries"
                                    " WHERE status = 'delivered'") == 5,
             60, "5 deliveries", process.check_running)
    seen = scrape(port)
    assert seen[("dripfleet_webhook_deliveries_total", (("result", "delivered"),))] == 5
    assert seen[("dripfleet_webhook_deliveries_total", (("result", "retry"),))] == 5
    assert seen[("dripfleet_webhook_delivery_duration_seconds_count", ())] == 10
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:  # noqa: S310
        assert answer.status == 200
    assert process.terminate() == 0
