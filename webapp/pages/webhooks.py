"""Webhooks `/webhooks` (endpoints, add one: its secret shown once) and `/webhooks/<id>` (the
delivery log with every attempt, a test event, retry, settings, enable / disable, rotate the
secret, delete). Every change goes through webapp.services.webhooks, as the API does."""

from datetime import datetime
from typing import Any

from flask import flash, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webapp import db
from webapp.pages import access
from webapp.schemas.webhooks import ALL, DELIVERY_STATUSES, EVENT_TYPES, WebhookIn, WebhookPatch
from webapp.services import webhooks
from webapp.services.errors import Conflict, Invalid

bp = access.blueprint("pages_webhooks", __name__)
LOG_PAGE = 50


@bp.get("/webhooks")
def index() -> Any:
    """Every endpoint with its events and state; the form to add one."""
    return _index_page()


def _index_page(form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                status: int = 200) -> Any:
    with db.transaction() as conn:
        items = webhooks.list_endpoints(conn, access.user_id(), limit=webhooks.MAX_ENDPOINTS)
    return render_template(
        "webhooks/index.html", endpoints=items, event_types=EVENT_TYPES, all_events=ALL,
        form=form or {"url": "", "description": "", "events": [ALL]}, errors=errors or {},
        max_endpoints=webhooks.MAX_ENDPOINTS), status


@bp.post("/webhooks")
def create() -> Any:
    """Add an endpoint; the answer is its page with the secret, shown this once."""
    form = _form()
    try:
        data = access.load(WebhookIn, _body(form))
        with db.transaction() as conn:
            endpoint = webhooks.create_endpoint(conn, access.user_id(), data)
    except (Invalid, Conflict) as error:
        # the form again with what was typed and the reasons by field
        return _index_page(form, _errors(error))
    flash("Webhook endpoint added. Copy its signing secret now: it is not shown again.", "ok")
    return _secret_page(endpoint)


@bp.get("/webhooks/<id:webhook_id>")
def detail(webhook_id: int) -> str:
    """The endpoint, its settings and its delivery log (newest first, paged)."""
    return _detail_page(webhook_id)


def _detail_page(webhook_id: int, secret: str | None = None,
                 form: dict[str, Any] | None = None,
                 errors: dict[str, str] | None = None) -> str:
    uid = access.user_id()
    before = request.args.get("before", type=int)
    status = request.args.get("status") or None
    if status not in DELIVERY_STATUSES:
        status = None
    with db.transaction() as conn:
        endpoint = webhooks.get_endpoint(conn, uid, webhook_id)
        log = webhooks.list_deliveries(conn, uid, webhook_id, LOG_PAGE, before, status)
    for item in log:
        for attempt in item["attempt_log"]:
            attempt["attempted_at"] = datetime.fromisoformat(attempt["attempted_at"])
    older = log[-1]["id"] if len(log) == LOG_PAGE else None
    return render_template(
        "webhooks/detail.html", endpoint=endpoint, deliveries=log, older=older,
        status_filter=status, statuses=DELIVERY_STATUSES, secret=secret,
        event_types=EVENT_TYPES, all_events=ALL,
        form=form or {"url": endpoint["url"], "description": endpoint["description"],
                      "events": endpoint["events"]},
        errors=errors or {})


def _secret_page(endpoint: dict[str, Any]) -> Response:
    # rendered in the answer to the POST, never carried in the (signed, readable) session
    # cookie; never stored by the browser or a proxy
    response = make_response(_detail_page(endpoint["id"], secret=endpoint["secret"]))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/webhooks/<id:webhook_id>/settings")
def update(webhook_id: int) -> Any:
    """Change the URL, description and events."""
    form = _form()
    try:
        data = access.load(WebhookPatch, _body(form))
        with db.transaction() as conn:
            webhooks.update_endpoint(conn, access.user_id(), webhook_id, data)
    except Invalid as error:
        return _detail_page(webhook_id, form=form, errors=_errors(error))
    flash("Webhook settings saved.", "ok")
    return redirect(url_for(".detail", webhook_id=webhook_id))


@bp.post("/webhooks/<id:webhook_id>/enable")
def enable(webhook_id: int) -> Response:
    """Turn the endpoint on (clears why it was off)."""
    return _switch(webhook_id, True, "Webhook enabled: new events go to it again.")


@bp.post("/webhooks/<id:webhook_id>/disable")
def disable(webhook_id: int) -> Response:
    """Turn the endpoint off: no events are written for it meanwhile."""
    return _switch(webhook_id, False, "Webhook disabled: no events are sent to it.")


def _switch(webhook_id: int, enabled: bool, message: str) -> Response:
    with db.transaction() as conn:
        webhooks.update_endpoint(conn, access.user_id(), webhook_id, {"enabled": enabled})
    flash(message, "ok")
    # not back(): after a rotation the page's address is the rotation's POST
    return redirect(url_for(".detail", webhook_id=webhook_id))


@bp.post("/webhooks/<id:webhook_id>/rotate")
def rotate(webhook_id: int) -> Response:
    """A new signing secret, shown this once; the old one signs too for 24 hours."""
    with db.transaction() as conn:
        endpoint = webhooks.rotate_secret(conn, access.user_id(), webhook_id)
    flash("New signing secret made. Copy it now: it is not shown again. The old secret keeps "
          "signing beside it for 24 hours.", "ok")
    return _secret_page(endpoint)


@bp.post("/webhooks/<id:webhook_id>/delete")
def delete(webhook_id: int) -> Response:
    """Delete the endpoint and its delivery log."""
    with db.transaction() as conn:
        webhooks.delete_endpoint(conn, access.user_id(), webhook_id)
    flash("Webhook endpoint deleted.", "ok")
    return redirect(url_for(".index"))


@bp.post("/webhooks/<id:webhook_id>/test")
def send_test(webhook_id: int) -> Response:
    """Write one webhook.test event to this endpoint; the dispatcher sends it."""
    with db.transaction() as conn:
        sent = webhooks.send_test(conn, access.user_id(), webhook_id)
    flash(f"Test event queued ({sent['event_id']}): it appears below once the dispatcher has "
          "tried it.", "ok")
    return redirect(url_for(".detail", webhook_id=webhook_id))


@bp.post("/webhooks/<id:webhook_id>/deliveries/<id:delivery_id>/retry")
def retry(webhook_id: int, delivery_id: int) -> Response:
    """Send one delivery again now, with the same webhook-id."""
    with db.transaction() as conn:
        webhooks.retry_delivery(conn, access.user_id(), webhook_id, delivery_id)
    flash(f"Delivery {delivery_id} will be sent again shortly.", "ok")
    return redirect(url_for(".detail", webhook_id=webhook_id, _anchor="delivery-log"))


def _form() -> dict[str, Any]:
    values: dict[str, Any] = access.form_values("url", "description")
    values["events"] = [name for name in request.form.getlist("events") if name]
    return values


def _body(form: dict[str, Any]) -> dict[str, Any]:
    if not form["events"]:
        raise Invalid({"events": "choose at least one event type"})
    return form


def _errors(error: Invalid | Conflict) -> dict[str, str]:
    """The reasons by the form's fields (events.3 is the events boxes); the rest as '_'."""
    return access.form_errors(error, lambda name: name.split(".")[0] if name.split(".")[0] in (
        "url", "description", "events") else "_")
