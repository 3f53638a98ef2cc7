"""Start / pause through the API change what the real pipelines tick and device-host claim do."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from dripfleet.stores import sending
from pipelines.tick import run_tick
from tests.conftest import scalar

OWNER = "test-host"


def _messages(engine, sequence_id: int) -> list[str]:
    with engine.begin() as conn:
        return list(conn.execute(text(
            "SELECT status FROM message_queue WHERE sequence_id = :s ORDER BY id"),
            {"s": sequence_id}).scalars())


def _claim(engine, device_id: int) -> list[dict]:
    with engine.begin() as conn:
        return sending.claim_messages(conn, OWNER, [device_id], 60)


def test_start_and_pause_drive_the_tick_and_the_claim(alice, engine, database_url):
    device = alice.post("/api/devices", json={"name": "d"}).get_json()["id"]
    with engine.begin() as conn:  # what the device host does once the phone is linked
        conn.execute(text("UPDATE devices SET status = 'online', lease_owner = :o, "
                          "lease_until = now() + interval '1 hour' WHERE id = :d"),
                     {"o": OWNER, "d": device})
    alice.post("/api/leads", json={"phone": "+60123456789", "name": "Ann",
                                   "niches": ["fitness"]})
    sequence = alice.post("/api/sequences", json={
        "name": "Welcome", "niche": "fitness", "steps": [
            {"day": 1, "send_time": "09:00", "body": "Hi {{ first_name }}"}]}).get_json()["id"]
    later = datetime.now(UTC) + timedelta(days=2)

    assert run_tick(later, database_url=database_url).success
    assert _messages(engine, sequence) == []  # a draft sequence enrols and queues nothing
    assert scalar(engine, "SELECT count(*) FROM sequence_contacts WHERE sequence_id = :s",
                  s=sequence) == 0

    assert alice.post(f"/api/sequences/{sequence}/start").status_code == 200
    assert run_tick(later, database_url=database_url).success  # enrols; day 1 due next 09:00
    assert scalar(engine, "SELECT count(*) FROM sequence_contacts WHERE sequence_id = :s",
                  s=sequence) == 1
    assert run_tick(later + timedelta(days=1), database_url=database_url).success
    assert _messages(engine, sequence) == ["queued"]

    assert alice.post(f"/api/sequences/{sequence}/pause").status_code == 200
    assert _messages(engine, sequence) == ["held"]
    assert _claim(engine, device) == []  # the host finds nothing to send

    assert alice.post(f"/api/sequences/{sequence}/start").status_code == 200
    claimed = _claim(engine, device)
    assert [m["body"] for m in claimed] == ["Hi Ann"]
    assert _messages(engine, sequence) == ["sending"]
