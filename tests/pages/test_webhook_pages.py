"""The Webhooks page in headless Chromium against gunicorn (issue 14): add an endpoint (a refused
private URL first), its secret shown once, "All events" covering the types it includes, a test
event in the delivery log, a failed delivery retried, the secret rotated, the endpoint disabled
and deleted after confirming.

The dispatcher is another process: its outcome (attempts, a failure) is written here with SQL."""

import re

from playwright.sync_api import expect
from sqlalchemy import Engine, text

from tests.conftest import scalar
from tests.pages.browser import screenshot
from tests.pages.conftest import PASSWORD

URL = "https://crm.example.com/hooks/dripfleet"


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("nav[aria-label=main]")).to_be_visible()


def fail_delivery(engine: Engine, delivery_id: int) -> None:
    """What the dispatcher leaves after a refused attempt and giving up."""
    with engine.begin() as conn:
        conn.execute(text(
            "UPDATE webhook_deliveries SET status = 'failed', attempts = 1, "
            "last_status_code = 503, finished_at = now() WHERE id = :i"), {"i": delivery_id})
        conn.execute(text(
            "INSERT INTO webhook_attempts (delivery_id, status_code, latency_ms, "
            "response_excerpt) VALUES (:i, 503, 87, 'upstream down')"), {"i": delivery_id})


def test_webhooks_page_in_the_browser(page, served, make_user, engine: Engine):
    user = make_user("hooks@example.com", password=PASSWORD)
    sign_in(page, "hooks@example.com")
    page.click("nav[aria-label=main] >> text=Webhooks")
    expect(page.locator("h1")).to_have_text("Webhooks")
    expect(page.locator("#webhook-list")).to_contain_text("No endpoints yet")

    form = page.locator("#new-webhook")
    everything = form.locator('input[value="*"]')
    delivered = form.locator('input[value="message.delivered"]')
    queued = form.locator('input[value="message.queued"]')
    # "All events" is on by default and covers every type but message.queued
    expect(everything).to_be_checked()
    expect(delivered).to_be_disabled()
    expect(queued).to_be_enabled()
    everything.uncheck()
    expect(delivered).to_be_enabled()
    delivered.check()
    form.locator('input[value="message.read"]').check()
    form.locator("input[name=url]").fill("https://10.1.2.3/hook")
    form.locator("input[name=description]").fill("CRM sync")
    form.locator("button[type=submit]").click()
    expect(page.locator("#url-error")).to_contain_text("10.1.2.3 is not a public address")
    # what was typed and ticked is kept
    expect(page.locator("#new-webhook input[name=description]")).to_have_value("CRM sync")
    expect(page.locator('#new-webhook input[value="message.read"]')).to_be_checked()
    page.fill("#new-webhook input[name=url]", URL)
    page.click("#new-webhook button[type=submit]")

    secret = page.locator("#webhook-secret")
    expect(secret).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$"))
    shown = secret.text_content()
    assert shown == scalar(engine, "SELECT secret FROM webhook_endpoints WHERE user_id = :u",
                           u=user["id"])
    expect(page.locator("#webhook-url")).to_have_text(URL)
    expect(page.locator("#webhook-events")).to_have_text("message.delivered, message.read")
    screenshot(page, "webhook-created")

    endpoint_id = scalar(engine, "SELECT id FROM webhook_endpoints WHERE user_id = :u",
                         u=user["id"])
    # the page took its own address: reloading it shows no secret, only its hint
    expect(page).to_have_url(re.compile(rf"/webhooks/{endpoint_id}$"))
    page.reload()
    expect(page.locator("#webhook-secret")).to_have_count(0)
    expect(page.locator("body")).to_contain_text("whsec_…" + shown.rstrip("=")[-4:])
    expect(page.locator("body")).not_to_contain_text(shown)

    page.click("#send-test")
    expect(page.locator(".flash.ok")).to_contain_text("Test event queued (msg_")
    row = page.locator("tr.delivery")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("webhook.test")
    expect(row).to_have_attribute("data-status", "pending")

    delivery_id = scalar(engine, "SELECT id FROM webhook_deliveries WHERE endpoint_id = :e",
                         e=endpoint_id)
    fail_delivery(engine, delivery_id)
    page.reload()
    expect(row).to_have_attribute("data-status", "failed")
    expect(row.locator(".last-answer")).to_contain_text("503")
    page.click("tr.attempts-row summary")
    expect(page.locator("li.attempt")).to_contain_text("87 ms")
    expect(page.locator("li.attempt")).to_contain_text("upstream down")
    screenshot(page, "webhook-deliveries")
    row.locator("button.retry").click()
    expect(page.locator(".flash.ok")).to_contain_text(f"Delivery {delivery_id} will be sent")
    expect(page.locator("tr.delivery")).to_have_attribute("data-status", "pending")

    # rotate and delete ask first
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#rotate-secret")
    rotated = page.locator("#webhook-secret")
    expect(rotated).to_have_text(re.compile(r"^whsec_"))
    assert rotated.text_content() != shown
    expect(page.locator("body")).to_contain_text("the previous secret also signs until")

    page.click("#disable-webhook")
    expect(page.locator("#webhook-state")).to_contain_text("disabled")
    expect(page.locator("#send-test")).to_be_disabled()
    page.click("#enable-webhook")
    expect(page.locator("#webhook-state")).to_contain_text("enabled")

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#delete-webhook")
    expect(page.locator("#webhook-url")).to_have_text(URL)  # still there
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-webhook")
    expect(page.locator(".flash.ok")).to_contain_text("Webhook endpoint deleted.")
    expect(page.locator("#webhook-list")).to_contain_text("No endpoints yet")
    assert scalar(engine, "SELECT count(*) FROM webhook_endpoints WHERE user_id = :u",
                  u=user["id"]) == 0
