"""Results on the pages (issue 13): the campaign funnel and recipients, the sequence's funnel per
step, the dashboard's engagement per hour, the queue's expected send times; and in headless
Chromium, the campaign funnel with real counts that follows new receipts by itself."""

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine, text

from tests.pages.browser import screenshot
from tests.pages.conftest import PASSWORD

_keys = itertools.count(1)


class Data:
    """One user's device, leads, campaigns and messages written with SQL (tests only)."""

    def __init__(self, engine: Engine, user_id: int) -> None:
        self.engine = engine
        self.user_id = user_id
        self.device = self.value(
            "INSERT INTO devices (user_id, name, status, min_delay_s, max_delay_s, next_send_at)"
            " VALUES (:u, 'Sales phone', 'online', 10, 30, now() + interval '1 hour')"
            " RETURNING id")

    def value(self, sql: str, **params):
        with self.engine.begin() as conn:
            return conn.execute(text(sql), {"u": self.user_id, **params}).scalar()

    def lead(self, name: str) -> int:
        return self.value("INSERT INTO leads (user_id, phone, name, niches) VALUES"
                          " (:u, :p, :n, '{fitness}') RETURNING id",
                          p=f"+6019{next(_keys):07d}", n=name)

    def campaign(self, title: str = "Year-end promo") -> int:
        return self.value(
            "INSERT INTO campaigns (user_id, title, niche, body, status, scheduled_at,"
            " started_at) VALUES (:u, :t, 'fitness', 'Hi', 'running', now(), now()) RETURNING id",
            t=title)

    def message(self, lead: int, status: str = "sent", campaign: int | None = None,
                receipts: tuple[str, ...] = (), failure_class: str | None = None,
                sequence: int | None = None, contact: int | None = None) -> int:
        """A message; receipts among delivered / read / replied, at a few minutes after send."""
        sent = "now() - interval '2 hours'" if status == "sent" else "CAST(NULL AS timestamptz)"
        return self.value(
            "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source,"
            " campaign_id, sequence_id, contact_id, dedupe_key, status, failure_class, sent_at,"
            " delivered_at, read_at, replied_at)"
            f" SELECT :u, :d, id, phone, 'Hi', :src, :c, :s, :ct, :k, :st, :fc, {sent},"
            f" CASE WHEN :dl THEN {sent} + interval '1 minute' END,"
            f" CASE WHEN :rd THEN {sent} + interval '5 minutes' END,"
            f" CASE WHEN :rp THEN {sent} + interval '9 minutes' END"
            " FROM leads WHERE id = :l RETURNING id",
            d=self.device, l=lead, src="campaign" if campaign else "sequence", c=campaign,
            s=sequence, ct=contact, k=f"page:{next(_keys)}", st=status, fc=failure_class,
            dl="delivered" in receipts, rd="read" in receipts, rp="replied" in receipts)

    def funnel_campaign(self) -> int:
        """A campaign of 6 leads: 4 sent (3 delivered, 2 read, 1 replied), 1 failed, 1 queued."""
        campaign = self.campaign()
        for name, status, receipts in (
                ("Aisha", "sent", ("delivered", "read", "replied")),
                ("Ben", "sent", ("delivered", "read")),
                ("Chandra", "sent", ("delivered",)),
                ("Dina", "sent", ()),
                ("Eli", "failed", ()),
                ("Farid", "queued", ())):
            self.message(self.lead(name), status, campaign, receipts,
                         "recipient" if status == "failed" else None)
        return campaign


def funnel(html: str) -> dict[str, tuple[str, str]]:
    """{stage: (count, rate)} of the campaign funnel in a page."""
    found = re.findall(r'data-count="(\w+)">(\d+)</strong>\s*<span class="funnel-rate muted" '
                       r'data-rate="\w+">([^<]*)</span>', html)
    return {stage: (count, rate) for stage, count, rate in found}


def test_campaign_page_shows_the_funnel_and_the_recipients(make_user_client, engine):
    user, client = make_user_client()
    data = Data(engine, user["id"])
    campaign = data.funnel_campaign()
    html = client.get(f"/campaigns/{campaign}").get_data(as_text=True)
    assert funnel(html) == {"sent": ("4", "100 %"), "delivered": ("3", "75 %"),
                            "read": ("2", "50 %"), "replied": ("1", "25 %")}
    rows = re.findall(r'<tr class="recipient".*?</tr>', html, re.S)
    assert len(rows) == 6
    assert "Aisha" in rows[0] and ">replied</span>" in rows[0]
    assert "Eli" in rows[4] and ">recipient</span>" in rows[4]
    only_read = client.get(f"/campaigns/{campaign}?status=read").get_data(as_text=True)
    assert re.findall(r'<tr class="recipient".*?<td>(\w+)', only_read, re.S) == ["Ben"]
    bad = client.get(f"/campaigns/{campaign}?status=opened").get_data(as_text=True)
    assert "status: “opened” is not one of" in bad
    assert len(re.findall(r'<tr class="recipient"', bad)) == 6
    _other, stranger = make_user_client()
    assert stranger.get(f"/campaigns/{campaign}").status_code == 404


def test_recipients_page_through_by_keyset(make_user_client, engine, monkeypatch):
    from webapp.pages import campaigns as campaign_pages

    monkeypatch.setattr(campaign_pages, "RECIPIENTS_PER_PAGE", 2)
    user, client = make_user_client()
    data = Data(engine, user["id"])
    campaign = data.funnel_campaign()
    seen, url = [], f"/campaigns/{campaign}"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += re.findall(r'<tr class="recipient".*?<td>(\w+)', html, re.S)
        link = re.search(r'id="recipients-next" href="([^"#]+)', html)
        url = link.group(1).replace("&amp;", "&") if link else None
    assert seen == ["Aisha", "Ben", "Chandra", "Dina", "Eli", "Farid"]


def test_sequence_page_shows_the_funnel_per_step(make_user_client, engine):
    user, client = make_user_client()
    data = Data(engine, user["id"])
    response = client.post("/sequences", data={"name": "Welcome", "niche": "fitness",
                                                "timezone": "UTC"})
    sequence = int(response.headers["Location"].rsplit("/", 1)[1])
    for day in ("1", "2"):
        client.post(f"/sequences/{sequence}/steps", data={
            "day": day, "send_time": "09:00", "message_type": "text", "body": "Hi"})
    for name, receipts in (("Aisha", ("delivered", "read", "replied")), ("Ben", ())):
        lead = data.lead(name)
        contact = data.value("INSERT INTO sequence_contacts (user_id, sequence_id, lead_id)"
                             " VALUES (:u, :s, :l) RETURNING id", s=sequence, l=lead)
        message = data.message(lead, "sent", receipts=receipts, sequence=sequence,
                               contact=contact)
        data.value("UPDATE message_queue SET step_day = 1 WHERE id = :m RETURNING id",
                   m=message)
    html = client.get(f"/sequences/{sequence}").get_data(as_text=True)
    day1 = re.search(r'<tr class="step-funnel" data-day="1">(.*?)</tr>', html, re.S).group(1)
    cells = dict(re.findall(r'data-count="(\w+)"[^>]*>(\d+)', day1))
    assert (cells["audience"], cells["sent"], cells["read"], cells["replied"]) == (
        "2", "2", "1", "1")
    assert '1<span class="rate">50 %</span>' in day1
    day2 = re.search(r'<tr class="step-funnel" data-day="2">(.*?)</tr>', html, re.S).group(1)
    assert 'data-count="audience">0' in day2 and '<span class="rate">—</span>' in day2
    assert '<tr class="funnel-total">' in html


def test_dashboard_charts_delivered_read_and_replied(make_user_client, engine):
    user, client = make_user_client()
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with engine.begin() as conn:  # what engagement_stats writes
        conn.execute(text(
            "INSERT INTO engagement_hourly (user_id, source, hour, sent_count, delivered_count,"
            " read_count, replied_count) VALUES (:u, 'campaign', :h, 7, 6, 4, 2),"
            " (:u, 'sequence', :h, 3, 3, 1, 1), (:u, 'api', :old, 5, 5, 5, 5)"),
            {"u": user["id"], "h": hour, "old": hour - timedelta(hours=30)})
    html = client.get("/").get_data(as_text=True)
    totals = dict(re.findall(r'id="total-(\w+)">(\d+)<', html))
    assert (totals["delivered"], totals["read"], totals["replied"]) == ("9", "5", "3")
    assert re.search(rf'class="replied" data-hour="{re.escape(hour.isoformat())}"'
                     r' data-count="3"', html)


def test_queue_page_estimates_when_waiting_messages_go(make_user_client, engine):
    user, client = make_user_client()
    data = Data(engine, user["id"])  # next send in an hour, delays 10..30 s: 20 s each
    next_send = data.value("SELECT next_send_at FROM devices WHERE id = :d", d=data.device)
    campaign = data.campaign()
    for name in ("Aisha", "Ben", "Chandra"):
        data.message(data.lead(name), "queued", campaign)
    html = client.get("/queue").get_data(as_text=True)
    expected = re.findall(r'<td class="expected">([^<]+)</td>', html)
    local = [(next_send + timedelta(seconds=20 * n)).strftime("%m-%d %H:%M:%S")
             for n in range(3)]
    assert expected == local
    assert "are estimates" in html
    clears = re.search(r'data-clears>([^<]+)<', html).group(1)
    assert clears == (next_send + timedelta(seconds=40)).strftime("%H:%M:%S")


@pytest.fixture
def signed_in(page, served, engine: Engine, make_user):
    """A user signed in through the login page of the served app."""
    user = make_user(email="results@example.com", password=PASSWORD)
    page.goto("/login")
    page.fill("input[name=email]", user["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{served}/")
    return user


def test_campaign_funnel_in_the_browser_follows_new_receipts(page, signed_in, engine):
    data = Data(engine, signed_in["id"])
    campaign = data.funnel_campaign()
    page.goto(f"/campaigns/{campaign}")
    steps = page.locator("#campaign-funnel .funnel-step")
    expect(steps.locator("[data-count]")).to_have_text(["4", "3", "2", "1"])
    expect(steps.locator("[data-rate]")).to_have_text(["100 %", "75 %", "50 %", "25 %"])
    expect(page.locator("#recipients tr.recipient")).to_have_count(6)
    screenshot(page, "campaign-funnel")
    # Dina's phone reports delivered and read, and she answers: the funnel follows by itself
    with engine.begin() as conn:
        conn.execute(text(
            "UPDATE message_queue SET delivered_at = now(), read_at = now(), replied_at = now()"
            " WHERE campaign_id = :c AND lead_id = (SELECT id FROM leads WHERE name = 'Dina'"
            " AND user_id = :u)"), {"c": campaign, "u": signed_in["id"]})
    expect(steps.locator("[data-count]")).to_have_text(["4", "4", "3", "2"], timeout=15000)
    expect(steps.locator("[data-rate]")).to_have_text(["100 %", "100 %", "75 %", "50 %"])
    page.select_option("#recipients select[name=status]", "replied")
    page.click("#recipients button[type=submit]")
    expect(page.locator("#recipients tr.recipient td:first-child")).to_have_text(
        [re.compile("^Aisha"), re.compile("^Dina")])
