"""PostgreSQL down: the web app answers 503 (JSON for /api, a page for pages), /healthz says
`database: down`, and the same app serves again once the server is back, with no restart.

The server is the test's own (tests/own_postgres.py), never the machine's shared one.
"""


from dripfleet import database
from dripfleet.stores import users
from webapp import create_app


def _account(url: str) -> tuple[dict, str]:
    with database.get_engine(url).begin() as conn:
        user = users.create_user(conn, "outage@example.com", "correct horse battery")
        token, _ = users.create_token(conn, user["id"], "outage")
    return user, token


def _assert_unavailable(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"].isdigit()
    body = response.get_json()
    assert body["error"]["code"] == "database_unavailable"
    assert set(body["error"]) == {"code", "message", "fields"}


def test_api_and_pages_answer_503_while_postgres_is_down_and_recover(own_pg):
    url = own_pg.migrated()
    user, token = _account(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "outage",
                      "WTF_CSRF_ENABLED": False})
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    browser = app.test_client()
    signed_in = browser.post("/api/auth/login", json={"email": user["email"],
                                                      "password": "correct horse battery"})
    assert signed_in.status_code == 200
    assert api.get("/api/leads", headers=bearer).status_code == 200
    assert browser.get("/leads").status_code == 200

    own_pg.stop()  # fast shutdown: every pooled connection of the app is cut, as in a restart

    _assert_unavailable(api.get("/api/leads", headers=bearer))
    _assert_unavailable(api.post("/api/leads", headers=bearer, json={"phone": "+60123456789"}))
    _assert_unavailable(api.get("/api/leads/1", headers=bearer))
    health = api.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"status": "unavailable", "database": "down"}
    page = browser.get("/leads")
    assert page.status_code == 503
    assert page.mimetype == "text/html"
    assert "Temporarily unavailable" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)

    own_pg.start()  # the same app object: nothing restarted, no engine rebuilt

    assert api.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
    created = api.post("/api/leads", headers=bearer, json={"phone": "+60123456789"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert api.get("/api/leads", headers=bearer).get_json()["items"][0]["phone"] == "+60123456789"
    assert browser.get("/leads").status_code == 200


def test_a_statement_error_is_not_mistaken_for_an_outage():
    import psycopg
    from sqlalchemy import exc as sa_exc

    from webapp.errors import database_unavailable

    def wrapped(orig: Exception) -> sa_exc.DBAPIError:
        return sa_exc.OperationalError("SELECT 1", {}, orig)

    assert database_unavailable(wrapped(psycopg.OperationalError("connection refused")))
    assert database_unavailable(wrapped(psycopg.errors.AdminShutdown("terminating")))
    assert database_unavailable(wrapped(psycopg.errors.TooManyConnections("too many")))
    assert not database_unavailable(wrapped(psycopg.errors.QueryCanceled("statement timeout")))
    assert not database_unavailable(wrapped(psycopg.errors.DeadlockDetected("deadlock")))
    assert not database_unavailable(ValueError("not a database error"))
