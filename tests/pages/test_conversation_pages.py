"""Acceptance 6 of issue 13 in headless Chromium against gunicorn: the inbox shows a lead that
wrote in with its unread count, its row opens the lead page, the conversation shows both
directions, a reply typed in the box is queued and appears in the conversation, and the unread
count drops after viewing; a device page sends a test message to one's own number.

Incoming messages are stored through dripfleet.stores.sending.record_inbound, the statement the
device host runs for every message a lead writes."""

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect
from sqlalchemy import Engine, text

from dripfleet.stores.sending import record_inbound
from tests.conftest import scalar
from tests.pages.browser import screenshot

PASSWORD = "correct horse battery"
LEAD_PHONE = "+60123450077"


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("nav[aria-label=main]")).to_be_visible()


def online_device(engine: Engine, user_id: int, name: str) -> int:
    """A device the simulated host would drive; online, so the messages service may choose it."""
    return scalar(engine, "INSERT INTO devices (user_id, name, status, phone) "
                          "VALUES (:u, :n, 'online', '+60111111111') RETURNING id",
                  u=user_id, n=name)


def test_inbox_lead_page_conversation_and_reply(page, served, make_user, engine: Engine):
    user = make_user("inbox@example.com", password=PASSWORD)
    device = online_device(engine, user["id"], "Sales phone")
    lead = scalar(engine, "INSERT INTO leads (user_id, phone, name, niches) VALUES "
                          "(:u, :p, 'Aisha Rahman', ARRAY['fitness']) RETURNING id",
                  u=user["id"], p=LEAD_PHONE)
    sent_at = datetime.now(UTC) - timedelta(minutes=30)
    scalar(engine, "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, status, "
                   "created_at, sent_at, delivered_at, read_at, source, dedupe_key) VALUES "
                   "(:u, :d, :l, :p, 'Day 1: welcome to the studio', 'sent', :at, :at, :at, "
                   ":at, 'sequence', 'test:day1') RETURNING id",
           u=user["id"], d=device, l=lead, p=LEAD_PHONE, at=sent_at)
    with engine.begin() as conn:
        record_inbound(conn, [
            {"device_id": device, "phone": LEAD_PHONE, "message_type": "text",
             "text": "Tell me more about the classes", "provider_message_id": "IN-1",
             "quoted_provider_id": None, "received_at": sent_at + timedelta(minutes=5)},
            {"device_id": device, "phone": LEAD_PHONE, "message_type": "image",
             "text": "this is my gym", "provider_message_id": "IN-2",
             "quoted_provider_id": None, "received_at": sent_at + timedelta(minutes=6)},
        ])

    sign_in(page, "inbox@example.com")
    page.click("nav[aria-label=main] >> text=Inbox")
    row = page.locator("tr.inbox-row")
    expect(row).to_have_count(1)
    expect(row).to_have_class("inbox-row unread")
    expect(row.locator(".unread-count")).to_have_text("2")
    expect(row).to_contain_text("Aisha Rahman")
    expect(row.locator(".latest")).to_contain_text("this is my gym")
    expect(row).to_contain_text("Sales phone")
    screenshot(page, "inbox")

    row.locator("a.lead-link").click()
    expect(page).to_have_url(f"{served}/leads/{lead}")
    expect(page.locator("#lead-name")).to_contain_text("Aisha Rahman")
    expect(page.locator("#lead-niches")).to_contain_text("fitness")
    chat = page.locator("#conversation")
    expect(chat.locator(".msg")).to_have_count(3)
    expect(chat.locator(".msg.out")).to_have_count(1)
    expect(chat.locator(".msg.in")).to_have_count(2)
    # oldest at the top, newest at the bottom, as in a chat
    expect(chat.locator(".msg").first).to_contain_text("Day 1: welcome to the studio")
    expect(chat.locator(".msg.out .ticks.read")).to_be_visible()
    expect(chat.locator(".msg").last).to_contain_text("this is my gym")
    expect(chat.locator(".msg.in.unread")).to_have_count(2)  # new as this view opened
    screenshot(page, "lead-conversation")

    # a reply through the box: queued through the device and shown at the bottom
    page.fill("#reply textarea[name=body]", "Classes run every morning at 7, {{ first_name }}!")
    page.click("#reply button[type=submit]")
    expect(page.locator(".flash.ok")).to_contain_text("Reply queued")
    last = chat.locator(".msg").last
    expect(last).to_have_class("msg out queued")
    expect(last).to_contain_text("Classes run every morning at 7, Aisha!")
    expect(last.locator(".status")).to_have_text("queued")
    # Ctrl+Enter sends too (app.js)
    page.fill("#reply textarea[name=body]", "See you there")
    page.press("#reply textarea[name=body]", "Control+Enter")
    expect(chat.locator(".msg").last).to_contain_text("See you there")
    with engine.begin() as conn:
        queued = conn.execute(text(
            "SELECT body, device_id, source FROM message_queue WHERE lead_id = :l "
            "AND status = 'queued' ORDER BY id"), {"l": lead}).all()
    assert [tuple(r) for r in queued] == [
        ("Classes run every morning at 7, Aisha!", device, "api"),
        ("See you there", device, "api")]

    # viewing marked the lead's messages read: the inbox count dropped
    page.click("nav[aria-label=main] >> text=Inbox")
    expect(row).to_have_class("inbox-row")
    expect(row.locator(".unread-count")).to_have_text("0")


def test_device_page_sends_a_test_message_to_my_number(page, make_user, engine: Engine):
    user = make_user("tester@example.com", password=PASSWORD)
    device = online_device(engine, user["id"], "Front desk")
    sign_in(page, "tester@example.com")
    page.goto(f"/devices/{device}")
    form = page.locator("#test-message-form")
    expect(form.locator("textarea[name=body]")).to_have_value(
        "This is a test message from dripfleet.")

    form.locator("input[name=phone]").fill("12")
    form.locator("button[type=submit]").click()
    error = page.locator("#test-phone-error")
    expect(error).to_contain_text("Phone number:")
    expect(page.locator("#test-message-form input[name=phone]")).to_have_value("12")
    expect(page.locator("#test-message-form input[name=phone]")).to_have_attribute(
        "aria-invalid", "true")

    page.locator("#test-message-form input[name=phone]").fill("+60 12-999 8877")
    page.locator("#test-message-form button[type=submit]").click()
    expect(page.locator(".flash.ok")).to_contain_text("Test message queued to +60129998877")
    screenshot(page, "device-test-message")
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT phone, body, device_id FROM message_queue "
                                 "WHERE user_id = :u"), {"u": user["id"]}).all()
    assert [tuple(r) for r in rows] == [
        ("+60129998877", "This is a test message from dripfleet.", device)]
