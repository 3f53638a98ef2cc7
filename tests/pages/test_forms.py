"""The pages' forms go through the API's services: what they store, and the errors they show."""

import io
import re

from sqlalchemy import Engine

from tests.conftest import scalar

# the smallest valid PNG (1×1), so the media service's type sniffing accepts it
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def flash_error(response) -> str:
    """The text of the page's error flash ('' when there is none)."""
    match = re.search(r'<p class="flash error"[^>]*>(.*?)</p>', response.get_data(as_text=True),
                      re.S)
    return match.group(1) if match else ""


def test_sequence_forms(make_user_client, engine: Engine):
    _user, client = make_user_client()
    response = client.post("/sequences", data={"name": "Bad", "niche": "fitness",
                                                "timezone": "Mars/Olympus"},
                           follow_redirects=True)
    assert "timezone" in flash_error(response)
    assert scalar(engine, "SELECT count(*) FROM sequences") == 0

    response = client.post("/sequences", data={"name": "Welcome", "niche": " Fitness ",
                                                "timezone": "Asia/Kuala_Lumpur"})
    sequence_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert scalar(engine, "SELECT niche FROM sequences WHERE id = :i", i=sequence_id) == "fitness"

    # a text step, then an image step whose file is uploaded through the media service
    client.post(f"/sequences/{sequence_id}/steps", data={
        "day": "1", "send_time": "09:30", "message_type": "text", "body": "{Hi|Hello} {{ name }}"})
    response = client.post(f"/sequences/{sequence_id}/steps", data={
        "day": "2", "send_time": "10:00", "message_type": "image", "caption": "Our studio",
        "media_file": (io.BytesIO(PNG), "studio.png", "image/png")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    media_id = scalar(engine, "SELECT media_id FROM sequence_steps WHERE day = 2")
    assert scalar(engine, "SELECT filename FROM media WHERE id = :i", i=media_id) == "studio.png"
    # saving day 1 again replaces it instead of adding a step
    client.post(f"/sequences/{sequence_id}/steps", data={
        "day": "1", "send_time": "08:00", "message_type": "text", "body": "Morning {{ name }}"})
    assert scalar(engine, "SELECT count(*) FROM sequence_steps") == 2
    assert str(scalar(engine, "SELECT send_time FROM sequence_steps WHERE day = 1")) == "08:00:00"
    # a bad template is refused with the field named, and nothing changes
    response = client.post(f"/sequences/{sequence_id}/steps", data={
        "day": "3", "send_time": "08:00", "message_type": "text", "body": "{{ broken"},
        follow_redirects=True)
    assert "body" in flash_error(response)
    assert scalar(engine, "SELECT count(*) FROM sequence_steps") == 2

    page = client.get(f"/sequences/{sequence_id}").get_data(as_text=True)
    assert "Morning Aisha Rahman" in page  # preview for the sample lead
    client.post(f"/sequences/{sequence_id}/start")
    assert scalar(engine, "SELECT status FROM sequences") == "active"
    client.post(f"/sequences/{sequence_id}/pause")
    assert scalar(engine, "SELECT status FROM sequences") == "paused"
    response = client.post(f"/sequences/{sequence_id}/contacts",
                           data={"phones": "+60123450001\n0123450002"}, follow_redirects=True)
    assert "2 contacts added" in response.get_data(as_text=True)
    client.post(f"/sequences/{sequence_id}/steps/2/delete")
    assert scalar(engine, "SELECT count(*) FROM sequence_steps") == 1


def test_device_and_campaign_forms(make_user_client, engine: Engine):
    _user, client = make_user_client()
    response = client.post("/devices", data={"name": "Phone", "min_delay_s": "9",
                                              "max_delay_s": "3"}, follow_redirects=True)
    assert "min_delay_s" in flash_error(response)
    assert scalar(engine, "SELECT count(*) FROM devices") == 0
    response = client.post("/devices", data={"name": "Phone", "min_delay_s": "2",
                                              "max_delay_s": "4"})
    device_id = int(response.headers["Location"].rsplit("/", 1)[1])
    client.post(f"/devices/{device_id}/settings", data={
        "name": "Phone 1", "min_delay_s": "3", "max_delay_s": "6", "hourly_cap": "40",
        "quiet_start": "22:00", "quiet_end": "07:00"})
    row = scalar(engine, "SELECT name || ' ' || hourly_cap || ' ' || quiet_start FROM devices")
    assert row == "Phone 1 40 22:00:00"
    client.post(f"/devices/{device_id}/pair", data={"mode": "code", "phone": "0123456789"})
    assert scalar(engine, "SELECT status || ' ' || pairing_mode || ' ' || pairing_phone "
                          "FROM devices") == "pairing code +60123456789"

    # a sequence pinned to the device keeps its pin when its settings are saved
    response = client.post("/sequences", data={"name": "Pinned", "niche": "yoga",
                                                "pinned_device_id": str(device_id)})
    sequence_id = int(response.headers["Location"].rsplit("/", 1)[1])
    client.post(f"/sequences/{sequence_id}/settings", data={
        "name": "Pinned 2", "niche": "yoga", "pinned_device_id": str(device_id)})
    assert scalar(engine, "SELECT name || ' ' || pinned_device_id FROM sequences") == \
        f"Pinned 2 {device_id}"
    assert 'selected>Phone 1' in client.get(f"/sequences/{sequence_id}").get_data(as_text=True)

    response = client.post("/campaigns", data={
        "title": "Promo", "niche": "fitness", "target_status": "all", "date": "2030-01-15",
        "time": "09:00", "timezone": "Asia/Kuala_Lumpur", "message_type": "text", "body": ""},
        follow_redirects=True)
    assert "body" in flash_error(response)
    assert scalar(engine, "SELECT count(*) FROM campaigns") == 0
    response = client.post("/campaigns", data={
        "title": "Promo", "niche": "fitness", "target_status": "all", "date": "2030-01-15",
        "time": "09:00", "timezone": "Asia/Kuala_Lumpur", "message_type": "text",
        "body": "Hello {{ name }}", "pinned_device_id": str(device_id)})
    campaign_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert scalar(engine, "SELECT status || ' ' || pinned_device_id || ' ' || "
                          "to_char(scheduled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') "
                          "FROM campaigns") == f"scheduled {device_id} 2030-01-15 01:00"
    client.post(f"/campaigns/{campaign_id}/pause")
    assert scalar(engine, "SELECT status FROM campaigns") == "paused"
    client.post(f"/campaigns/{campaign_id}/resume")
    assert scalar(engine, "SELECT status FROM campaigns") == "scheduled"
    client.post(f"/campaigns/{campaign_id}/cancel")
    assert scalar(engine, "SELECT status FROM campaigns") == "cancelled"
    # a refused action is shown, not a server error
    response = client.post(f"/campaigns/{campaign_id}/pause", follow_redirects=True)
    assert response.status_code == 200
    assert "cannot be paused" in flash_error(response)


def test_leads_upload_without_javascript_shows_the_report(make_user_client, engine: Engine):
    _user, client = make_user_client()
    csv = b"phone,name\n+60123450001,Aisha\nnope,Bad\n+60123450002,Ben\n"
    response = client.post("/leads/import", data={
        "file": (io.BytesIO(csv), "leads.csv", "text/csv"), "niche": "Yoga"},
        content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="report-inserted">2<' in page and 'id="report-rejected">1<' in page
    assert "<td>3</td>" in page  # the rejected row's line number
    assert scalar(engine, "SELECT count(*) FROM leads WHERE niches = '{yoga}'") == 2
    filtered = client.get("/leads?search=Ben").get_data(as_text=True)
    assert "+60123450002" in filtered and "+60123450001" not in filtered
    # a file that is no lead CSV is refused whole, with the reason shown
    response = client.post("/leads/import", data={
        "file": (io.BytesIO(b"\x00\x01\x02binary"), "x.csv", "text/csv")},
        content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    assert flash_error(response)


def test_an_upload_above_the_limit_is_refused_on_the_page(database_url, make_user):
    from webapp import auth, create_app

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "t",
                      "WTF_CSRF_ENABLED": False, "MAX_CONTENT_LENGTH": 1000})
    client = app.test_client()
    with client.session_transaction() as session:
        session[auth.SESSION_KEY] = int(make_user()["id"])
    response = client.post("/leads/import", data={
        "file": (io.BytesIO(b"phone\n" + b"+60123450001\n" * 200), "big.csv", "text/csv")},
        content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    assert "too large" in flash_error(response)
