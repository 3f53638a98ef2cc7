"""Issue 13, acceptance 1: a campaign to 20 leads on the simulated network where every lead
reads: every message is delivered then read, and the progress endpoint and the campaign page
say 20 / 20 / 20."""

import re
import time
from datetime import UTC, datetime

from sqlalchemy import text

from pipelines.tick import run_tick
from tests.device_host.conftest import fast_settings, run_worker  # noqa: F401
from webapp import auth, create_app


def test_every_lead_reads_and_progress_shows_20_20_20(
        alice, engine, database_url, run_worker):  # noqa: F811 - the fixtures imported above
    device = alice.post("/api/devices", json={"name": "phone"}).get_json()["id"]
    with engine.begin() as conn:  # paired, as the simulated network would have it
        conn.execute(text("UPDATE devices SET status = 'online', min_delay_s = 0,"
                          " max_delay_s = 0 WHERE id = :d"), {"d": device})
    for n in range(20):
        assert alice.post("/api/leads", json={"phone": f"+6013555{n:04d}",
                                              "niches": ["yoga"]}).status_code == 201
    campaign = alice.post("/api/campaigns", json={
        "title": "Retreat", "niche": "yoga", "body": "Hi {{ first_name }}",
        "scheduled_at": datetime.now(UTC).isoformat()}).get_json()["id"]
    assert alice.post(f"/api/campaigns/{campaign}/schedule").status_code == 200
    assert run_tick(database_url=database_url).success
    run_worker(sim_deliver_seconds=0.05, sim_read_rate=1.0)
    deadline = time.monotonic() + 60
    while True:
        progress = alice.get(f"/api/campaigns/{campaign}/progress").get_json()
        if progress["read"] == 20 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (progress["sent"], progress["delivered"], progress["read"]) == (20, 20, 20), progress
    assert progress["pending"] == 0
    with engine.begin() as conn:
        order = conn.execute(text(
            "SELECT bool_and(sent_at <= delivered_at AND delivered_at <= read_at)"
            " FROM message_queue WHERE campaign_id = :c"), {"c": campaign}).scalar()
    assert order is True
    # the campaign page's funnel says the same
    pages = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    browser = pages.test_client()
    with browser.session_transaction() as session:
        session[auth.SESSION_KEY] = alice.id
    html = browser.get(f"/campaigns/{campaign}").get_data(as_text=True)
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', html))
    assert {stage: counts.get(stage) for stage in ("sent", "delivered", "read")} == {
        "sent": "20", "delivered": "20", "read": "20"}, counts
