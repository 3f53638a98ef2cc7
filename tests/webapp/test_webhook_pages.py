"""The webhook pages by the Flask test client: the list and the form, the secret shown once
(in the answer, never in the session or a later page), the delivery log with its attempts,
test event, retry, enable / disable, rotate, delete; another user's ids, escaping, CSRF."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from tests.conftest import scalar
from tests.webapp.conftest import SignedIn
from webapp import create_app

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
URL = "https://hooks.example.com/dripfleet"
SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")




class Marketer(SignedIn):
    """A user signed in to the pages."""

    def __init__(self, app, engine: Engine) -> None:
        super().__init__(app, engine, "hookpages")

    def create(self, url: str = URL, events: tuple[str, ...] = ("*",), description: str = ""):
        return self.client.post("/webhooks", data={"url": url, "description": description,
                                                   "events": list(events)})

    def endpoint(self, **kw) -> int:
        response = self.create(**kw)
        assert response.status_code == 200, response.get_data(as_text=True)
        return scalar(self.engine, "SELECT max(id) FROM webhook_endpoints WHERE user_id = :u",
                      u=self.id)

    def delivery(self, endpoint_id: int, status: str, attempts: list[tuple]) -> int:
        with self.engine.begin() as conn:
            delivery_id = conn.execute(text(
                "INSERT INTO webhook_deliveries (user_id, endpoint_id, event_type, payload, "
                "status, attempts, last_status_code, last_error, created_at) VALUES (:u, :e, "
                "'message.read', '{}', :s, :n, :code, :err, :at) RETURNING id"), {
                    "u": self.id, "e": endpoint_id, "s": status, "n": len(attempts),
                    "code": attempts[-1][0] if attempts else None,
                    "err": attempts[-1][2] if attempts else None, "at": T0}).scalar_one()
            for index, (code, latency, error, body) in enumerate(attempts):
                conn.execute(text(
                    "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, "
                    "latency_ms, error, response_excerpt) VALUES (:d, :at, :c, :l, :e, :b)"),
                    {"d": delivery_id, "at": T0 + timedelta(seconds=index), "c": code,
                     "l": latency, "e": error, "b": body})
        return delivery_id


@pytest.fixture
def marketer(pages_app, engine) -> Marketer:
    return Marketer(pages_app, engine)


@pytest.fixture
def other(pages_app, engine) -> Marketer:
    return Marketer(pages_app, engine)


def test_the_navigation_links_the_webhooks_page(marketer):
    page = marketer.client.get("/")
    assert 'href="/webhooks"' in page.get_data(as_text=True)
    index = marketer.client.get("/webhooks")
    assert index.status_code == 200
    html = index.get_data(as_text=True)
    assert "No endpoints yet" in html and 'id="new-webhook"' in html
    assert "webhooks.css" in html and "webhooks.js" in html


def test_creating_shows_the_secret_once(marketer, engine):
    response = marketer.create(events=("message.delivered", "message.read"),
                               description="CRM")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    secret = scalar(engine, "SELECT secret FROM webhook_endpoints WHERE user_id = :u",
                    u=marketer.id)
    assert SECRET.fullmatch(secret)
    assert f'<code id="webhook-secret">{secret}</code>' in html
    assert "it is not shown again" in html
    # not carried in the session cookie, not on any later page
    with marketer.client.session_transaction() as session:
        assert secret not in repr(dict(session))
    endpoint_id = scalar(engine, "SELECT id FROM webhook_endpoints WHERE user_id = :u",
                         u=marketer.id)
    for path in ("/webhooks", f"/webhooks/{endpoint_id}"):
        later = marketer.client.get(path).get_data(as_text=True)
        assert secret not in later and 'id="webhook-secret"' not in later
        assert "whsec_…" + secret.rstrip("=")[-4:] in later
    listed = marketer.client.get("/webhooks").get_data(as_text=True)
    assert "<code>message.delivered</code>, <code>message.read</code>" in listed
    assert "CRM" in listed


def test_a_refused_url_comes_back_with_the_reason_and_what_was_typed(marketer, engine):
    response = marketer.create(url="https://10.0.0.7/hook", description="internal box",
                               events=("message.sent",))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="url-error"' in html and "10.0.0.7 is not a public address" in html
    assert 'value="https://10.0.0.7/hook"' in html and 'value="internal box"' in html
    assert re.search(r'value="message.sent"[^>]*checked', html)
    for url in ("http://hooks.example.com/h", "https://localhost/h", "https://127.0.0.1/"):
        assert 'id="url-error"' in marketer.create(url=url).get_data(as_text=True)
    none = marketer.create(events=())
    assert "choose at least one event type" in none.get_data(as_text=True)
    assert scalar(engine, "SELECT count(*) FROM webhook_endpoints WHERE user_id = :u",
                  u=marketer.id) == 0


def test_the_delivery_log_shows_attempts_and_retries_a_failed_one(marketer, engine):
    endpoint_id = marketer.endpoint()
    delivered = marketer.delivery(endpoint_id, "delivered",
                                  [(500, 120, None, "boom"), (200, 35, None, "ok")])
    failed = marketer.delivery(endpoint_id, "failed", [(None, 5000, "timed out", None)])
    html = marketer.client.get(f"/webhooks/{endpoint_id}").get_data(as_text=True)
    assert f'id="delivery-{delivered}"' in html and f'id="delivery-{failed}"' in html
    assert html.index(f'id="delivery-{failed}"') < html.index(f'id="delivery-{delivered}"')
    assert "120 ms" in html and "35 ms" in html and "timed out" in html and "boom" in html
    retry = f"/webhooks/{endpoint_id}/deliveries/{failed}/retry"
    assert f'action="{retry}"' in html
    assert f'action="/webhooks/{endpoint_id}/deliveries/{delivered}/retry"' not in html
    response = marketer.client.post(retry)
    assert response.status_code == 302
    assert scalar(engine, "SELECT status FROM webhook_deliveries WHERE id = :i",
                  i=failed) == "pending"
    page = marketer.client.get(f"/webhooks/{endpoint_id}").get_data(as_text=True)
    assert f"Delivery {failed} will be sent again shortly." in page
    failed_only = marketer.client.get(f"/webhooks/{endpoint_id}?status=delivered")
    assert f'id="delivery-{failed}"' not in failed_only.get_data(as_text=True)


def test_send_a_test_event(marketer, engine):
    endpoint_id = marketer.endpoint()
    response = marketer.client.post(f"/webhooks/{endpoint_id}/test", follow_redirects=True)
    html = response.get_data(as_text=True)
    event_id = scalar(engine, "SELECT event_id FROM webhook_deliveries WHERE endpoint_id = :e "
                              "AND event_type = 'webhook.test'", e=endpoint_id)
    assert f"Test event queued ({event_id})" in html
    assert "<code>webhook.test</code>" in html


def test_disable_enable_rotate_and_delete(marketer, engine):
    endpoint_id = marketer.endpoint()
    with engine.begin() as conn:
        conn.execute(text("UPDATE webhook_endpoints SET enabled = false, failing_since = :at, "
                          "disabled_reason = 'answered 410 Gone' WHERE id = :i"),
                     {"i": endpoint_id, "at": T0})
    listed = marketer.client.get("/webhooks").get_data(as_text=True)
    assert "answered 410 Gone" in listed and "failing since" in listed
    page = marketer.client.get(f"/webhooks/{endpoint_id}").get_data(as_text=True)
    assert 'id="enable-webhook"' in page and 'id="send-test" disabled' in page
    marketer.client.post(f"/webhooks/{endpoint_id}/enable")
    row = _row(engine, endpoint_id)
    assert (row["enabled"], row["disabled_reason"], row["failing_since"]) == (True, None, None)
    marketer.client.post(f"/webhooks/{endpoint_id}/disable")
    assert _row(engine, endpoint_id)["enabled"] is False
    old = _row(engine, endpoint_id)["secret"]
    rotated = marketer.client.post(f"/webhooks/{endpoint_id}/rotate")
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    row = _row(engine, endpoint_id)
    assert row["secret"] != old and row["previous_secret"] == old
    html = rotated.get_data(as_text=True)
    assert row["secret"] in html and old not in html
    # delete sits in its own section, asks first, and goes back to the list
    page = marketer.client.get(f"/webhooks/{endpoint_id}").get_data(as_text=True)
    assert re.search(r'class="card danger-zone".*data-confirm="Delete this webhook', page,
                     re.S)
    response = marketer.client.post(f"/webhooks/{endpoint_id}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/webhooks")
    assert scalar(engine, "SELECT count(*) FROM webhook_endpoints WHERE id = :i",
                  i=endpoint_id) == 0


def test_settings_form_changes_url_and_events(marketer, engine):
    endpoint_id = marketer.endpoint()
    response = marketer.client.post(f"/webhooks/{endpoint_id}/settings", data={
        "url": "https://other.example.org/h", "description": "n8n",
        "events": ["message.queued", "message.failed"]})
    assert response.status_code == 302
    row = _row(engine, endpoint_id)
    assert (row["url"], row["events"]) == ("https://other.example.org/h",
                                           ["message.queued", "message.failed"])
    refused = marketer.client.post(f"/webhooks/{endpoint_id}/settings", data={
        "url": "https://192.168.0.2/h", "events": ["*"]})
    assert refused.status_code == 200 and 'id="url-error"' in refused.get_data(as_text=True)
    assert _row(engine, endpoint_id)["url"] == "https://other.example.org/h"


def test_another_users_webhooks_are_404(marketer, other, engine):
    endpoint_id = marketer.endpoint()
    delivery = marketer.delivery(endpoint_id, "failed", [(500, 10, None, None)])
    assert other.client.get(f"/webhooks/{endpoint_id}").status_code == 404
    for action in ("settings", "enable", "disable", "rotate", "delete", "test",
                   f"deliveries/{delivery}/retry"):
        response = other.client.post(f"/webhooks/{endpoint_id}/{action}",
                                     data={"url": URL, "events": ["*"]})
        assert response.status_code == 404, action
    assert URL not in other.client.get("/webhooks").get_data(as_text=True)
    row = _row(engine, endpoint_id)
    assert row["enabled"] is True and row["previous_secret"] is None
    assert scalar(engine, "SELECT status FROM webhook_deliveries WHERE id = :i",
                  i=delivery) == "failed"


def test_descriptions_and_answers_are_escaped(marketer):
    endpoint_id = marketer.endpoint(description="<script>alert(1)</script>")
    marketer.delivery(endpoint_id, "failed", [(500, 10, None, "<img src=x onerror=alert(2)>")])
    for path in ("/webhooks", f"/webhooks/{endpoint_id}"):
        html = marketer.client.get(path).get_data(as_text=True)
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x" not in marketer.client.get(f"/webhooks/{endpoint_id}").get_data(
        as_text=True)


def test_signed_out_visitors_go_to_login(pages_app):
    response = pages_app.test_client().get("/webhooks")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_forms_need_the_csrf_token(database_url, engine):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    marketer = Marketer(app, engine)
    response = marketer.client.post("/webhooks", data={"url": URL, "events": ["*"]})
    assert response.status_code == 302
    assert scalar(engine, "SELECT count(*) FROM webhook_endpoints WHERE user_id = :u",
                  u=marketer.id) == 0


def _row(engine: Engine, endpoint_id: int) -> dict:
    with engine.begin() as conn:
        return dict(conn.execute(text(
            "SELECT url, events, enabled, disabled_reason, failing_since, secret, "
            "previous_secret FROM webhook_endpoints WHERE id = :i"), {"i": endpoint_id}
        ).mappings().one())
