"""Issue 17 in headless Chromium at desktop and phone width: long lists in pages of 50 with
"1–50 of 70" totals, Previous / Next and their filters kept in the URL (leads, a sequence's
contacts and log; a campaign's recipients in test_campaign_lists.py); lead rows that open the
lead; the sequence log naming lead and step; finished campaigns' results on the dashboard and
only scheduled ones as upcoming; tables that scroll sideways on a phone instead of losing
columns; form labels in line; 24-hour time inputs."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine, text

from tests.pages.browser import DESKTOP, PHONE, screenshot
from tests.pages.conftest import PASSWORD

VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])

# what a phone must not do to a table: hide a column, or cut it off outside a box that scrolls
TABLE_PROBLEMS = """() => {
  const problems = [];
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth + 1)
    problems.push(`the page scrolls sideways: ${page.scrollWidth} > ${window.innerWidth}`);
  for (const table of document.querySelectorAll('main table')) {
    for (const th of table.querySelectorAll('th'))
      if (th.getClientRects().length === 0) problems.push(`hidden column ${th.textContent.trim()}`);
    let box = table.parentElement, scrolls = false;
    for (; box && box !== document.body; box = box.parentElement)
      if (['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) { scrolls = true; break; }
    if (table.getBoundingClientRect().right > window.innerWidth + 1 && !scrolls)
      problems.push(`table cut off: ${table.querySelector('th').textContent.trim()}`);
  }
  return problems;
}"""


def _sql(engine: Engine, sql: str, **params) -> list:
    with engine.begin() as conn:
        result = conn.execute(text(sql), params)
        return list(result) if result.returns_rows else []


def _sign_in(page, served: str, user: dict, viewport: dict) -> None:
    page.set_viewport_size(viewport)
    page.goto("/login")
    page.fill("input[name=email]", user["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{served}/")


def _leads(engine: Engine, user_id: int, count: int, niche: str, first: int = 1) -> list[int]:
    """`count` leads "Lead <n>" with one niche, in id order."""
    rows = _sql(engine, "INSERT INTO leads (user_id, phone, name, niches)"
                        " SELECT :u, '+6012' || lpad(g::text, 7, '0'), 'Lead ' || g, ARRAY[:n]"
                        " FROM generate_series(CAST(:a AS int), CAST(:b AS int)) g ORDER BY g"
                        " RETURNING id",
                u=user_id, n=niche, a=first, b=first + count - 1)
    return [row[0] for row in rows]


@VIEWPORTS
def test_leads_come_in_pages_with_a_total_and_keep_their_filter(page, served, engine, make_user,
                                                                 viewport):
    user = make_user(email="leads@example.com", password=PASSWORD)
    fitness = _leads(engine, user["id"], 70, "fitness")
    _leads(engine, user["id"], 45, "yoga", first=100)
    _sql(engine, "UPDATE leads SET opted_out_at = :t WHERE id = ANY(:ids)",
         t=datetime(2026, 3, 1, 8, 30, tzinfo=UTC), ids=fitness[:2])
    _sign_in(page, served, user, viewport)
    page.goto("/leads")
    expect(page.locator("#leads-range")).to_have_text("1–50 of 115")
    page.fill("#lead-filters input[name=niche]", "fitness")
    page.click("#lead-filters button[type=submit]")
    expect(page.locator("#leads-range")).to_have_text("1–50 of 70")
    expect(page.locator("tr.lead")).to_have_count(50)
    # not blank: a date or "no"
    assert page.locator("tr.lead td.opted-out").all_text_contents()[:3] == [
        "2026-03-01 08:30", "2026-03-01 08:30", "no"]
    assert page.evaluate(TABLE_PROBLEMS) == []
    page.click("#leads-next")
    expect(page.locator("#leads-range")).to_have_text("51–70 of 70")
    assert "niche=fitness" in page.url
    expect(page.locator("tr.lead")).to_have_count(20)
    expect(page.locator("#leads-next")).to_have_count(0)
    page.click("#leads-prev")
    expect(page.locator("#leads-range")).to_have_text("1–50 of 70")
    assert "niche=fitness" in page.url
    # the whole row opens the lead, not only its name: a click on its niche cell
    cell = page.locator("tr.lead").nth(2).locator("td").nth(2)
    cell.scroll_into_view_if_needed()
    box = cell.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page).to_have_url(f"{served}/leads/{fitness[2]}")


def _sequence(engine: Engine, user_id: int, contacts: int) -> tuple[int, list[int]]:
    """A sequence 'Welcome' with two steps, `contacts` contacts (the last five paused) and a
    day-1 log row for each contact."""
    sequence = _sql(engine, "INSERT INTO sequences (user_id, name, niche, status) VALUES"
                            " (:u, 'Welcome', 'fitness', 'active') RETURNING id", u=user_id)[0][0]
    step = _sql(engine, "INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body)"
                        " VALUES (:u, :s, 1, '21:15', 'Hi {{ first_name }}, welcome aboard!'),"
                        " (:u, :s, 2, '09:00', 'Day two') RETURNING id",
                u=user_id, s=sequence)[0][0]
    leads = _leads(engine, user_id, contacts, "fitness")
    ids = [row[0] for row in _sql(
        engine, "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, current_day)"
                " SELECT :u, :s, l, 1 FROM unnest(CAST(:leads AS bigint[])) l ORDER BY l"
                " RETURNING id", u=user_id, s=sequence, leads=leads)]
    _sql(engine, "UPDATE sequence_contacts SET status = 'paused' WHERE id = ANY(:ids)",
         ids=ids[-5:])
    # each day-1 message, sent, is that step's log entry
    _sql(engine, "INSERT INTO message_queue (user_id, lead_id, phone, body, source, sequence_id,"
                 " contact_id, step_id, step_day, dedupe_key, status, sent_at)"
                 " SELECT :u, c.lead_id, l.phone, 'Hi', 'sequence', :s, c.id, :st, 1,"
                 " 'log:' || c.id, 'sent', now()"
                 " FROM sequence_contacts c JOIN leads l ON l.id = c.lead_id"
                 " WHERE c.id = ANY(CAST(:ids AS bigint[])) ORDER BY c.id",
         u=user_id, s=sequence, st=step, ids=ids)
    return sequence, leads


@VIEWPORTS
def test_sequence_contacts_and_log_page_apart_and_the_log_names_lead_and_step(
        page, served, engine, make_user, viewport):
    user = make_user(email="sequence@example.com", password=PASSWORD)
    sequence, leads = _sequence(engine, user["id"], 60)
    _sign_in(page, served, user, viewport)
    page.goto(f"/sequences/{sequence}")
    expect(page.locator("#contacts-range")).to_have_text("1–50 of 60")
    expect(page.locator("tr.contact")).to_have_count(50)
    expect(page.locator("#logs-range")).to_have_text("1–50 of 60")
    expect(page.locator("tr.log")).to_have_count(50)
    # newest first, by the lead's name and the step (day, time, the start of its message)
    newest = page.locator("tr.log").first
    expect(newest.locator(".log-lead")).to_contain_text("Lead 60")
    expect(newest.locator(".log-lead")).to_contain_text("+60120000060")
    expect(newest.locator(".log-step")).to_contain_text("Day 1 · 21:15")
    expect(newest.locator(".log-step")).to_contain_text("Hi {{ first_name }}, welcome aboard!")
    assert page.evaluate(TABLE_PROBLEMS) == []
    page.click("#logs-next")
    expect(page.locator("#logs-range")).to_have_text("51–60 of 60")
    expect(page.locator("tr.log").last.locator(".log-lead")).to_contain_text("Lead 1")
    # the contacts' own pages keep the log's place, and the other way round
    page.click("#contacts-next")
    expect(page.locator("#contacts-range")).to_have_text("51–60 of 60")
    expect(page.locator("#logs-range")).to_have_text("51–60 of 60")
    page.locator("#contacts select[name=contact_status]").select_option("paused")
    page.locator("#contacts button", has_text="Show").click()
    expect(page.locator("#contacts-range")).to_have_text("1–5 of 5")
    expect(page.locator("tr.contact .badge")).to_have_text(["paused"] * 5)
    expect(page.locator("#logs-range")).to_have_text("51–60 of 60")
    page.click("#logs-prev")
    expect(page.locator("#logs-range")).to_have_text("1–50 of 60")
    expect(page.locator("#contacts-range")).to_have_text("1–5 of 5")
    assert "contact_status=paused" in page.url
    page.locator("tr.log").first.locator(".log-lead a").click()
    expect(page).to_have_url(f"{served}/leads/{leads[-1]}")


@VIEWPORTS
def test_dashboard_shows_finished_results_and_only_scheduled_as_upcoming(page, served, engine,
                                                                         make_user, viewport):
    user = make_user(email="dashboard@example.com", password=PASSWORD)
    leads = _leads(engine, user["id"], 5, "fitness")
    now = datetime.now(UTC)
    done, _running, _scheduled = (row[0] for row in _sql(
        engine, "INSERT INTO campaigns (user_id, title, body, status, scheduled_at, completed_at)"
                " VALUES (:u, 'Spring sale', 'Hi', 'completed', :past, :past),"
                " (:u, 'Live now', 'Hi', 'running', :past, NULL),"
                " (:u, 'Next week', 'Hi', 'scheduled', :future, NULL) RETURNING id",
        u=user["id"], past=now - timedelta(hours=2), future=now + timedelta(days=7)))
    # four sent (three delivered, two read, one replied) and one failed
    for n, lead in enumerate(leads):
        _sql(engine, "INSERT INTO message_queue (user_id, lead_id, phone, body, source,"
                     " campaign_id, dedupe_key, status, sent_at, delivered_at, read_at,"
                     " replied_at) SELECT :u, id, phone, 'Hi', 'campaign', :c, 'd:' || id,"
                     " CASE WHEN :n = 4 THEN 'failed' ELSE 'sent' END,"
                     " CASE WHEN :n < 4 THEN :t END, CASE WHEN :n < 3 THEN :t END,"
                     " CASE WHEN :n < 2 THEN :t END, CASE WHEN :n < 1 THEN :t END"
                     " FROM leads WHERE id = :l",
             u=user["id"], c=done, n=n, l=lead, t=now - timedelta(hours=1))
    _sign_in(page, served, user, viewport)
    row = page.locator(f"#recent-results tr.finished-campaign[data-campaign='{done}']")
    expect(row).to_contain_text("Spring sale")
    counts = {kind: row.locator(f"[data-count={kind}]").inner_text()
              for kind in ("sent", "delivered", "read", "replied", "failed")}
    assert counts == {"sent": "4", "delivered": "3", "read": "2", "replied": "1", "failed": "1"}
    expect(page.locator("li.upcoming-campaign")).to_have_count(1)
    expect(page.locator("li.upcoming-campaign")).to_contain_text("Next week")
    expect(page.get_by_text("Live now")).to_have_count(0)
    assert page.evaluate(TABLE_PROBLEMS) == []


@VIEWPORTS
def test_queue_tables_keep_every_column_and_scroll_on_a_phone(page, served, engine, make_user,
                                                              viewport):
    user = make_user(email="queue@example.com", password=PASSWORD)
    device = _sql(engine, "INSERT INTO devices (user_id, name, status) VALUES"
                          " (:u, 'Sales phone', 'online') RETURNING id", u=user["id"])[0][0]
    lead = _leads(engine, user["id"], 1, "fitness")[0]
    for status, key in (("queued", "q:1"), ("sent", "q:2"), ("failed", "q:3")):
        _sql(engine, "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source,"
                     " dedupe_key, status, sent_at, last_error) VALUES (:u, :d, :l,"
                     " '+60120000001', :b, 'api', :k, :s, CASE WHEN :s = 'sent' THEN now() END,"
                     " CASE WHEN :s = 'failed' THEN 'not on WhatsApp' END)",
             u=user["id"], d=device, l=lead, b="A rather long message body " * 3, k=key, s=status)
    _sign_in(page, served, user, viewport)
    page.goto("/queue")
    expect(page.locator("main table").first).to_be_visible()
    assert page.evaluate(TABLE_PROBLEMS) == []
    # the last column of the recent sends is reachable by scrolling its table
    message = page.locator("main table").last.locator("th").last
    message.scroll_into_view_if_needed()
    box = message.bounding_box()
    assert box["x"] < viewport["width"] and box["x"] + box["width"] > 0, box
    screenshot(page, f"queue-tables-{'phone' if viewport == PHONE else 'desktop'}")


def _rows_of_controls(form) -> list[list[float]]:
    """The bottom of each control of a grid form, grouped by the grid row its label sits in."""
    rows: dict[float, list[float]] = {}
    for label in form.locator(":scope > label").all():
        box = label.locator("input, select, textarea").first.bounding_box()
        rows.setdefault(round(label.bounding_box()["y"]), []).append(
            round(box["y"] + box["height"]))
    return list(rows.values())


@VIEWPORTS
def test_sequence_forms_line_up_and_take_24_hour_times(page, served, engine, make_user,
                                                       viewport):
    user = make_user(email="forms@example.com", password=PASSWORD)
    sequence, _leads_ids = _sequence(engine, user["id"], 1)
    _sign_in(page, served, user, viewport)
    page.goto("/sequences")
    # a label that wraps to two lines ("Niche (enrols leads with this tag)") keeps its input in
    # line with the inputs beside it
    for row in _rows_of_controls(page.locator("#new-sequence")):
        assert max(row) - min(row) <= 1, row
    page.goto(f"/sequences/{sequence}")
    for row in _rows_of_controls(page.locator("#step-form")):
        assert max(row) - min(row) <= 1, row
    # a time of day is typed and shown as 24-hour HH:MM whatever the browser's locale (an
    # <input type=time> shows "09:00 PM" in en-US)
    time = page.locator("#step-form input[name=send_time]")
    assert time.get_attribute("type") == "text"
    expect(time).to_have_value("09:00")
    time.fill("9:30 PM")
    assert time.evaluate("input => input.checkValidity()") is False
    time.fill("21:45")
    assert time.evaluate("input => input.checkValidity()") is True
    page.fill("#step-form input[name=day]", "3")
    page.fill("#step-form textarea[name=body]", "Evening check-in")
    page.click("#step-form button[type=submit]")
    expect(page.locator("#steps tbody tr").nth(2).locator("td").nth(1)).to_have_text("21:45")


@VIEWPORTS
def test_campaign_form_takes_a_24_hour_time(page, served, make_user, viewport):
    user = make_user(email="campaign-time@example.com", password=PASSWORD)
    _sign_in(page, served, user, viewport)
    page.goto("/campaigns")
    time = page.locator("#new-campaign input[name=time]")
    # text, not <input type=time>: that one shows "07:00 PM" in an en-US browser
    assert time.get_attribute("type") == "text"
    time.fill("7pm")
    assert time.evaluate("input => input.checkValidity()") is False
    time.fill("19:05")
    assert time.evaluate("input => input.checkValidity()") is True
