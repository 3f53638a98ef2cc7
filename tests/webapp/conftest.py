"""Fixtures for the web app: an app on this test's database, a client, users with tokens."""

import itertools

import pytest
from sqlalchemy import Engine

from dripfleet.stores import users
from webapp import create_app

_emails = itertools.count(1)


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
    return make_account("alice@example.com")


@pytest.fixture
def bob(make_account) -> Account:
    """Another user, whose resources alice must never reach."""
    return make_account("bob@example.com")


def assert_error(response, status: int, field: str | None = None) -> dict:
    """The response is the standard error shape with this status (and names field)."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    if field is not None:
        assert field in body["error"]["fields"], body
    return body["error"]
