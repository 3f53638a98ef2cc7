"""Devices: CRUD with delay defaults, pairing (QR rendered as SVG, or code), logout."""

import pytest
from sqlalchemy import text

from tests.conftest import scalar
from tests.webapp.conftest import assert_error


def make_device(account, **body) -> dict:
    response = account.post("/api/devices", json={"name": "Phone 1", **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_uses_delay_defaults_from_settings(alice, monkeypatch, app):
    device = make_device(alice)
    assert (device["min_delay_s"], device["max_delay_s"]) == (5.0, 15.0)
    assert device["status"] == "new" and device["heartbeat_at"] is None
    custom = make_device(alice, min_delay_s=1.5, max_delay_s=3, quiet_start="22:00",
                         quiet_end="07:00", hourly_cap=20, timezone="Asia/Kuala_Lumpur")
    assert (custom["min_delay_s"], custom["quiet_start"], custom["hourly_cap"]) == \
        (1.5, "22:00", 20)
    assert alice.get(f"/api/devices/{device['id']}").get_json() == device
    assert len(alice.get("/api/devices").get_json()["items"]) == 2


@pytest.mark.parametrize("body,field", [
    ({"name": ""}, "name"),
    ({"name": "x", "min_delay_s": 10, "max_delay_s": 5}, "min_delay_s"),
    ({"name": "x", "min_delay_s": -1}, "min_delay_s"),
    ({"name": "x", "quiet_start": "22:00"}, "quiet_end"),
    ({"name": "x", "quiet_start": "25:00", "quiet_end": "07:00"}, "quiet_start"),
    ({"name": "x", "hourly_cap": 0}, "hourly_cap"),
    ({"name": "x", "timezone": "Moon/Base"}, "timezone"),
])
def test_validation_names_the_field(alice, body, field):
    assert_error(alice.post("/api/devices", json=body), 422, field)


def test_update_and_delete(alice, engine):
    device = make_device(alice)
    body = alice.patch(f"/api/devices/{device['id']}", json={"name": "Renamed",
                                                             "max_delay_s": 30}).get_json()
    assert body["name"] == "Renamed" and body["max_delay_s"] == 30
    assert_error(alice.patch(f"/api/devices/{device['id']}", json={"min_delay_s": 60}), 422,
                 "min_delay_s")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO message_queue (user_id, device_id, phone, body, source, dedupe_key) "
            "VALUES (:u, :d, '+60123456789', 'x', 'api', 'api:x')"),
            {"u": alice.id, "d": device["id"]})
    assert alice.delete(f"/api/devices/{device['id']}").status_code == 204
    assert scalar(engine, "SELECT status FROM message_queue WHERE user_id = :u",
                  u=alice.id) == "cancelled"
    assert_error(alice.get(f"/api/devices/{device['id']}"), 404)


def test_pair_by_qr_renders_svg(alice, engine):
    device = make_device(alice)
    state = alice.post(f"/api/devices/{device['id']}/pair", json={"mode": "qr"})
    assert state.status_code == 202
    assert state.get_json()["status"] == "pairing" and state.get_json()["qr"] is None
    with engine.begin() as conn:  # what the device host writes
        conn.execute(text("UPDATE devices SET pairing_qr = '2@abc,def,ghi', "
                          "pairing_expires_at = now() + interval '20 seconds' WHERE id = :d"),
                     {"d": device["id"]})
    body = alice.get(f"/api/devices/{device['id']}/pairing").get_json()
    assert body["qr"] == "2@abc,def,ghi" and body["mode"] == "qr"
    assert body["qr_svg"].startswith("<svg") and body["expires_at"].endswith("+00:00")


def test_pair_by_code_needs_a_phone(alice, engine):
    device = make_device(alice)
    assert_error(alice.post(f"/api/devices/{device['id']}/pair", json={"mode": "code"}), 422,
                 "phone")
    assert_error(alice.post(f"/api/devices/{device['id']}/pair",
                            json={"mode": "code", "phone": "123"}), 422, "phone")
    body = alice.post(f"/api/devices/{device['id']}/pair",
                      json={"mode": "code", "phone": "012-345 6789"}).get_json()
    assert body["mode"] == "code" and body["phone"] == "+60123456789"
    with engine.begin() as conn:
        conn.execute(text("UPDATE devices SET pairing_code = 'ABCD-EFGH' WHERE id = :d"),
                     {"d": device["id"]})
    assert alice.get(f"/api/devices/{device['id']}/pairing").get_json()["code"] == "ABCD-EFGH"
    assert_error(alice.post(f"/api/devices/{device['id']}/pair", json={"mode": "sms"}), 422,
                 "mode")


def test_logout_and_pairing_an_online_device(alice, engine):
    device = make_device(alice)
    with engine.begin() as conn:
        conn.execute(text("UPDATE devices SET status = 'online' WHERE id = :d"),
                     {"d": device["id"]})
    assert_error(alice.post(f"/api/devices/{device['id']}/pair", json={}), 409)
    body = alice.post(f"/api/devices/{device['id']}/logout").get_json()
    assert body["status"] == "logged_out"


DEVICE_CALLS = [
    ("GET", "/api/devices/{id}", None), ("PATCH", "/api/devices/{id}", {"name": "x"}),
    ("DELETE", "/api/devices/{id}", None), ("POST", "/api/devices/{id}/pair", {}),
    ("GET", "/api/devices/{id}/pairing", None), ("POST", "/api/devices/{id}/logout", None),
]


@pytest.mark.parametrize("method,path,body", DEVICE_CALLS)
def test_another_users_device_is_404(alice, bob, method, path, body):
    device = make_device(bob)
    response = alice.client.open(path.format(id=device["id"]), method=method, json=body,
                                 headers=alice.headers)
    assert_error(response, 404)
    assert bob.get(f"/api/devices/{device['id']}").get_json() == device


def test_another_users_device_cannot_be_referenced(alice, bob):
    device = make_device(bob)
    assert_error(alice.post("/api/leads", json={"phone": "+60123456789",
                                                "preferred_device_id": device["id"]}),
                 422, "preferred_device_id")
    assert_error(alice.post("/api/sequences", json={"name": "s", "niche": "n",
                                                    "pinned_device_id": device["id"]}),
                 422, "pinned_device_id")
