"""Issue 17 in headless Chromium at desktop and phone width: the queue's "Next send", rewritten by
app.js every few seconds, stays in the user's zone (it turned into the browser's zone before),
and the page names that zone once."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.conftest import scalar
from tests.pages.browser import DESKTOP, PHONE, screenshot
from tests.pages.conftest import PASSWORD

ZONE = "Asia/Kuala_Lumpur"  # UTC+8, no DST: never the zone of the headless browser (UTC)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_queue_next_send_stays_in_the_users_zone_after_a_refresh(page, served, engine, make_user,
                                                                  viewport):
    user = make_user(email="zone@example.com", password=PASSWORD, timezone=ZONE)
    next_send = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    scalar(engine, "INSERT INTO devices (user_id, name, status, next_send_at) VALUES"
                   " (:u, 'Sales phone', 'online', :n) RETURNING id", u=user["id"], n=next_send)
    page.set_viewport_size(viewport)
    page.goto("/login")
    page.fill("input[name=email]", user["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{served}/")
    local = next_send.astimezone(ZoneInfo(ZONE)).strftime("%H:%M:%S")  # 11:04:05
    with page.expect_response(lambda r: r.url.endswith("/api/queue/stats")):
        page.goto("/queue")
    cell = page.locator("td[data-field=next_send_at]")
    # the poll's answer has been applied once its next request goes out
    with page.expect_response(lambda r: r.url.endswith("/api/queue/stats")):
        pass
    expect(cell).to_have_text(local)
    expect(page.locator("#zone-note")).to_have_text(f"Times in {ZONE}, 24-hour.")
    expect(page.get_by_text(f"Times in {ZONE}")).to_have_count(1)
    screenshot(page, f"queue-zone-{'phone' if viewport == PHONE else 'desktop'}")


def _sign_in(page, served: str, user: dict) -> None:
    page.goto("/login")
    page.fill("input[name=email]", user["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{served}/")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_device_delete_is_apart_from_save_and_asks_first(page, served, engine, make_user,
                                                         viewport):
    user = make_user(email="danger@example.com", password=PASSWORD)
    device = scalar(engine, "INSERT INTO devices (user_id, name, status) VALUES"
                            " (:u, 'Sales phone', 'online') RETURNING id", u=user["id"])
    page.set_viewport_size(viewport)
    _sign_in(page, served, user)
    page.goto(f"/devices/{device}")
    save = page.get_by_role("button", name="Save", exact=True)
    delete = page.get_by_role("button", name="Delete device")
    # not in the settings card: its own section, below, with a heading that says what it does
    expect(page.locator("section.danger-zone")).to_contain_text("Delete this device")
    expect(page.locator("section.danger-zone").get_by_role(
        "button", name="Save", exact=True)).to_have_count(0)
    expect(page.locator("section.danger-zone").get_by_role("button",
                                                           name="Delete device")).to_have_count(1)
    assert delete.bounding_box()["y"] - save.bounding_box()["y"] > 80
    # the browser asks first; answering no keeps the device
    questions: list[str] = []

    def dismiss(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    delete.click()
    expect(page).to_have_url(f"{served}/devices/{device}")
    assert questions and "Delete" in questions[0]
    assert scalar(engine, "SELECT count(*) FROM devices WHERE id = :d", d=device) == 1
