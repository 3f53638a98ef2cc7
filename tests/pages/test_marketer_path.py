"""Acceptance: a marketer's whole path in headless Chromium against gunicorn, the pipelines' tick
and the simulated device host — register, pair a device through the QR page, upload leads with a
niche, build and start a two-step sequence, run ticks and the host, watch contacts progress and a
campaign's bar reach 100 %. Screenshots of every page are saved on the way (SCREENSHOTS_DIR)."""

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine

from tests.conftest import scalar
from tests.pages.browser import screenshot

LEADS_CSV = (
    "name,phone,city\n"
    "Aisha Rahman,+60123450001,Kuala Lumpur\n"
    "Ben Tan,+60123450002,Penang\n"
    "Chandra Devi,+60123450003,Ipoh\n"
    "not a number,12,Nowhere\n"
    "Dina Lee,+60123450004,Melaka\n"
)
GOOD_LEADS = 4
# the simulated network: fast sends, QR codes for a few seconds before it "scans" itself
HOST_ENV = {
    "TRANSPORT": "simulated", "SIM_PAIR_SECONDS": "6", "SIM_LATENCY_SECONDS": "0.02",
    "HEALTH_CHECK_SECONDS": "0.5", "RETRY_BACKOFF_SECONDS": "0.1", "DEVICE_HOST_PORT": "0",
}


@pytest.fixture
def device_host(database_url: str, tmp_path: Path):
    """A real `dripfleet device-host` (simulated transport) on this test's database."""
    log = (tmp_path / "device-host.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "dripfleet.cli", "device-host"],
        env={**os.environ, **HOST_ENV, "DATABASE_URL": database_url},
        stdout=log, stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    """Poll condition() until true; fail naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.3)


def tick(now: datetime, database_url: str) -> None:
    """One pipelines tick in-process as of `now`, on a thread of its own: Playwright's sync API
    owns this thread's event loop, and Dagster must not share it."""
    from pipelines.tick import run_tick

    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(run_tick, now=now, database_url=database_url).result()
    assert result.success


def test_marketer_whole_path(page, served, database_url, engine: Engine, device_host):
    start = datetime.now(UTC)
    # -- sign-in pages, then register
    page.goto("/")
    expect(page).to_have_url(f"{served}/login?next=/")
    screenshot(page, "login")
    page.click("text=Create one")
    screenshot(page, "register")
    page.fill("input[name=email]", "marketer@example.com")
    page.fill("input[name=name]", "Maya")
    page.fill("input[name=password]", "long enough password")
    page.fill("input[name=timezone]", "UTC")
    page.click("button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Welcome")

    # -- add a simulated device and watch it pair through the QR page
    expect(page).to_have_url(f"{served}/devices")
    page.fill("#new-device input[name=name]", "Sales phone")
    page.fill("#new-device input[name=min_delay_s]", "0")
    page.fill("#new-device input[name=max_delay_s]", "0.2")
    page.click("#new-device button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Sales phone")
    page.click("#pair-qr")
    qr = page.locator("#pairing-qr img")
    expect(qr).to_be_visible(timeout=30000)
    first_qr = qr.get_attribute("src")
    assert first_qr.startswith("data:image/svg+xml")
    screenshot(page, "device-pairing")
    # the simulated phone shows new codes before it scans: the image changes by itself
    expect(qr).not_to_have_attribute("src", first_qr, timeout=30000)
    expect(page.locator("#device-status")).to_have_text("online", timeout=30000)
    expect(page.locator("#pairing-online")).to_be_visible()
    screenshot(page, "device-online")
    page.goto("/devices")
    expect(page.locator("tbody .badge")).to_have_text("online")
    screenshot(page, "devices")

    # -- upload leads with a niche: progress, then the import report
    page.goto("/leads")
    page.set_input_files("#import-form input[name=file]", files=[{
        "name": "leads.csv", "mimeType": "text/csv", "buffer": LEADS_CSV.encode()}])
    page.fill("#import-form input[name=niche]", "Fitness")
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-report")).to_be_visible()
    expect(page.locator("#report-inserted")).to_have_text(str(GOOD_LEADS))
    expect(page.locator("#report-rejected")).to_have_text("1")
    expect(page.locator("tr.rejected td").first).to_have_text("5")  # line 5 of the file
    expect(page.locator("tr.lead")).to_have_count(GOOD_LEADS)
    expect(page.locator("tr.lead").first).to_contain_text("fitness")
    screenshot(page, "leads")
    with page.expect_download() as download:
        page.click("text=Export CSV")
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert all(f"+6012345000{n}" in exported for n in range(1, GOOD_LEADS + 1))

    # -- a sequence with two steps, started
    page.goto("/sequences")
    page.fill("#new-sequence input[name=name]", "Fitness welcome")
    page.fill("#new-sequence input[name=niche]", "fitness")
    page.fill("#new-sequence input[name=timezone]", "UTC")
    page.click("#new-sequence button[type=submit]")
    send_time = (start + timedelta(minutes=30)).strftime("%H:%M")
    for day, body in ((1, "{Hi|Hello} {{ first_name }}, welcome to day 1!"),
                      (2, "Day 2 for you, {{ first_name }} from {{ city }}.")):
        page.fill("#step-form input[name=day]", str(day))
        page.fill("#step-form input[name=send_time]", send_time)
        page.fill("#step-form textarea[name=body]", body)
        page.click("#step-form button[type=submit]")
        expect(page.locator(".flash")).to_contain_text(f"Day {day} saved")
    expect(page.locator("#steps tbody tr")).to_have_count(2)
    page.click("#steps tbody tr >> nth=0 >> text=Edit")
    expect(page.locator("#step-form input[name=day]")).to_have_value("1")
    expect(page.locator("#step-form textarea[name=body]")).to_have_value(
        "{Hi|Hello} {{ first_name }}, welcome to day 1!")
    page.click("#start-sequence")
    expect(page.locator("#sequence-status")).to_have_text("active")
    sequence_url = page.url

    # -- a campaign to the same niche, scheduled in half an hour
    page.goto("/campaigns")
    when = start + timedelta(minutes=30)
    page.fill("#new-campaign input[name=title]", "Year-end promo")
    page.fill("#new-campaign input[name=niche]", "fitness")
    page.fill("#new-campaign input[name=date]", when.strftime("%Y-%m-%d"))
    page.fill("#new-campaign input[name=time]", when.strftime("%H:%M"))
    page.fill("#new-campaign input[name=timezone]", "UTC")
    page.fill("#new-campaign textarea[name=body]", "{Hi|Hey} {{ first_name }}: 20 % off this week")
    page.click("#new-campaign button[type=submit]")
    expect(page.locator("#campaign-status")).to_have_text("scheduled")
    campaign_url = page.url

    # -- the pipelines: enrol now, then a day later queue day 1 and the campaign
    tick(start, database_url)
    page.goto(sequence_url)
    expect(page.locator("tr.contact")).to_have_count(GOOD_LEADS)
    expect(page.locator("tr.contact .day-of").first).to_have_text("day 0 of 2")
    # the preview renders each step for the first contact, CSV columns included
    expect(page.locator("#steps")).to_contain_text("Day 2 for you, Aisha from Kuala Lumpur.")

    # -- the campaign page, open before the tick, follows the host's sends to 100 % by itself
    page.goto(campaign_url)
    expect(page.locator("#progress-percent")).to_have_text("0 %")
    tick(start + timedelta(hours=25), database_url)
    expect(page.locator("#progress-percent")).to_have_text("100 %", timeout=60000)
    expect(page.locator("#campaign-status")).not_to_have_text("scheduled")
    expect(page.locator("#count-sent")).to_have_text(str(GOOD_LEADS))
    # read again for the picture: the recipients and the edit form are drawn with the page
    page.reload()
    expect(page.locator("tr.recipient")).to_have_count(GOOD_LEADS)
    screenshot(page, "campaign")

    # -- day 1 delivered: contacts' progress and the sent log on the sequence page
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM sequence_logs WHERE status = 'sent'")
             == GOOD_LEADS, "day 1 to be sent to every contact")
    page.goto(sequence_url)
    expect(page.locator("tr.contact .day-of")).to_have_text(["day 1 of 2 sent"] * GOOD_LEADS)
    expect(page.locator("tr.contact .bar .done[data-sent=\"1\"]")).to_have_count(GOOD_LEADS)
    expect(page.locator("tr.log .badge")).to_have_text(["sent"] * GOOD_LEADS)
    # day 2 a day and a half later: the contacts complete
    tick(start + timedelta(hours=60), database_url)
    wait_for(lambda: scalar(engine, "SELECT count(*) FROM sequence_logs WHERE status = 'sent'")
             == 2 * GOOD_LEADS, "day 2 to be sent to every contact")
    page.goto(sequence_url)
    expect(page.locator("tr.contact .day-of")).to_have_text(["day 2 of 2 sent"] * GOOD_LEADS)
    expect(page.locator("tr.contact .bar .done[data-sent=\"2\"]")).to_have_count(GOOD_LEADS)
    screenshot(page, "sequence")

    # a tick as of the wall clock rolls the real sends up into the hourly stats of the dashboard
    tick(datetime.now(UTC) + timedelta(seconds=1), database_url)
    page.goto("/")
    expect(page.locator("#sent-today")).to_have_text(str(3 * GOOD_LEADS))
    bars = page.locator("svg.chart rect.sent title").all_text_contents()
    assert sum(int(re.search(r": (\d+) sent", bar).group(1)) for bar in bars) == 3 * GOOD_LEADS

    # -- the remaining pages with the data in them
    for path, name in (("/sequences", "sequences"), ("/campaigns", "campaigns"),
                       ("/queue", "queue"), ("/", "dashboard")):
        page.goto(path)
        screenshot(page, name)
    page.goto("/queue")
    expect(page.locator("#queue-devices [data-field=sent_24h]")).to_have_text(
        str(3 * GOOD_LEADS))
    # the delivered texts are on the queue monitor, rendered per lead
    expect(page.locator("text=welcome to day 1!").first).to_be_visible()
    assert device_host.poll() is None, "the device host died during the path"
