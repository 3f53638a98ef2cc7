"""The sequence page's reply settings by the Flask test client: on_reply is chosen on creation and
in the settings form, a contact's reply shows, and a contact a reply paused is resumed there."""

import pytest

from tests.conftest import scalar
from tests.webapp.conftest import SignedIn


@pytest.fixture
def marketer(pages_app, engine) -> SignedIn:
    return SignedIn(pages_app, engine, "seqpages")


def _sequence(marketer: SignedIn, on_reply: str | None = None) -> int:
    form = {"name": "Welcome", "niche": "fitness", "target_status": "all", "timezone": "UTC"}
    if on_reply:
        form["on_reply"] = on_reply
    response = marketer.client.post("/sequences", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def test_on_reply_is_set_on_creation_and_changed_in_the_settings(marketer, engine):
    sequence = _sequence(marketer, "pause")
    assert scalar(engine, "SELECT on_reply FROM sequences WHERE id = :s", s=sequence) == "pause"
    page = marketer.client.get(f"/sequences/{sequence}").get_data(as_text=True)
    assert '<option value="pause" selected>' in page
    saved = marketer.client.post(f"/sequences/{sequence}/settings", data={
        "name": "Welcome", "niche": "fitness", "target_status": "all", "timezone": "UTC",
        "on_reply": "continue"})
    assert saved.status_code == 302
    assert scalar(engine, "SELECT on_reply FROM sequences WHERE id = :s",
                  s=sequence) == "continue"
    # without a choice a new sequence stops on reply
    assert scalar(engine, "SELECT on_reply FROM sequences WHERE id = :s",
                  s=_sequence(marketer)) == "stop"


def test_a_paused_contact_shows_its_reply_and_is_resumed_from_the_page(marketer, engine):
    sequence = _sequence(marketer, "pause")
    lead = scalar(engine, "INSERT INTO leads (user_id, phone, name) VALUES (:u, '+60123450001',"
                          " 'Ann Lee') RETURNING id", u=marketer.id)
    contact = scalar(engine, "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id,"
                             " status, replied_at) VALUES (:u, :s, :l, 'paused', now())"
                             " RETURNING id", u=marketer.id, s=sequence, l=lead)
    page = marketer.client.get(f"/sequences/{sequence}").get_data(as_text=True)
    assert "replied " in page and "resume-contact" in page
    response = marketer.client.post(f"/sequences/{sequence}/contacts/{contact}/resume",
                                    follow_redirects=True)
    assert response.status_code == 200 and "resumed" in response.get_data(as_text=True)
    assert scalar(engine, "SELECT status FROM sequence_contacts WHERE id = :c",
                  c=contact) == "active"
    # again: it is not paused any more, said on the page, not a 500
    again = marketer.client.post(f"/sequences/{sequence}/contacts/{contact}/resume",
                                 follow_redirects=True)
    assert again.status_code < 500 and "not paused" in again.get_data(as_text=True)
