"""The whole flow rides through a PostgreSQL restart (issue 12, acceptance 1).

A marketer's CSV through the API, a sequence and a campaign both due, two simulated devices, a
real device host, pipeline ticks every couple of seconds: PostgreSQL (a server of the test's own)
restarts mid-run. Every message is delivered exactly once, except those in flight at the restart,
a tick that failed during the restart is made good by the next one, and the device host is still
running, with no hand on anything.
"""

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from dripfleet.database import dispose_engines, get_engine
from dripfleet.stores import users
from pipelines.tick import run_tick
from tests.device_host.hostproc import HostProcess
from webapp import create_app

LEADS = 40
TICK_EVERY_S = 2.0


def _csv() -> bytes:
    rows = ["name,phone"] + [f"Lead {n},+60177{n:06d}" for n in range(LEADS)]
    return ("\n".join(rows) + "\n").encode()


def _count(engine, statement: str) -> int:
    with engine.begin() as conn:
        return int(conn.execute(text(statement)).scalar())


def test_csv_to_delivery_rides_through_a_postgres_restart(own_pg, monkeypatch, tmp_path):
    url = own_pg.url
    monkeypatch.setenv("DATABASE_URL", url)
    engine = get_engine(url)
    with engine.begin() as conn:
        user = users.create_user(conn, "flow@example.com", "flow password 1")
        token, _ = users.create_token(conn, user["id"], "flow")
    client = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "flow",
                         "PAGES": False}).test_client()
    api = {"Authorization": f"Bearer {token}"}

    devices = [client.post("/api/devices", json={"name": f"phone {n}"}, headers=api)
               .get_json()["id"] for n in range(2)]
    with engine.begin() as conn:  # paired already, as the simulated network would have it
        conn.execute(text("UPDATE devices SET status = 'online', min_delay_s = 0.05,"
                          " max_delay_s = 0.1 WHERE id = ANY(:d)"), {"d": devices})
    report = client.post("/api/leads/import", headers=api, content_type="multipart/form-data",
                         data={"file": (__import__("io").BytesIO(_csv()), "leads.csv"),
                               "niche": "fitness"}).get_json()
    assert report["inserted"] == LEADS, report
    sequence = client.post("/api/sequences", headers=api, json={
        "name": "Welcome", "niche": "fitness",
        "steps": [{"day": 1, "send_time": "00:00", "body": "Welcome {{ first_name }}"}],
    }).get_json()["id"]
    assert client.post(f"/api/sequences/{sequence}/start", headers=api).status_code == 200
    campaign = client.post("/api/campaigns", headers=api, json={
        "title": "Now", "niche": "fitness", "body": "Campaign for {{ first_name }}",
        "scheduled_at": datetime.now(UTC).isoformat()}).get_json()["id"]
    assert client.post(f"/api/campaigns/{campaign}/schedule", headers=api).status_code == 200

    host = HostProcess(url, tmp_path / "host.log", SIM_LATENCY_SECONDS="0.1")
    try:
        host.wait_info(engine)
        expected = 2 * LEADS  # day 1 of the sequence and the campaign, to every lead
        # ticks on a clock one, then two days ahead: the first enrols every lead and queues the
        # campaign, the sequence's day 1 (00:00) is due from the second on
        ticked = failed_ticks = 0
        restarted_at = None
        in_flight = 0
        deadline = time.monotonic() + 180
        while True:
            if time.monotonic() > deadline:
                with engine.begin() as conn:
                    states = conn.execute(text(
                        "SELECT source, status, last_error, count(*) FROM message_queue"
                        " GROUP BY 1, 2, 3")).all()
                raise AssertionError(f"ticks {ticked} (failed {failed_ticks}), messages"
                                     f" {states}\n{host.tail()}")
            try:
                ahead = timedelta(days=min(1 + ticked, 2))  # never past MESSAGE_MAX_AGE_HOURS
                result = run_tick(datetime.now(UTC) + ahead, database_url=url,
                                  raise_on_error=False)
                ticked += 1
                if not result.success:
                    failed_ticks += 1
            except Exception:  # noqa: BLE001 - a tick that cannot even start during the restart
                failed_ticks += 1
            try:
                sent = _count(engine, "SELECT count(*) FROM sim_deliveries")
                queued = _count(engine, "SELECT count(*) FROM message_queue")
            except Exception:  # noqa: BLE001 - the database is coming back
                time.sleep(0.2)
                continue
            if restarted_at is None and sent >= 10:
                in_flight = _count(
                    engine, "SELECT count(*) FROM message_queue WHERE status = 'sending'")
                own_pg.restart()
                restarted_at = time.monotonic()
                continue
            if restarted_at is not None and queued == expected and _count(
                    engine, "SELECT count(*) FROM message_queue WHERE status <> 'sent'") == 0:
                break
            time.sleep(TICK_EVERY_S)
        host.check_running()
        with engine.begin() as conn:
            per_lead = conn.execute(text(
                "SELECT q.source, q.phone, count(d.id) FROM message_queue q"
                " LEFT JOIN sim_deliveries d ON d.message_id = q.id"
                " GROUP BY q.source, q.phone")).all()
        assert len(per_lead) == expected
        assert {source for source, _, _ in per_lead} == {"sequence", "campaign"}
        assert all(n >= 1 for _, _, n in per_lead), "a message was lost"
        assert sum(n - 1 for _, _, n in per_lead) <= in_flight
    finally:
        host.kill()
        dispose_engines()
