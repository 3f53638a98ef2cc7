"""Fixtures for the pages: the app with a test client, signed-in users, foreign ids."""

import itertools

import pytest
from sqlalchemy import Engine

from dripfleet.stores import users
from webapp import auth, create_app

_emails = itertools.count(1)
PASSWORD = "correct horse battery"


@pytest.fixture
def app(database_url: str):
    """The app on a fresh migrated database (CSRF off: test_csrf checks it on its own app)."""
    return create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                       "WTF_CSRF_ENABLED": False})


@pytest.fixture
def client(app):
    """A Flask test client without a session."""
    return app.test_client()


@pytest.fixture
def make_user_client(app, engine: Engine):
    """Factory: a new user and a test client signed in as that user."""

    def make(email: str | None = None):
        email = email or f"pages{next(_emails)}@example.com"
        with engine.begin() as conn:
            user = users.create_user(conn, email, PASSWORD)
        client = app.test_client()
        with client.session_transaction() as session:
            session[auth.SESSION_KEY] = int(user["id"])
        return user, client

    return make


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (each test opens its own context).

    Not per session: Playwright's sync API keeps an event loop running on the main thread while
    it is open, and Dagster's in-process runs in later test modules must not find it there.
    """
    from playwright.sync_api import sync_playwright

    from tests.pages.browser import CHROMIUM_FLAGS, chromium_path

    executable = chromium_path()
    # Playwright gives every launch a fresh temporary profile (the --user-data-dir of the notes)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def served(database_url: str):
    """The app under gunicorn on this test's database: its base URL."""
    from tests.pages.browser import gunicorn

    with gunicorn(database_url) as base:
        yield base


@pytest.fixture
def page(browser, served: str):
    """A fresh browser context and page on the served app, watched for errors and other hosts."""
    from tests.pages.browser import DESKTOP, Watch

    watch = Watch(served)
    context = browser.new_context(viewport=DESKTOP, base_url=served)
    watch.attach(context)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.watch = watch
    yield page
    context.close()
    watch.check()
