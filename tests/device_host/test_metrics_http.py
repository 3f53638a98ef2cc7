"""/metrics of a real device host: the workers' counts, read through the supervisor; and its logs
as JSON lines naming the process and the worker."""

import json
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.device_host.hostproc import HostProcess


def scrape(port: int, token: str | None = None) -> dict[str, float]:
    """{'name{label="v",...}': value} of every sample."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")  # noqa: S310
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - http only
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


@pytest.fixture
def host_process(database_url, tmp_path):
    started: list[HostProcess] = []

    def start(**env) -> HostProcess:
        host = HostProcess(database_url, tmp_path / f"host{len(started)}.log", **env)
        started.append(host)
        return host

    yield start
    for host in started:
        host.kill()


def test_metrics_count_the_workers_sends_failures_receipts_leases_and_sessions(
    fleet, engine, host_process
):
    user = fleet.user()
    devices = [fleet.device(user) for _ in range(4)]
    for device in devices:
        fleet.queue(user, device, 15)
    # a message gives up after 3 attempts by default: these retry until they are sent
    fleet.sql("UPDATE message_queue SET max_attempts = 100")
    # two workers, so that the counts of two processes are added up; some sends fail (transient,
    # retried) and every sent message is delivered and read soon after
    host = host_process(DEVICES_PER_WORKER="2", SIM_FAILURE_RATE="0.2",
                        SIM_DELIVER_SECONDS="0.05", SIM_READ_RATE="1")
    info = host.wait_info(engine)
    assert len(info["workers"]) == 2
    fleet.wait_until(fleet.settled, timeout=60)
    assert fleet.statuses() == {"sent": 60}
    port = info["port"]

    def receipts_in() -> bool:
        seen = scrape(port)
        return seen.get('dripfleet_receipts_total{kind="read"}', 0) >= 60

    fleet.wait_until(receipts_in, timeout=30)
    seen = scrape(port)
    assert seen["dripfleet_messages_sent_total{}"] == 60
    failed = sum(v for k, v in seen.items() if k.startswith("dripfleet_messages_failed_total{"))
    claimed = seen["dripfleet_messages_claimed_total{}"]
    # every claim ended in a send or a failure (the failures were retried)
    assert claimed == 60 + failed
    assert failed > 0
    assert all('outcome="transient"' in k for k in seen
               if k.startswith("dripfleet_messages_failed_total{") and seen[k])
    assert seen['dripfleet_receipts_total{kind="delivered"}'] >= 60
    assert seen["dripfleet_device_leases{}"] == 4
    assert seen['dripfleet_device_sessions{state="connected"}'] == 4
    assert seen["dripfleet_claim_duration_seconds_count{}"] > 0
    assert seen["dripfleet_send_duration_seconds_count{}"] == 60  # the sends that went out
    assert seen["dripfleet_send_duration_seconds_sum{}"] > 0

    # the log: one JSON object a line, each naming the process; the workers' lines their owner
    host.terminate()
    lines = [json.loads(line) for line in host.log_path.read_text().splitlines()
             if line.startswith("{")]
    assert lines and all(line["process"] == "device-host" for line in lines)
    owners = {line.get("owner") for line in lines if line["logger"] == "device_host.worker"}
    assert owners == {w["owner"] for w in info["workers"]}


def test_metrics_want_the_token_when_one_is_set(fleet, engine, host_process):
    fleet.device(fleet.user())
    host = host_process(METRICS_TOKEN="scrape-me")
    port = host.wait_info(engine)["port"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape(port)
    assert refused.value.code == 401
    refused.value.close()
    with pytest.raises(urllib.error.HTTPError) as wrong:
        scrape(port, token="guess")
    assert wrong.value.code == 401
    wrong.value.close()
    deadline = time.monotonic() + 10
    while scrape(port, token="scrape-me").get("dripfleet_device_leases{}") != 1:
        assert time.monotonic() < deadline, "the worker never reported its one lease"
        time.sleep(0.1)
