"""The campaign pages (issue 17) by the Flask test client: the list's sent / failed / read
counts, the message rendered for a real lead of the audience, edit while draft or scheduled,
duplicate, and the test send; another user's campaign answers 404."""

import re

import pytest
from sqlalchemy import Engine, text

from tests.conftest import scalar
from tests.webapp.conftest import SignedIn
from tests.webapp.test_campaigns_more import add_lead

FORM = {"title": "Year-end promo", "niche": "fitness", "target_status": "all",
        "date": "2030-01-02", "time": "09:00", "timezone": "Asia/Kuala_Lumpur",
        "message_type": "text", "body": "Hi {{ first_name }}, 20% off this week"}


@pytest.fixture
def marketer(pages_app, engine) -> SignedIn:
    return SignedIn(pages_app, engine, "campages")


def create(marketer: SignedIn, **change: str) -> int:
    response = marketer.client.post("/campaigns", data={**FORM, **change})
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def device(engine: Engine, user_id: int) -> int:
    with engine.begin() as conn:
        return conn.execute(text("INSERT INTO devices (user_id, name, status) VALUES"
                                 " (:u, 'Sales phone', 'online') RETURNING id"),
                            {"u": user_id}).scalar_one()


def message(engine: Engine, user_id: int, device_id: int, campaign: int, lead: int,
            status: str, read: bool = False) -> None:
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source,"
            " campaign_id, dedupe_key, status, sent_at, read_at)"
            " SELECT :u, :d, id, phone, 'Hi', 'campaign', :c, :k, :s,"
            " CASE WHEN :s = 'sent' THEN now() END, CASE WHEN :r THEN now() END"
            " FROM leads WHERE id = :l"),
            {"u": user_id, "d": device_id, "c": campaign, "l": lead, "s": status, "r": read,
             "k": f"pages:{campaign}:{lead}"})


def test_the_list_shows_sent_failed_and_read_per_campaign(marketer, engine):
    phone = device(engine, marketer.id)
    leads = [add_lead(engine, marketer.id, name) for name in ("Aisha", "Ben", "Chandra")]
    busy, quiet = create(marketer, title="Busy"), create(marketer, title="Quiet")
    message(engine, marketer.id, phone, busy, leads[0], "sent", read=True)
    message(engine, marketer.id, phone, busy, leads[1], "sent")
    message(engine, marketer.id, phone, busy, leads[2], "failed")
    page = marketer.client.get("/campaigns").get_data(as_text=True)
    rows = {title: re.findall(r'data-count="(\w+)">(\d+)<', row) for title, row in re.findall(
        r'>(Busy|Quiet)</a>(.*?)</tr>', page, re.S)}
    assert rows == {"Busy": [("sent", "2"), ("failed", "1"), ("read", "1")],
                    "Quiet": [("sent", "0"), ("failed", "0"), ("read", "0")]}
    assert quiet


def test_the_page_shows_the_message_rendered_for_a_lead_of_the_audience(marketer, engine):
    add_lead(engine, marketer.id, "Yuki Tan", niches="{yoga}")
    add_lead(engine, marketer.id, "Nur Aisyah Binti Ali")
    campaign = create(marketer)
    page = marketer.client.get(f"/campaigns/{campaign}").get_data(as_text=True)
    assert re.search(r'id="rendered-preview">Hi Nur, 20% off this week<', page)
    assert "Nur Aisyah Binti Ali" in page and "Yuki" not in page
    assert "Hi {{ first_name }}, 20% off this week" in page  # the template beside it


def test_with_no_lead_in_the_audience_the_template_shows_as_written(marketer):
    page = marketer.client.get(f"/campaigns/{create(marketer)}").get_data(as_text=True)
    assert "No lead matches this audience now" in page and 'id="rendered-preview"' not in page


def test_edit_a_scheduled_campaign_and_refuse_a_running_one(marketer, engine):
    campaign = create(marketer)
    page = marketer.client.get(f"/campaigns/{campaign}").get_data(as_text=True)
    assert 'id="edit-campaign"' in page and 'value="09:00"' in page  # the stored local time
    saved = marketer.client.post(f"/campaigns/{campaign}/edit",
                                 data={**FORM, "title": "New title", "time": "10:30"})
    assert saved.status_code == 302
    assert scalar(engine, "SELECT title FROM campaigns WHERE id = :c", c=campaign) == "New title"
    assert scalar(engine, "SELECT to_char(scheduled_at AT TIME ZONE 'UTC', 'HH24:MI')"
                  " FROM campaigns WHERE id = :c", c=campaign) == "02:30"
    # a bad field: the form again, with what was typed and the reason by field
    bad = marketer.client.post(f"/campaigns/{campaign}/edit",
                               data={**FORM, "title": "Typed", "body": "{{ name "})
    assert bad.status_code == 200
    html = bad.get_data(as_text=True)
    assert re.search(r'data-field="body">body: ', html) and 'value="Typed"' in html
    assert scalar(engine, "SELECT title FROM campaigns WHERE id = :c", c=campaign) == "New title"
    with engine.begin() as conn:
        conn.execute(text("UPDATE campaigns SET status = 'running' WHERE id = :c"),
                     {"c": campaign})
    refused = marketer.client.post(f"/campaigns/{campaign}/edit",
                                   data={**FORM, "title": "Too late"}, follow_redirects=True)
    html = refused.get_data(as_text=True)
    assert "A running campaign cannot be edited" in html and 'id="edit-campaign"' not in html
    assert scalar(engine, "SELECT title FROM campaigns WHERE id = :c", c=campaign) == "New title"


def test_duplicate_then_schedule_the_draft_from_its_page(marketer, engine):
    campaign = create(marketer)
    response = marketer.client.post(f"/campaigns/{campaign}/duplicate")
    assert response.status_code == 302
    copy = int(re.search(r"/campaigns/(\d+)", response.headers["Location"]).group(1))
    assert scalar(engine, "SELECT status FROM campaigns WHERE id = :c", c=copy) == "draft"
    page = marketer.client.get(f"/campaigns/{copy}").get_data(as_text=True)
    assert "Save and schedule" in page and "Year-end promo (copy)" in page
    missing = marketer.client.post(f"/campaigns/{copy}/edit",
                                   data={**FORM, "title": "Copy", "date": "", "time": ""})
    assert missing.status_code == 200 and 'data-field="date"' in missing.get_data(as_text=True)
    saved = marketer.client.post(f"/campaigns/{copy}/edit", data={**FORM, "title": "Copy"})
    assert saved.status_code == 302
    assert scalar(engine, "SELECT status FROM campaigns WHERE id = :c", c=copy) == "scheduled"


def test_send_a_test_to_my_number(marketer, engine):
    phone = device(engine, marketer.id)
    add_lead(engine, marketer.id, "Nur Aisyah")
    campaign = create(marketer)
    empty = marketer.client.post(f"/campaigns/{campaign}/test", data={"phone": ""})
    assert empty.status_code == 200 and "enter the number" in empty.get_data(as_text=True)
    bad = marketer.client.post(f"/campaigns/{campaign}/test", data={"phone": "12"})
    assert bad.status_code == 200 and 'data-field="phone"' in bad.get_data(as_text=True)
    sent = marketer.client.post(f"/campaigns/{campaign}/test", data={"phone": "+60123456789"})
    assert sent.status_code == 302
    with engine.begin() as conn:
        row = conn.execute(text("SELECT phone, body, source, campaign_id, device_id, lane"
                                " FROM message_queue WHERE user_id = :u"),
                           {"u": marketer.id}).mappings().one()
    # rendered for the audience's lead, not for the test number; a one-off, not the campaign's
    assert row["phone"] == "+60123456789" and row["body"] == "Hi Nur, 20% off this week"
    assert row["campaign_id"] is None and row["device_id"] == phone
    assert row["lane"] == 2, "a test goes before the device's waiting messages"


@pytest.mark.parametrize("method,path", [
    ("get", "/campaigns/{id}"), ("post", "/campaigns/{id}/edit"),
    ("post", "/campaigns/{id}/duplicate"), ("post", "/campaigns/{id}/test"),
])
def test_another_users_campaign_is_404(marketer, pages_app, engine, method, path):
    campaign = create(marketer)
    other = SignedIn(pages_app, engine, "campages-other")
    response = getattr(other.client, method)(path.format(id=campaign),
                                             data={**FORM, "phone": "+60123456789"})
    assert response.status_code == 404
    # (the database is shared by the module's tests: count by user)
    assert scalar(engine, "SELECT count(*) FROM campaigns WHERE user_id = :u", u=other.id) == 0
    assert scalar(engine, "SELECT count(*) FROM message_queue WHERE user_id = :u",
                  u=other.id) == 0
    assert scalar(engine, "SELECT title FROM campaigns WHERE id = :c",
                  c=campaign) == FORM["title"]


def test_the_test_send_keeps_a_leads_braces_as_they_are(marketer, engine):
    device(engine, marketer.id)
    add_lead(engine, marketer.id, "{VIP|Gold} Nur")
    campaign = create(marketer, body="Hi {{ name }}!\n{Bye|Ciao}")
    sent = marketer.client.post(f"/campaigns/{campaign}/test", data={"phone": "+60123450077"})
    assert sent.status_code == 302
    body = scalar(engine, "SELECT body FROM message_queue WHERE user_id = :u", u=marketer.id)
    page = marketer.client.get(f"/campaigns/{campaign}").get_data(as_text=True)
    preview = re.search(r'id="rendered-preview">([^<]*)<', page).group(1)
    assert body.startswith("Hi {VIP|Gold} Nur!\n") and body == preview.replace("&#34;", '"')
