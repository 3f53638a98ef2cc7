"""Acceptance 5: a worker that dies abruptly (SIGABRT, as os.abort() or a Go fatal error ends it)
is restarted by the supervisor; the other worker's devices keep sending; no message is lost.

A Go `fatal error` inside neonize cannot be caught and takes its whole worker process down; this
runs the real `dripfleet device-host` from the neonize environment on the simulated network and
aborts one worker mid-send.
"""

import itertools
import os
import signal
import time
import uuid

import pytest
from sqlalchemy import Engine, text

from tests.device_host.hostproc import HostProcess

_phones = itertools.count(5000)


def _sql(engine: Engine, sql: str, **params) -> list:
    with engine.begin() as conn:
        result = conn.execute(text(sql), params)
        return result.all() if result.returns_rows else []


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _fleet(engine: Engine, devices: int, per_device: int) -> list[int]:
    user = _sql(engine, "INSERT INTO users (email, name) VALUES (:e, 'crash') RETURNING id",
                e=f"{uuid.uuid4().hex}@example.com")[0][0]
    job = _sql(engine, "INSERT INTO broadcast_jobs (user_id, source, total_count)"
               " VALUES (:u, 'api', :n) RETURNING id", u=user, n=devices * per_device)[0][0]
    ids = []
    for n in range(devices):
        device = _sql(engine, "INSERT INTO devices (user_id, name, status, min_delay_s,"
                      " max_delay_s) VALUES (:u, :n, 'online', 0.02, 0.05) RETURNING id",
                      u=user, n=f"crash{n}")[0][0]
        ids.append(device)
        for _m in range(per_device):
            phone = f"+6013{next(_phones):07d}"
            lead = _sql(engine, "INSERT INTO leads (user_id, phone) VALUES (:u, :p) RETURNING id",
                        u=user, p=phone)[0][0]
            _sql(engine, "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body,"
                 " source, dedupe_key, status, broadcast_job_id) VALUES (:u, :d, :l, :p, 'hi',"
                 " 'api', :k, 'queued', :j)", u=user, d=device, l=lead, p=phone,
                 k=f"api:{uuid.uuid4()}", j=job)
    return ids


@pytest.fixture
def host(database_url: str, tmp_path):
    made: list[HostProcess] = []

    def start(**env: str) -> HostProcess:
        proc = HostProcess(database_url, tmp_path / "host.log", **env)
        made.append(proc)
        return proc

    yield start
    for proc in made:
        proc.kill()


def test_aborted_worker_is_restarted_others_keep_sending_nothing_lost(
    engine: Engine, host
) -> None:
    _fleet(engine, devices=6, per_device=40)
    proc = host(TRANSPORT="simulated", SIM_LATENCY_SECONDS="0.15", DEVICES_PER_WORKER="3")
    info = proc.wait_info(engine)
    assert len(info["workers"]) == 2, info
    victim, survivor = info["workers"]
    _wait(lambda: _sql(engine, "SELECT count(*) FROM message_queue WHERE status = 'sending'"
                       " AND lease_owner = :o", o=victim["owner"])[0][0] > 0, 30,
          "the victim to be mid-send")

    def sent_by(owner_devices: str) -> int:
        return _sql(engine, "SELECT count(*) FROM sim_deliveries d JOIN devices v"
                    " ON v.id = d.device_id WHERE v.lease_owner = :o", o=owner_devices)[0][0]

    survivor_before = sent_by(survivor["owner"])
    in_flight = _sql(engine, "SELECT count(*) FROM message_queue WHERE status = 'sending'")[0][0]
    os.kill(victim["pid"], signal.SIGABRT)  # what os.abort() inside the worker does

    def restarted() -> bool:
        now = proc.info(engine)
        worker = now["workers"][0] if now else None
        return bool(worker and worker["pid"] != victim["pid"] and worker["alive"])

    _wait(restarted, 15, "the supervisor to restart the aborted worker")
    after = proc.info(engine)
    assert after["workers"][0]["exit_codes"][-1] == -signal.SIGABRT
    assert after["workers"][1]["pid"] == survivor["pid"]  # the other worker was not touched
    assert sent_by(survivor["owner"]) > survivor_before  # ... and kept sending meanwhile
    _wait(lambda: _sql(engine, "SELECT count(*) FROM message_queue"
                       " WHERE status IN ('queued', 'sending')")[0][0] == 0, 90,
          "every message to be sent")
    assert dict(_sql(engine, "SELECT status, count(*) FROM message_queue GROUP BY status")) == {
        "sent": 240}
    per_message = _sql(engine, "SELECT q.id, count(d.id) FROM message_queue q LEFT JOIN"
                       " sim_deliveries d ON d.message_id = q.id GROUP BY q.id")
    assert all(n >= 1 for _id, n in per_message)  # none lost
    assert sum(n - 1 for _id, n in per_message) <= in_flight  # duplicates only from in-flight
    proc.check_running()
