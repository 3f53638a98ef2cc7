"""Acceptance 3 at the API: media URLs on private or local addresses are refused with a 422
naming the field (campaigns' media, sequence steps' media); ALLOW_PRIVATE_URLS lets them in."""

import pytest

from tests.webapp.conftest import assert_error
from webapp import create_app

PRIVATE = [
    "http://127.0.0.1:8080/a.png", "http://localhost/a.png", "http://[::1]/a.png",
    "http://10.0.0.1/a.png", "http://169.254.169.254/latest/meta-data/",
    "http://2130706433/a.png", "http://0x7f.1/a.png", "http://[::ffff:127.0.0.1]/a.png",
    "http://media.localhost/a.png",
]
CAMPAIGN = {"title": "Promo", "niche": "fitness", "message_type": "image", "body": "",
            "scheduled_at": "2030-01-02T09:00:00+08:00"}


def _sequence(media: str) -> dict:
    return {"name": "Welcome", "niche": "fitness", "steps": [
        {"day": 1, "send_time": "09:00", "body": "hi"},
        {"day": 2, "send_time": "09:00", "message_type": "image", "media": media}]}


@pytest.mark.parametrize("url", PRIVATE)
def test_campaign_media_on_a_private_address_is_refused(alice, url: str) -> None:
    error = assert_error(alice.post("/api/campaigns", json={**CAMPAIGN, "media": url}), 422,
                         "media")
    assert "refused" in error["fields"]["media"], error
    assert alice.get("/api/campaigns").get_json()["items"] == []


@pytest.mark.parametrize("url", PRIVATE)
def test_sequence_step_media_on_a_private_address_is_refused(alice, url: str) -> None:
    error = assert_error(alice.post("/api/sequences", json=_sequence(url)), 422, "steps.1.media")
    assert "refused" in error["fields"]["steps.1.media"], error
    assert alice.get("/api/sequences").get_json()["items"] == []


def test_a_later_edit_cannot_bring_a_private_url_in(alice) -> None:
    public = "https://cdn.example.com/a.png"
    created = alice.post("/api/campaigns", json={**CAMPAIGN, "media": public})
    assert created.status_code == 201, created.get_json()
    campaign = created.get_json()
    assert_error(alice.put(f"/api/campaigns/{campaign['id']}",
                           json={**CAMPAIGN, "media": "http://10.0.0.1/a.png"}), 422, "media")
    assert alice.get(f"/api/campaigns/{campaign['id']}").get_json()["media"] == public


def test_public_names_pass_without_a_lookup(alice) -> None:
    # names are checked where they are fetched (the answer may change); here only their form
    response = alice.post("/api/sequences", json=_sequence("https://media.example.test/a.png"))
    assert response.status_code == 201, response.get_json()


def test_allow_private_urls_lets_them_in(database_url: str, make_account,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                      "PAGES": False})
    account = make_account()
    account.client = app.test_client()
    for url in ("http://127.0.0.1:8080/a.png", "http://localhost/a.png", "http://10.0.0.1/a"):
        response = account.post("/api/campaigns", json={**CAMPAIGN, "media": url})
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["media"] == url
    # still http(s) only
    assert_error(account.post("/api/campaigns", json={**CAMPAIGN, "media": "ftp://10.0.0.1/a"}),
                 422, "media")
