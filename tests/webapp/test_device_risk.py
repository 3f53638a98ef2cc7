"""The ban-risk guard as users see it (issue 15, acceptance 3): warm-up, risk and restrictions in
the devices API and on the device page, and as webhook events.

The guard's statements run as the device host runs them (dripfleet/stores/risk.py, on a device
leased to a worker id); the processes themselves are tests/device_host/test_ban_risk.py's.
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from dripfleet.settings import DEFAULT_WARMUP_PLAN
from dripfleet.stores import risk
from tests.webapp.conftest import SignedIn, assert_error
from webapp import create_app

OWNER = "test/w-risk"


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch):
    """The API with the default warm-up plan (the test suite turns it off)."""
    monkeypatch.setenv("WARMUP_PLAN", "20,20,50,120,300,600")
    return create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                       "PAGES": False})


@pytest.fixture
def pages_app(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WARMUP_PLAN", "20,20,50,120,300,600")
    return create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                       "WTF_CSRF_ENABLED": False})


def _online_and_leased(engine, device_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE devices SET status = 'online', lease_owner = :o,"
                          " lease_until = now() + interval '1 hour' WHERE id = :d"),
                     {"o": OWNER, "d": device_id})


def _risky(engine, user_id: int, device_id: int) -> list[dict]:
    """10 of 18 sends of this hour to numbers not on WhatsApp; a webhook endpoint; scored."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO webhook_endpoints (user_id, url, secret) VALUES"
                          " (:u, 'https://hooks.example.com/x', 'whsec_dGVzdA==')"), {"u": user_id})
        conn.execute(text("INSERT INTO device_outcomes_hourly (device_id, hour, sent,"
                          " recipient_failures) VALUES (:d, date_trunc('hour', now()), 8, 10)"
                          " ON CONFLICT (device_id, hour) DO UPDATE SET sent = 8,"
                          " recipient_failures = 10"),
                     {"d": device_id})
        return risk.assess_risk(conn, OWNER, [device_id], 40, 70, len(DEFAULT_WARMUP_PLAN), None)


def test_api_shows_warmup_risk_and_restriction_and_webhooks_carry_them(alice, engine):
    device = alice.post("/api/devices", json={"name": "new phone"}).get_json()
    # added through the API: a new number, warmed up from its first send
    assert device["warmup"] == {
        "enabled": True, "since": None, "day": None, "stage": 1, "stages": 6,
        "plan": [20, 20, 50, 120, 300, 600], "daily_cap": 20, "hourly_cap": 7, "sent_24h": 0,
        "done": False}
    assert (device["risk"], device["risk_reasons"], device["risk_action"]) == (0, [], "none")
    assert device["restriction"] is None and device["new_contacts_held"] is False

    _online_and_leased(engine, device["id"])
    scored = _risky(engine, alice.id, device["id"])
    assert [(r["risk"], r["risk_action"], r["action_changed"]) for r in scored] == [
        (50, "slow", True)]
    until = datetime.now(UTC) + timedelta(hours=2)
    with engine.begin() as conn:
        risk.restrict_devices(conn, OWNER, [risk.Restriction(
            device["id"], until, "timelock", "463 reach-out timelocked")])

    shown = alice.get(f"/api/devices/{device['id']}").get_json()
    assert (shown["risk"], shown["risk_action"]) == (50, "slow")
    assert [(r["signal"], r["points"]) for r in shown["risk_reasons"]] == [
        ("not_on_whatsapp", 40), ("new_number", 10)]
    assert shown["risk_reasons"][0]["text"] == \
        "56% of 18 sends in 24 h went to numbers not on WhatsApp"
    assert shown["warmup"]["sent_24h"] == 8
    assert shown["restriction"]["kind"] == "timelock"
    assert shown["restriction"]["reason"] == "463 reach-out timelocked"
    assert datetime.fromisoformat(shown["restriction"]["until"]) == until
    listed = alice.get("/api/devices").get_json()["items"]
    assert listed == [shown]
    events = alice.get(f"/api/devices/{device['id']}/risk-events").get_json()["items"]
    assert [e["kind"] for e in events] == ["timelock", "action"]
    assert events[1]["action"] == "slow" and events[1]["reason"].startswith(
        "risk 50: delays doubled, hourly cap halved — 56% of 18 sends")

    with engine.begin() as conn:
        hooks = {r.event_type: r.payload for r in conn.execute(text(
            "SELECT event_type, payload FROM webhook_deliveries WHERE user_id = :u"),
            {"u": alice.id})}
    assert set(hooks) == {"device.risk_changed", "device.restricted"}
    changed = hooks["device.risk_changed"]["data"]
    assert (changed["id"], changed["risk"], changed["action"], changed["previous_action"]) == (
        device["id"], 50, "slow", "none")
    assert changed["risk_reasons"] == shown["risk_reasons"]
    restricted = hooks["device.restricted"]["data"]
    assert (restricted["kind"], restricted["reason"]) == ("timelock", "463 reach-out timelocked")

    # a person lifts the restriction and says the number is old
    lifted = alice.post(f"/api/devices/{device['id']}/lift-restriction").get_json()
    assert lifted["restriction"] is None
    old = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    patched = alice.patch(f"/api/devices/{device['id']}", json={"warmup_since": old}).get_json()
    assert patched["warmup"]["done"] and patched["warmup"]["day"] == 31
    assert patched["warmup"]["daily_cap"] is None
    off = alice.patch(f"/api/devices/{device['id']}", json={"warmup": False}).get_json()
    assert off["warmup"]["enabled"] is False
    kinds = [e["kind"] for e in alice.get(
        f"/api/devices/{device['id']}/risk-events").get_json()["items"]]
    assert kinds == ["warmup", "warmup", "lifted", "timelock", "action"]


@pytest.mark.parametrize("body,field", [
    ({"warmup_since": "2999-01-01T00:00:00+00:00"}, "warmup_since"),
    ({"warmup_since": "yesterday"}, "warmup_since"),
    ({"warmup": 1}, "warmup"),
])
def test_bad_warmup_input_names_the_field(alice, body, field):
    device = alice.post("/api/devices", json={"name": "phone"}).get_json()
    assert_error(alice.patch(f"/api/devices/{device['id']}", json=body), 422, field)


def test_another_users_risk_events_are_404(alice, bob):
    device = alice.post("/api/devices", json={"name": "phone"}).get_json()
    assert_error(bob.get(f"/api/devices/{device['id']}/risk-events"), 404)
    assert_error(bob.post(f"/api/devices/{device['id']}/lift-restriction"), 404)


def test_device_page_shows_the_warmup_day_the_risk_and_its_history(pages_app, engine):
    user = SignedIn(pages_app, engine)
    created = user.client.post("/devices", data={"name": "shop phone", "min_delay_s": "5",
                                                 "max_delay_s": "15"})
    device_id = int(created.headers["Location"].rsplit("/", 1)[1])
    _online_and_leased(engine, device_id)
    with engine.begin() as conn:
        conn.execute(text("UPDATE devices SET warmup_since = now() - interval '3 days 2 hours',"
                          " warmup_stage = 3 WHERE id = :d"), {"d": device_id})
        conn.execute(text("INSERT INTO device_outcomes_hourly (device_id, hour, sent)"
                          " VALUES (:d, date_trunc('hour', now()), 37)"), {"d": device_id})
    html = user.client.get(f"/devices/{device_id}").get_data(as_text=True)
    assert "Day 4 of warm-up: 120/day (40/hour), 37 sent in the last 24 h." in html
    assert 'id="risk-score">0<' in html

    _risky(engine, user.id, device_id)
    html = user.client.get(f"/devices/{device_id}").get_data(as_text=True)
    assert 'id="risk-score">50<' in html and "slowed" in html
    assert "56% of 18 sends in 24 h went to numbers not on WhatsApp" in html
    # the risk rose: the warm-up went back a stage, and both are in the history
    assert "(stage 3 of 6: a stage advances once a day while the risk is low)" in html
    assert "warm-up back to stage 3 of 6: the risk rose" in html
    assert "risk 50: delays doubled, hourly cap halved" in html

    saved = user.client.post(f"/devices/{device_id}/warmup", data={"warmup_since": "2020-01-01",
                                                                   "warmup": "on"})
    assert saved.status_code == 302
    html = user.client.get(f"/devices/{device_id}").get_data(as_text=True)
    assert "Warm-up done: the device's own caps apply. 8 sent in the last 24 h." in html
