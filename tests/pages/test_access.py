"""Every page: strangers are sent to login, another user's ids answer 404, forms need CSRF."""

import re

import pytest
from sqlalchemy import Engine

from tests.conftest import scalar
from webapp import create_app
from webapp.services import sequences

LIST_PAGES = ["/", "/devices", "/leads", "/sequences", "/campaigns", "/queue"]
DETAIL_PAGES = ["/devices/{device}", "/sequences/{sequence}", "/campaigns/{campaign}"]
# posts that act on one resource: another user's id must answer 404 and change nothing
DETAIL_POSTS = [
    "/sequences/{sequence}/start", "/sequences/{sequence}/pause", "/sequences/{sequence}/delete",
    "/sequences/{sequence}/steps", "/sequences/{sequence}/contacts",
    "/sequences/{sequence}/settings",
    "/devices/{device}/pair", "/devices/{device}/logout", "/devices/{device}/settings",
    "/devices/{device}/delete",
    "/campaigns/{campaign}/pause", "/campaigns/{campaign}/resume", "/campaigns/{campaign}/cancel",
]


@pytest.fixture
def owned(engine: Engine, make_user) -> dict[str, int]:
    """Alice's device, sequence and campaign ids."""
    from tests.pages.records import make_records

    return make_records(engine, make_user("alice@example.com")["id"])


# one database per test is the slow part: each test walks every page in a loop

def test_without_a_session_every_page_redirects_to_login(client, owned):
    for path in LIST_PAGES + DETAIL_PAGES:
        path = path.format(**owned)
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == f"/login?next={path}"
    for path in DETAIL_POSTS:
        response = client.post(path.format(**owned), data={})
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/login"


def test_signed_in_every_page_renders_for_its_owner(database_url, owned):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "t"})
    client = app.test_client()
    _login(client, "alice@example.com")
    for path in LIST_PAGES + DETAIL_PAGES:
        response = client.get(path.format(**owned))
        assert response.status_code == 200, path
        assert "<nav" in response.get_data(as_text=True)


def test_another_users_ids_answer_404(make_user_client, owned, engine):
    _bob, client = make_user_client("bob@example.com")
    for path in DETAIL_PAGES:
        response = client.get(path.format(**owned))
        assert response.status_code == 404, path
        assert "Not found" in response.get_data(as_text=True)
    for path in DETAIL_POSTS:
        response = client.post(path.format(**owned), data={
            "day": "1", "send_time": "09:00", "body": "x", "phones": "+60123456789",
            "name": "x", "niche": "x", "mode": "qr"})
        assert response.status_code == 404, path
    # and nothing of alice's changed
    with engine.begin() as conn:
        sequence = sequences.get_sequence(conn, _alice_id(engine), owned["sequence"])
    assert sequence["steps"] == [] and sequence["status"] == "draft"
    assert scalar(engine, "SELECT status FROM devices WHERE id = :i", i=owned["device"]) == "new"
    assert scalar(engine, "SELECT status FROM campaigns WHERE id = :i",
                  i=owned["campaign"]) == "draft"


def test_unknown_ids_answer_404(make_user_client):
    _user, client = make_user_client()
    for path in ("/sequences/999999", "/devices/999999", "/campaigns/999999"):
        assert client.get(path).status_code == 404


def test_login_redirects_back_and_refuses_foreign_next(client, make_user):
    make_user("carol@example.com", password="correct horse battery")
    response = client.post("/login", data={"email": "carol@example.com",
                                           "password": "correct horse battery",
                                           "next": "/sequences"})
    assert response.headers["Location"] == "/sequences"
    response = client.post("/login", data={"email": "carol@example.com",
                                           "password": "correct horse battery",
                                           "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_wrong_password_is_refused(client, make_user):
    make_user("dave@example.com", password="correct horse battery")
    response = client.post("/login", data={"email": "dave@example.com", "password": "nope nope"})
    assert response.status_code == 401
    assert "wrong email or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_register_names_the_bad_field(client):
    response = client.post("/register", data={"email": "not-an-email", "password": "long enough"})
    assert response.status_code == 422
    assert "email" in response.get_data(as_text=True)


def test_forms_need_the_csrf_token_but_the_api_does_not(database_url, make_user):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "t"})
    client = app.test_client()
    make_user("erin@example.com", password="correct horse battery")
    client.post("/login", data={"email": "erin@example.com", "password": "correct horse battery"})
    assert client.get("/").status_code == 302, "a login without the CSRF token must not sign in"
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": "erin@example.com", "csrf_token": token,
                                           "password": "correct horse battery"})
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    # the JSON API (Bearer tokens, JSON bodies) is not subject to the pages' form tokens
    response = client.post("/api/auth/login", json={"email": "erin@example.com",
                                                     "password": "correct horse battery"})
    assert response.status_code == 200


def test_logout_ends_the_session(make_user_client):
    _user, client = make_user_client()
    assert client.post("/logout").headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def _login(client, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": email, "password": "correct horse",
                                           "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def _alice_id(engine: Engine) -> int:
    from dripfleet.stores import users

    with engine.begin() as conn:
        return users.find_by_email(conn, "alice@example.com")["id"]


def test_pages_stay_out_of_the_api_document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    paths = response.get_json()["paths"]
    assert not [path for path in paths if path.startswith(("/sequences", "/devices", "/login"))]
