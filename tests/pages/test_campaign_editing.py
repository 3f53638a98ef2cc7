"""The campaign form in headless Chromium (issue 17), at desktop and phone width: the audience
count follows the niche and audience as they change, a new campaign shows its message rendered
for a lead of the audience, and the edit form on its page saves a scheduled campaign."""

import itertools
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine, text

from tests.conftest import scalar
from tests.pages.browser import DESKTOP, PHONE, screenshot
from tests.pages.conftest import PASSWORD

_phones = itertools.count(1)


def lead(engine: Engine, user_id: int, name: str, niche: str, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO leads (user_id, phone, name, niches, target_status)"
                          " VALUES (:u, :p, :n, ARRAY[CAST(:ni AS text)], :s)"),
                     {"u": user_id, "p": f"+6016{next(_phones):07d}", "n": name, "ni": niche,
                      "s": status})


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_live_audience_count_then_edit_the_scheduled_campaign(page, served, engine, make_user,
                                                               width):
    page.set_viewport_size(DESKTOP if width == "desktop" else PHONE)
    user = make_user(email=f"campaigns-{width}@example.com", password=PASSWORD)
    for name, niche, status in (("Aisha Rahman", "fitness", "prospect"),
                                ("Ben Tan", "fitness", "prospect"),
                                ("Chandra Devi", "fitness", "customer"),
                                ("Yuki Sato", "yoga", "prospect")):
        lead(engine, user["id"], name, niche, status)
    page.goto("/login")
    page.fill("input[name=email]", user["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{served}/")

    page.goto("/campaigns")
    form = page.locator("#new-campaign")
    count = form.locator("[data-audience-count]")
    expect(count).to_have_text(re.compile(r"^4 leads match now"))
    form.locator("input[name=niche]").fill("Fitness")
    expect(count).to_have_text("3 leads match now (Aisha Rahman, Ben Tan, Chandra Devi)")
    form.locator("select[name=target_status]").select_option("customer")
    expect(count).to_have_text("1 lead matches now (Chandra Devi)")
    form.locator("input[name=niche]").fill("fitness")
    form.locator("select[name=target_status]").select_option("prospect")
    expect(count).to_have_text(re.compile(r"^2 leads match now"))
    screenshot(page, "campaign-form")

    form.locator("input[name=title]").fill("Year-end promo")
    form.locator("input[name=date]").fill("2030-01-02")
    form.locator("input[name=time]").fill("09:00")
    form.locator("input[name=timezone]").fill("Asia/Kuala_Lumpur")
    form.locator("textarea[name=body]").fill("Hi {{ first_name }}, 20% off")
    form.locator("button[type=submit]").click()
    expect(page.locator("#rendered-preview")).to_have_text("Hi Aisha, 20% off")
    campaign = scalar(engine, "SELECT id FROM campaigns WHERE user_id = :u", u=user["id"])

    edit = page.locator("#edit-campaign")
    expect(edit.locator("[data-audience-count]")).to_have_text(re.compile(r"^2 leads match now"))
    expect(edit.locator("input[name=time]")).to_have_value("09:00")
    box = edit.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size[
        "width"], box  # the form fits the screen at this width
    edit.locator("input[name=title]").fill("Year-end promo, last call")
    edit.locator("select[name=target_status]").select_option("all")
    expect(edit.locator("[data-audience-count]")).to_have_text(re.compile(r"^3 leads match now"))
    edit.locator("textarea[name=body]").fill("{{ first_name }}: last call")
    screenshot(page, "campaign-edit")
    edit.locator("button[type=submit]").click()
    expect(page.locator(".flash.ok")).to_contain_text("Campaign saved.")
    expect(page.locator("h1")).to_contain_text("Year-end promo, last call")
    expect(page.locator("#rendered-preview")).to_have_text("Aisha: last call")
    assert scalar(engine, "SELECT status FROM campaigns WHERE id = :c", c=campaign) == "scheduled"

    # once it runs, the page offers no edit form and says why
    with engine.begin() as conn:
        conn.execute(text("UPDATE campaigns SET status = 'running' WHERE id = :c"),
                     {"c": campaign})
    page.reload()
    expect(page.locator("#edit-campaign")).to_have_count(0)
    expect(page.locator("#not-editable")).to_contain_text("A running campaign cannot be edited")
