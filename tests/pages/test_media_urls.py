"""Acceptance 3 in the pages: a media URL on a private or local address is refused with the
field named, and nothing is stored (the forms load the API's schemas)."""

from sqlalchemy import Engine

from tests.conftest import scalar
from tests.pages.test_forms import flash_error


def test_step_and_campaign_forms_refuse_private_media_urls(make_user_client,
                                                           engine: Engine) -> None:
    _user, client = make_user_client()
    response = client.post("/sequences", data={"name": "Welcome", "niche": "fitness",
                                                "timezone": "Asia/Kuala_Lumpur"})
    sequence_id = int(response.headers["Location"].rsplit("/", 1)[1])
    response = client.post(f"/sequences/{sequence_id}/steps", data={
        "day": "1", "send_time": "09:30", "message_type": "image",
        "media": "http://169.254.169.254/latest/meta-data/"}, follow_redirects=True)
    error = flash_error(response)
    assert "media" in error and "169.254.169.254 is not a public address" in error, error
    assert scalar(engine, "SELECT count(*) FROM sequence_steps") == 0

    response = client.post("/campaigns", data={
        "title": "Promo", "niche": "fitness", "target_status": "all", "date": "2030-01-15",
        "time": "09:00", "timezone": "Asia/Kuala_Lumpur", "message_type": "image",
        "media": "http://localhost:8080/a.png"}, follow_redirects=True)
    error = flash_error(response)
    assert "media" in error and "localhost is a local name" in error, error
    assert scalar(engine, "SELECT count(*) FROM campaigns") == 0
