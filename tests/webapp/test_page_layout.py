"""Issue 17 by the Flask test client: every page names the user's time zone once, times are in it
and 24-hour with a date where a bare time is ambiguous, and the dashboard chart has dated axes."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import scalar
from tests.webapp.conftest import SignedIn

ZONE = "Asia/Kuala_Lumpur"
PAGES = ["/", "/devices", "/leads", "/sequences", "/queue"]


@pytest.fixture
def marketer(pages_app, engine) -> SignedIn:
    """A signed-in user whose zone is not UTC, so a UTC time would show."""
    user = SignedIn(pages_app, engine, "layout")
    scalar(engine, "UPDATE users SET timezone = :z WHERE id = :u RETURNING id", z=ZONE, u=user.id)
    return user


@pytest.mark.parametrize("path", PAGES)
def test_each_page_names_the_users_zone_once(marketer, path):
    page = marketer.client.get(path).get_data(as_text=True)
    assert page.count(f"Times in {ZONE}, 24-hour.") == 1, path
    # app.js fills refreshed cells in the same zone as the server-rendered ones
    assert f'<body data-zone="{ZONE}">' in page


def test_the_sign_in_page_names_no_zone(pages_app):
    page = pages_app.test_client().get("/login").get_data(as_text=True)
    assert "Times in" not in page


def test_the_device_heartbeat_has_a_date_in_the_users_zone(marketer, engine):
    beat = datetime(2026, 3, 1, 20, 5, 9, tzinfo=UTC)  # 04:05:09 the next day in Kuala Lumpur
    device = scalar(engine, "INSERT INTO devices (user_id, name, status, heartbeat_at, quiet_start,"
                            " quiet_end) VALUES (:u, 'Phone A', 'online', :h, '22:00', '07:00')"
                            " RETURNING id", u=marketer.id, h=beat)
    page = marketer.client.get(f"/devices/{device}").get_data(as_text=True)
    assert "2026-03-02 04:05:09" in page
    # time inputs take 24-hour HH:MM text (a type=time input shows the browser's locale)
    assert re.search(r'<input type="text" name="quiet_start" value="22:00" class="time-24"'
                     r'[^>]*pattern="\(\[01\]', page)


def test_the_dashboard_chart_has_dates_and_a_scale(marketer, engine):
    device = scalar(engine, "INSERT INTO devices (user_id, name, status) VALUES (:u, 'Phone B',"
                            " 'online') RETURNING id", u=marketer.id)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    scalar(engine, "INSERT INTO delivery_stats_hourly (user_id, device_id, source, hour,"
                   " queued_count, sent_count) VALUES (:u, :d, 'sequence', :h, 7, 7) RETURNING 1",
           u=marketer.id, d=device, h=hour)
    page = marketer.client.get("/").get_data(as_text=True)
    local = hour.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:00")
    assert f"{local}: 7 sent" in page
    axis = re.search(r'<p class="axis">(.*?)</p>', page).group(1)
    assert re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:00", axis) and "scale 0–7 per hour" in axis


def _contact_on_day_one(engine, user_id: int) -> tuple[int, int, int]:
    """A three-step sequence with one contact whose day 1 is queued: (sequence, contact, its
    message, which is the step's log entry)."""
    sequence = scalar(engine, "INSERT INTO sequences (user_id, name, niche, status) VALUES"
                              " (:u, 'Welcome', 'fitness', 'active') RETURNING id", u=user_id)
    for day in (1, 2, 3):
        scalar(engine, "INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body)"
                       " VALUES (:u, :s, :d, '09:00', 'x') RETURNING id",
               u=user_id, s=sequence, d=day)
    lead = scalar(engine, "INSERT INTO leads (user_id, phone, name) VALUES (:u, '+60123459001',"
                          " 'Ann Lee') RETURNING id", u=user_id)
    contact = scalar(engine, "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id,"
                             " current_day) VALUES (:u, :s, :l, 1) RETURNING id",
                     u=user_id, s=sequence, l=lead)
    device = scalar(engine, "INSERT INTO devices (user_id, name) VALUES (:u, 'Phone') RETURNING id",
                    u=user_id)
    log = scalar(engine, "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body,"
                         " source, sequence_id, contact_id, step_day, dedupe_key)"
                         " VALUES (:u, :d, :l, '+60123459001', 'x', 'sequence', :s, :c, 1,"
                         " 'day-one:' || :c) RETURNING id",
                 u=user_id, d=device, l=lead, s=sequence, c=contact)
    return sequence, contact, log


def _progress(marketer: SignedIn, sequence: int) -> tuple[str, str]:
    page = marketer.client.get(f"/sequences/{sequence}").get_data(as_text=True)
    label = re.search(r'<span class="day-of">([^<]+)</span>', page).group(1)
    bar = re.search(r'<span class="done" (data-sent="\d+" style="width: \d+%")', page).group(1)
    return label, bar


def test_contact_progress_counts_only_sent_steps(marketer, engine):
    sequence, _, log = _contact_on_day_one(engine, marketer.id)
    assert _progress(marketer, sequence) == ("day 1 of 3 queued",
                                             'data-sent="0" style="width: 0%"')
    scalar(engine, "UPDATE message_queue SET status = 'sent', sent_at = now() WHERE id = :g"
                   " RETURNING id", g=log)
    assert _progress(marketer, sequence) == ("day 1 of 3 sent",
                                             'data-sent="1" style="width: 33%"')


def test_the_api_contact_has_sent_days(alice, engine):
    sequence, contact, log = _contact_on_day_one(engine, int(alice.user["id"]))
    items = alice.get(f"/api/sequences/{sequence}/contacts").get_json()["items"]
    assert [(c["id"], c["current_day"], c["sent_days"]) for c in items] == [(contact, 1, 0)]
    scalar(engine, "UPDATE message_queue SET status = 'sent', sent_at = now() WHERE id = :g"
                   " RETURNING id", g=log)
    items = alice.get(f"/api/sequences/{sequence}/contacts").get_json()["items"]
    assert items[0]["sent_days"] == 1


def test_the_queue_cuts_long_bodies_with_an_ellipsis(marketer, engine):
    device = scalar(engine, "INSERT INTO devices (user_id, name, status) VALUES (:u, 'Phone C',"
                            " 'online') RETURNING id", u=marketer.id)
    lead = scalar(engine, "INSERT INTO leads (user_id, phone, name) VALUES (:u, '+60123459002',"
                          " 'Ben') RETURNING id", u=marketer.id)
    for key, body in (("long", "x" * 100), ("short", "Hi Ben")):
        scalar(engine, "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body,"
                       " source, dedupe_key, status, sent_at) VALUES (:u, :d, :l, '+60123459002',"
                       " :b, 'api', :k, 'sent', now()) RETURNING id",
               u=marketer.id, d=device, l=lead, b=body, k=f"layout:{key}")
    page = marketer.client.get("/queue").get_data(as_text=True)
    # the Message column shows on a phone too (its table scrolls sideways)
    assert f'<td>{"x" * 79}…</td>' in page
    assert '<td>Hi Ben</td>' in page


def test_the_queue_names_campaigns_and_sequences(marketer, engine):
    device = scalar(engine, "INSERT INTO devices (user_id, name, status) VALUES (:u, 'Phone D',"
                            " 'online') RETURNING id", u=marketer.id)
    lead = scalar(engine, "INSERT INTO leads (user_id, phone, name) VALUES (:u, '+60123459003',"
                          " 'Cai') RETURNING id", u=marketer.id)
    campaign = scalar(engine, "INSERT INTO campaigns (user_id, title, niche, body, status,"
                              " scheduled_at) VALUES (:u, 'Year-end promo', 'fitness', 'Hi',"
                              " 'running', now()) RETURNING id", u=marketer.id)
    sequence = scalar(engine, "INSERT INTO sequences (user_id, name, niche) VALUES"
                              " (:u, 'Welcome drip', 'fitness') RETURNING id", u=marketer.id)
    for key, source, c, s in (("c", "campaign", campaign, None), ("s", "sequence", None, sequence)):
        scalar(engine, "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body,"
                       " source, campaign_id, sequence_id, dedupe_key, status) VALUES (:u, :d, :l,"
                       " '+60123459003', 'Hi', :src, :c, :s, :k, 'queued') RETURNING id",
               u=marketer.id, d=device, l=lead, src=source, c=c, s=s, k=f"names:{key}")
    page = marketer.client.get("/queue").get_data(as_text=True)
    assert f'href="/campaigns/{campaign}">Year-end promo</a>' in page
    assert f'href="/sequences/{sequence}">Welcome drip</a>' in page
    assert f"campaign {campaign}<" not in page and f"sequence {sequence}<" not in page
