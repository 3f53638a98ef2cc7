"""Auth hardening: login throttle, revocable cookie sessions, CSRF on cookie writes, Secure cookie.

Each test uses its own emails and client addresses: the module shares one database, and the
throttle counts per account and per address across tests.
"""

import io
import itertools
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from dripfleet.settings import Settings, load_settings
from dripfleet.stores import users
from tests.webapp.conftest import assert_error
from webapp import auth, create_app
from webapp.services import accounts

PASSWORD = "correct horse battery"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
_addresses = itertools.count(1)
_emails = itertools.count(1)


def new_address() -> str:
    """A client address no other test uses."""
    n = next(_addresses)
    return f"10.{n // 250}.{n % 250}.1"


def new_email() -> str:
    return f"hardening{next(_emails)}@example.com"


def login(client, email: str, password: str = PASSWORD, address: str = "127.0.0.1", **kw):
    return client.post("/api/auth/login", json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address}, **kw)


def csrf_headers(client) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/auth/csrf").get_json()["csrf_token"]}


def assert_throttled(response) -> int:
    """A 429 with a Retry-After of at most the window; the seconds to wait."""
    error = assert_error(response, 429)
    assert error["code"] == "too_many_requests"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 900
    return retry_after


@pytest.fixture
def signed_up(make_account):
    """Factory: an account (with its Bearer token) whose password is PASSWORD."""
    return lambda: make_account(new_email())


# -- login throttle ---------------------------------------------------------------------------

def test_eleventh_attempt_on_one_account_is_429_from_any_address(client, signed_up):
    alice = signed_up()
    for _ in range(10):
        assert_error(login(client, alice.user["email"], "wrong password", new_address()), 401)
    # even the right password, from a fresh address: the account waits out the window
    assert_throttled(login(client, alice.user["email"], PASSWORD, new_address()))
    # the refusal is not a failure: the account holds exactly its limit of attempts
    assert_throttled(login(client, alice.user["email"].upper(), PASSWORD, new_address()))


def test_eleventh_failure_from_one_address_is_429_for_every_account(client, signed_up):
    address, bob = new_address(), signed_up()
    for _ in range(10):  # guesses spread over accounts, existing or not
        assert_error(login(client, new_email(), "wrong password", address), 401)
    assert_throttled(login(client, bob.user["email"], PASSWORD, address))
    assert login(client, bob.user["email"], PASSWORD, new_address()).status_code == 200


def test_signing_in_resets_the_account_but_not_the_address(client, signed_up):
    address, carol, dave = new_address(), signed_up(), signed_up()
    for _ in range(9):
        assert_error(login(client, carol.user["email"], "wrong password", address), 401)
    # dave signs in from the same address: carol's guesses still count against the address
    assert login(client, dave.user["email"], PASSWORD, address).status_code == 200
    assert_error(login(client, new_email(), "wrong password", address), 401)
    assert_throttled(login(client, dave.user["email"], PASSWORD, address))
    # carol signing in (elsewhere) forgives carol's own failures: 10 more before a 429
    assert login(client, carol.user["email"], PASSWORD, new_address()).status_code == 200
    for _ in range(10):
        assert_error(login(client, carol.user["email"], "wrong password", new_address()), 401)
    assert_throttled(login(client, carol.user["email"], PASSWORD, new_address()))


def test_two_app_instances_share_the_count(database_url, signed_up):
    """Two create_app on one database stand for two gunicorn workers or two replicas."""
    config = {"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
              "PAGES": False}
    first, second = (create_app(config).test_client() for _ in range(2))
    erin = signed_up()
    for n in range(10):
        client = first if n % 2 else second
        assert_error(login(client, erin.user["email"], "wrong password", new_address()), 401)
    assert_throttled(login(first, erin.user["email"], PASSWORD, new_address()))
    assert_throttled(login(second, erin.user["email"], PASSWORD, new_address()))


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(database_url, signed_up):
    config = {"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
              "PAGES": False}
    direct = create_app(config).test_client()
    address = new_address()
    for n in range(10):  # a fresh X-Forwarded-For per guess does not make a fresh address
        forwarded = {"X-Forwarded-For": f"192.0.2.{n}"}
        response = login(direct, new_email(), "wrong", address, headers=forwarded)
        assert_error(response, 401)
    assert_throttled(login(direct, new_email(), "wrong", address,
                           headers={"X-Forwarded-For": "192.0.2.99"}))
    # behind one trusted proxy (Railway) the proxy's address is shared by everyone: the client's
    # address is the last X-Forwarded-For entry
    proxied = create_app({**config, "TRUSTED_PROXIES": 1}).test_client()
    proxy, client_a, client_b = new_address(), new_address(), new_address()
    for _ in range(10):
        response = login(proxied, new_email(), "wrong", proxy,
                         headers={"X-Forwarded-For": f"198.51.100.7, {client_a}"})
        assert_error(response, 401)
    assert_throttled(login(proxied, new_email(), "wrong", proxy,
                           headers={"X-Forwarded-For": client_a}))
    frank = signed_up()
    assert login(proxied, frank.user["email"], PASSWORD, proxy,
                 headers={"X-Forwarded-For": client_b}).status_code == 200


def test_ipv6_clients_count_per_64_network(client, signed_up):
    for n in range(10):
        assert_error(login(client, new_email(), "wrong", f"2001:db8:0:7::{n + 1:x}"), 401)
    assert_throttled(login(client, new_email(), "wrong", "2001:db8:0:7:ffff::1"))
    assert_error(login(client, new_email(), "wrong", "2001:db8:0:8::1"), 401)


def test_login_page_answers_429_with_a_message(database_url, make_user):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                      "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    email, address = new_email(), new_address()
    make_user(email, password=PASSWORD)
    for _ in range(10):
        response = client.post("/login", data={"email": email, "password": "wrong"},
                               environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 401
    response = client.post("/login", data={"email": email, "password": PASSWORD},
                           environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 900
    assert "too many failed sign-ins" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # not signed in


def test_attempts_at_the_limit_wait_for_each_other(engine: Engine):
    """Two attempts at 9 failures: the second waits for the first's count, so only one passes."""
    email, address = new_email(), new_address()
    limits = {"max_failures": 10, "window_seconds": 900}
    with engine.begin() as conn:
        for _ in range(9):
            accounts.begin_login_attempt(conn, email, address, **limits)
    with engine.connect() as first, engine.connect() as second:
        accounts.begin_login_attempt(first, email, address, **limits)  # the 10th, not committed
        second.execute(text("SET lock_timeout = '100ms'"))
        # without a lock the second would count 9 committed attempts and pass as well
        with pytest.raises(OperationalError, match="lock timeout"):
            accounts.begin_login_attempt(second, email, address, **limits)
        second.rollback()
        first.commit()
        with pytest.raises(accounts.TooManyAttempts):
            accounts.begin_login_attempt(second, email, address, **limits)


def test_attempts_older_than_the_window_are_forgotten_and_pruned(engine: Engine, client,
                                                                 signed_up):
    gina, address = signed_up(), new_address()
    for _ in range(10):
        assert_error(login(client, gina.user["email"], "wrong", address), 401)
    with engine.begin() as conn:
        conn.execute(text("UPDATE login_attempts SET attempted_at = now() - interval '16 minutes'"
                          " WHERE subject IN (:email, :address)"),
                     {"email": gina.user["email"], "address": address})
    assert login(client, gina.user["email"], PASSWORD, address).status_code == 200
    with engine.begin() as conn:
        left = conn.execute(text("SELECT count(*) FROM login_attempts "
                                 "WHERE attempted_at < now() - interval '15 minutes'")).scalar()
    assert left == 0


# -- revoking cookie sessions ------------------------------------------------------------------

def copy_session(source, target) -> None:
    """Put source's session cookie into target (the same cookie used from elsewhere)."""
    cookie = source.get_cookie("session")
    target.set_cookie("session", cookie.value)


def test_a_copy_of_the_cookie_is_refused_after_logout(app, signed_up):
    helen = signed_up()
    browser, copy = app.test_client(), app.test_client()
    assert login(browser, helen.user["email"]).status_code == 200
    copy_session(browser, copy)
    assert copy.get("/api/auth/me").status_code == 200
    assert browser.post("/api/auth/logout", headers=csrf_headers(browser)).status_code == 204
    error = assert_error(copy.get("/api/auth/me"), 401)
    assert "session has ended" in error["message"]
    # a Bearer token is not a session: sign-out leaves it working
    assert app.test_client().get("/api/auth/me", headers=helen.headers).status_code == 200
    # signing in again gives a session that works
    assert login(copy, helen.user["email"]).status_code == 200
    assert copy.get("/api/auth/me").status_code == 200


def test_a_password_change_ends_the_other_sessions_and_keeps_tokens(app, signed_up):
    ivan = signed_up()
    browser, other = app.test_client(), app.test_client()
    assert login(browser, ivan.user["email"]).status_code == 200
    assert login(other, ivan.user["email"]).status_code == 200
    headers = csrf_headers(browser)
    response = browser.post("/api/auth/password", headers=headers,
                            json={"current_password": PASSWORD, "new_password": "a new passphrase"})
    assert response.status_code == 204, response.get_data(as_text=True)
    # this browser stays signed in, with the same CSRF token
    assert browser.post("/api/tokens", json={"name": "after"}, headers=headers).status_code == 201
    assert_error(other.get("/api/auth/me"), 401)
    assert app.test_client().get("/api/auth/me", headers=ivan.headers).status_code == 200
    assert_error(login(app.test_client(), ivan.user["email"], PASSWORD), 401)
    assert login(app.test_client(), ivan.user["email"], "a new passphrase").status_code == 200


@pytest.mark.parametrize("body,field", [
    ({"current_password": "wrong password", "new_password": "a new passphrase"},
     "current_password"),
    ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
    ({"new_password": "a new passphrase"}, "current_password"),
])
def test_a_refused_password_change_names_the_field(signed_up, body, field):
    jane = signed_up()
    assert_error(jane.post("/api/auth/password", json=body), 422, field)
    assert login(jane.client, jane.user["email"], PASSWORD).status_code == 200


def test_a_cookie_from_before_session_versions_counts_as_version_0(app, engine, signed_up):
    kim = signed_up()
    browser = app.test_client()
    with browser.session_transaction() as session:
        session[auth.SESSION_KEY] = kim.id  # no version: issued before sessions had one
    assert browser.get("/api/auth/me").status_code == 200
    with engine.begin() as conn:
        users.revoke_sessions(conn, kim.id)
    assert_error(browser.get("/api/auth/me"), 401)


def test_pages_send_a_revoked_session_to_login(database_url, make_user):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    email = new_email()
    make_user(email, password=PASSWORD)
    browser, copy = app.test_client(), app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = browser.post("/login", data={"email": email, "password": PASSWORD,
                                            "csrf_token": token})
    assert response.status_code == 302
    copy_session(browser, copy)
    assert copy.get("/").status_code == 200
    page = browser.get("/account").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = browser.post("/account", data={"csrf_token": token, "current_password": PASSWORD,
                                              "new_password": "another passphrase"})
    assert response.status_code == 302
    assert browser.get("/").status_code == 200
    response = copy.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    # signing out on the pages ends a copy of the renewed cookie too
    later_copy = app.test_client()
    copy_session(browser, later_copy)
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      browser.get("/").get_data(as_text=True)).group(1)
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert later_copy.get("/").status_code == 302


# -- CSRF on cookie-authenticated API writes ---------------------------------------------------

def test_cookie_writes_need_the_csrf_header(app, signed_up):
    lena = signed_up()
    browser = app.test_client()
    assert login(browser, lena.user["email"]).status_code == 200
    error = assert_error(browser.post("/api/tokens", json={"name": "x"}), 403)
    assert error["code"] == "csrf_failed" and "X-CSRFToken" in error["fields"]
    assert_error(browser.post("/api/tokens", json={"name": "x"},
                              headers={"X-CSRFToken": "forged"}), 403)
    upload = {"file": (io.BytesIO(PNG), "a.png", "image/png")}
    assert_error(browser.post("/api/media", data=upload, content_type="multipart/form-data"),
                 403)
    assert lena.get("/api/media").get_json()["items"] == []
    headers = csrf_headers(browser)
    assert browser.get("/api/tokens").status_code == 200  # reads need no token
    created = browser.post("/api/tokens", json={"name": "x"}, headers=headers)
    assert created.status_code == 201
    upload = {"file": (io.BytesIO(PNG), "a.png", "image/png")}
    assert browser.post("/api/media", data=upload, content_type="multipart/form-data",
                        headers=headers).status_code == 201
    token_id = created.get_json()["id"]
    assert_error(browser.delete(f"/api/tokens/{token_id}"), 403)
    assert browser.delete(f"/api/tokens/{token_id}", headers=headers).status_code == 204


def test_bearer_writes_need_no_csrf_token(signed_up):
    mona = signed_up()
    assert mona.post("/api/tokens", json={"name": "ci"}).status_code == 201
    upload = {"file": (io.BytesIO(PNG), "a.png", "image/png")}
    assert mona.post("/api/media", data=upload,
                     content_type="multipart/form-data").status_code == 201


def test_the_csrf_token_of_another_session_is_refused(app, signed_up):
    nina, omar = signed_up(), signed_up()
    first, second = app.test_client(), app.test_client()
    assert login(first, nina.user["email"]).status_code == 200
    assert login(second, omar.user["email"]).status_code == 200
    assert_error(first.post("/api/tokens", json={"name": "x"}, headers=csrf_headers(second)),
                 403)


# -- the Secure flag -----------------------------------------------------------------------------

def test_session_cookie_is_secure_when_configured(database_url, signed_up):
    config = {"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
              "PAGES": False}
    paul = signed_up()
    secure = login(create_app({**config, "SESSION_COOKIE_SECURE": True}).test_client(),
                   paul.user["email"])
    assert "Secure" in secure.headers["Set-Cookie"]
    assert "HttpOnly" in secure.headers["Set-Cookie"]
    plain = login(create_app({**config, "SESSION_COOKIE_SECURE": False}).test_client(),
                  paul.user["email"])
    assert "Secure" not in plain.headers["Set-Cookie"]


def test_the_secure_flag_defaults_to_on_unless_local(tmp_path: Path, database_url, monkeypatch):
    server = "postgresql://dripfleet@db.internal:5432/dripfleet"
    embedded = f"postgresql://postgres@/postgres?host={tmp_path / 'postgres'}"
    (tmp_path / "postgres").mkdir()
    assert auth.cookie_secure(Settings(database_url=server)) is True
    assert auth.cookie_secure(Settings(database_url=None, data_dir=tmp_path)) is False
    assert auth.cookie_secure(Settings(database_url=embedded, data_dir=tmp_path)) is False
    assert auth.cookie_secure(load_settings({"DATABASE_URL": server,
                                             "SESSION_COOKIE_SECURE": "false"})) is False
    assert auth.cookie_secure(load_settings({"SESSION_COOKIE_SECURE": "true"})) is True
    # the factory reads it: a server database means a deployment
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "t"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "false")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "t"})
    assert app.config["SESSION_COOKIE_SECURE"] is False
