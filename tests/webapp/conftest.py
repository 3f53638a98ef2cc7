"""Fixtures for the web app: an app on a database per test module, a client, users with tokens.

Every resource belongs to a user and every test makes its own users, so the tests of one module
share one migrated database (cloning a database per test costs seconds on a loaded machine);
assertions look only at the test's own users' rows.
"""

import itertools

import pytest
from sqlalchemy import Engine

from dripfleet.stores import users
from tests.conftest import create_database, drop_database
from webapp import auth, create_app

_emails = itertools.count(1)


@pytest.fixture(scope="module")
def module_database_url(pg_server_url: str, template_database: str):
    """One migrated database for the whole test module."""
    url = create_database(pg_server_url, template_database)
    yield url
    drop_database(pg_server_url, url)


@pytest.fixture
def database_url(module_database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module's database (overrides the per-test clone of tests/conftest.py)."""
    monkeypatch.setenv("DATABASE_URL", module_database_url)
    return module_database_url


@pytest.fixture
def app(database_url: str):
    """The app on a fresh migrated database."""
    return create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                       "PAGES": False})


@pytest.fixture
def client(app):
    """A Flask test client."""
    return app.test_client()


class Account:
    """A user with a bearer token, and request helpers that send it."""

    def __init__(self, client, user: dict, token: str) -> None:
        self.client = client
        self.user = user
        self.id = user["id"]
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, path: str, **kw):
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kw)

    def get(self, path: str, **kw):
        return self._call("GET", path, **kw)

    def post(self, path: str, **kw):
        return self._call("POST", path, **kw)

    def put(self, path: str, **kw):
        return self._call("PUT", path, **kw)

    def patch(self, path: str, **kw):
        return self._call("PATCH", path, **kw)

    def delete(self, path: str, **kw):
        return self._call("DELETE", path, **kw)


@pytest.fixture
def make_account(client, engine: Engine):
    """Factory: a new user with an API token."""

    def make(email: str | None = None) -> Account:
        email = email or f"webuser{next(_emails)}@example.com"
        with engine.begin() as conn:
            user = users.create_user(conn, email, "correct horse battery")
            token, _ = users.create_token(conn, user["id"], "test")
        return Account(client, user, token)

    return make


@pytest.fixture
def alice(make_account) -> Account:
    """The first user."""
    return make_account()


@pytest.fixture
def bob(make_account) -> Account:
    """Another user, whose resources alice must never reach."""
    return make_account()


def assert_error(response, status: int, field: str | None = None) -> dict:
    """The response is the standard error shape with this status (and names field)."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    if field is not None:
        assert field in body["error"]["fields"], body
    return body["error"]


@pytest.fixture
def pages_app(database_url: str):
    """The app with its pages, CSRF off (the tests that check CSRF build their own)."""
    return create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                       "WTF_CSRF_ENABLED": False})


class SignedIn:
    """A new user signed in to the pages: `client` carries the session, `id` is the user's."""

    def __init__(self, app, engine: Engine, email_prefix: str = "pages") -> None:
        self.engine = engine
        with engine.begin() as conn:
            self.user = users.create_user(conn, f"{email_prefix}{next(_emails)}@example.com",
                                          "correct horse battery")
        self.id = int(self.user["id"])
        self.client = app.test_client()
        with self.client.session_transaction() as session:
            session[auth.SESSION_KEY] = self.id
