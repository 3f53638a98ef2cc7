"""Issue 17 in headless Chromium at desktop and phone width, a campaign's page: its recipients
in pages of 50 with "1–50 of 60" totals, Previous / Next and their status kept in the URL, every
column on a phone."""

import pytest
from playwright.sync_api import expect

from tests.pages.browser import DESKTOP, PHONE
from tests.pages.conftest import PASSWORD
from tests.pages.test_marketer_lists import TABLE_PROBLEMS, _leads, _sign_in, _sql

VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])


@VIEWPORTS
def test_campaign_recipients_page_with_a_total_and_keep_their_status(page, served, engine,
                                                                     make_user, viewport):
    user = make_user(email="recipients@example.com", password=PASSWORD)
    leads = _leads(engine, user["id"], 60, "fitness")
    campaign = _sql(engine, "INSERT INTO campaigns (user_id, title, body, status, scheduled_at)"
                            " VALUES (:u, 'Promo', 'Hello', 'running', now()) RETURNING id",
                    u=user["id"])[0][0]
    _sql(engine, "INSERT INTO message_queue (user_id, lead_id, phone, body, source, campaign_id,"
                 " dedupe_key, status, sent_at, failure_class, last_error)"
                 " SELECT :u, l.id, l.phone, 'Hello', 'campaign', :c, 'c:' || l.id,"
                 " CASE WHEN l.id > :f THEN 'failed' ELSE 'sent' END,"
                 " CASE WHEN l.id > :f THEN NULL ELSE now() END,"
                 " CASE WHEN l.id > :f THEN 'recipient' END,"
                 " CASE WHEN l.id > :f THEN 'not on WhatsApp' END"
                 " FROM leads l WHERE l.user_id = :u ORDER BY l.id",
         u=user["id"], c=campaign, f=leads[54])
    _sign_in(page, served, user, viewport)
    page.goto(f"/campaigns/{campaign}")
    expect(page.locator("#recipients-range")).to_have_text("1–50 of 60")
    assert page.evaluate(TABLE_PROBLEMS) == []
    page.locator("#recipients select[name=status]").select_option("sent")
    page.locator("#recipients button", has_text="Show").click()
    expect(page.locator("#recipients-range")).to_have_text("1–50 of 55")
    page.click("#recipients-next")
    expect(page.locator("#recipients-range")).to_have_text("51–55 of 55")
    expect(page.locator("tr.recipient .badge")).to_have_text(["sent"] * 5)
    assert "status=sent" in page.url
    page.click("#recipients-prev")
    expect(page.locator("#recipients-range")).to_have_text("1–50 of 55")


@VIEWPORTS
def test_campaign_priority_set_on_the_form_and_toggled_on_its_page(page, served, engine,
                                                                   make_user, viewport):
    """Issue 17's priority bullet: a new campaign can be marked high priority on the form, its
    page says what that means, and the toggle moves its waiting messages ahead or back."""
    user = make_user(email=f"priority-{viewport['width']}@example.com", password=PASSWORD)
    _sign_in(page, served, user, viewport)
    page.goto("/campaigns")
    form = page.locator("form.grid-form").first
    form.locator("input[name=title]").fill("Flash sale")
    form.locator("input[name=date]").fill("2030-01-02")
    form.locator("input[name=time]").fill("09:00")
    form.locator("textarea[name=body]").fill("{Hi|Hello} {{ first_name }}, 50% off today")
    form.locator("select[name=priority]").select_option("high")
    form.locator("button[type=submit]").click()
    expect(page.locator("#campaign-priority")).to_contain_text("high priority")
    campaign = int(page.url.rstrip("/").rsplit("/", 1)[-1].split("?")[0].split("#")[0])
    assert _sql(engine, "SELECT priority FROM campaigns WHERE id = :c", c=campaign)[0][0] == "high"
    device = _sql(engine, "INSERT INTO devices (user_id, name, status) VALUES (:u, 'p', 'online')"
                          " RETURNING id", u=user["id"])[0][0]
    _sql(engine, "INSERT INTO message_queue (user_id, device_id, phone, body, source,"
                 " campaign_id, dedupe_key, lane) VALUES (:u, :d, '+60123456789', 'x',"
                 " 'campaign', :c, 'p:1', 2)", u=user["id"], d=device, c=campaign)
    page.click("#priority-toggle")
    expect(page.locator("#campaign-priority")).to_contain_text("normal priority")
    assert _sql(engine, "SELECT lane FROM message_queue WHERE campaign_id = :c",
                c=campaign)[0][0] == 1
    box = page.locator("#priority-toggle").bounding_box()
    assert box is not None and box["x"] + box["width"] <= viewport["width"]
