"""The conversation pages by the Flask test client: the inbox, a lead's page with its sequences,
conversation and reply box, and a device's test message — ownership, escaping, errors, CSRF."""

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from dripfleet.stores.sending import record_inbound
from tests.conftest import scalar
from tests.webapp.conftest import SignedIn
from webapp import create_app

_numbers = itertools.count(5_000_000)
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)




class Marketer(SignedIn):
    """A user signed in to the pages, with helpers that make their rows."""

    def __init__(self, app, engine: Engine) -> None:
        super().__init__(app, engine, "leadpages")

    def device(self, status: str = "online", name: str = "Phone A") -> int:
        return scalar(self.engine, "INSERT INTO devices (user_id, name, status) "
                                   "VALUES (:u, :n, :s) RETURNING id",
                      u=self.id, n=name, s=status)

    def lead(self, name: str = "Ann Lee", opted_out: bool = False) -> dict:
        phone = f"+6012{next(_numbers):07d}"
        lead_id = scalar(self.engine, "INSERT INTO leads (user_id, phone, name, niches, "
                                      "attributes, opted_out_at) VALUES (:u, :p, :n, "
                                      "ARRAY['fitness'], '{\"city\": \"Ipoh\"}', "
                                      "CASE WHEN :o THEN now() END) RETURNING id",
                         u=self.id, p=phone, n=name, o=opted_out)
        return {"id": lead_id, "phone": phone}

    def outbound(self, lead: dict, device: int, at: datetime, body: str = "hi",
                 status: str = "sent", **extra) -> int:
        values = {"u": self.id, "d": device, "l": lead["id"], "p": lead["phone"], "b": body,
                  "s": status, "at": at, "k": f"test:{next(_numbers)}", "delivered": None,
                  "read": None, "failure_class": None, "last_error": None, **extra}
        return scalar(self.engine,
                      "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, "
                      "status, created_at, sent_at, source, dedupe_key, delivered_at, read_at, "
                      "failure_class, last_error) VALUES (:u, :d, :l, :p, :b, :s, :at, "
                      "CASE WHEN :s IN ('sent', 'failed') THEN CAST(:at AS timestamptz) END, "
                      "'api', :k, :delivered, :read, :failure_class, :last_error) RETURNING id",
                      **values)

    def inbound(self, lead: dict, device: int, at: datetime, body: str = "hello",
                message_type: str = "text") -> None:
        """A message the lead writes, through the device host's own statement."""
        with self.engine.begin() as conn:
            record_inbound(conn, [{"device_id": device, "phone": lead["phone"],
                                   "message_type": message_type, "text": body,
                                   "provider_message_id": f"P{next(_numbers)}",
                                   "quoted_provider_id": None, "received_at": at}])

    def queued(self, lead: dict) -> list[dict]:
        with self.engine.begin() as conn:
            return [dict(row) for row in conn.execute(text(
                "SELECT id, body, device_id, source, status, lane FROM message_queue "
                "WHERE user_id = :u AND lead_id = :l AND status = 'queued' ORDER BY id"),
                {"u": self.id, "l": lead["id"]}).mappings()]


@pytest.fixture
def make_marketer(pages_app, engine: Engine):
    return lambda: Marketer(pages_app, engine)


def page_text(response) -> str:
    return response.get_data(as_text=True)


def test_inbox_lists_who_wrote_in_and_the_lead_page_marks_it_read(make_marketer):
    ann = make_marketer()
    device = ann.device()
    lead = ann.lead("Ann Lee")
    quiet = ann.lead("Quiet One")  # never wrote: not in the inbox
    ann.outbound(lead, device, T0, "Day 1: welcome", delivered=T0 + timedelta(minutes=1),
                 read=T0 + timedelta(minutes=2))
    ann.outbound(quiet, device, T0, "Day 1: welcome")
    ann.inbound(lead, device, T0 + timedelta(minutes=5), "Tell me more")
    ann.inbound(lead, device, T0 + timedelta(minutes=6), "my gym", "image")

    inbox = page_text(ann.client.get("/inbox"))
    rows = re.findall(r'<tr class="inbox-row( unread)?" data-lead="(\d+)"', inbox)
    assert rows == [(" unread", str(lead["id"]))]
    assert re.search(r'unread-count">2<', inbox)
    assert f'href="/leads/{lead["id"]}"' in inbox and "my gym" in inbox
    assert 'href="/inbox"' in inbox  # the navigation

    lead_page = page_text(ann.client.get(f"/leads/{lead['id']}"))
    # both directions, oldest first (newest at the bottom, like a chat), the new ones marked
    directions = re.findall(r'data-direction="(in|out)"', lead_page)
    assert directions == ["out", "in", "in"]
    assert lead_page.index("Day 1: welcome") < lead_page.index("Tell me more")
    assert lead_page.count("<strong>new</strong>") == 2
    assert "✓✓</span> read" in lead_page
    assert "fitness" in lead_page and "Ipoh" in lead_page  # niches and attributes

    inbox = page_text(ann.client.get("/inbox"))
    assert re.findall(r'<tr class="inbox-row( unread)?"', inbox) == [""]
    assert re.search(r'unread-count">0<', inbox)
    assert "<strong>new</strong>" not in page_text(ann.client.get(f"/leads/{lead['id']}"))


def test_user_text_is_escaped(make_marketer):
    ann = make_marketer()
    device = ann.device()
    lead = ann.lead('<img src=x onerror="alert(1)">')
    ann.inbound(lead, device, T0, "<script>alert('hi')</script>")
    for path in ("/inbox", f"/leads/{lead['id']}"):
        body = page_text(ann.client.get(path))
        assert "<script>alert" not in body and "<img src=x" not in body, path
        assert "&lt;script&gt;" in body, path


def test_another_users_lead_is_a_404_page_and_gets_nothing(make_marketer):
    ann, bob = make_marketer(), make_marketer()
    ann.device()
    bob.device()
    lead = ann.lead()
    response = bob.client.get(f"/leads/{lead['id']}")
    assert response.status_code == 404 and "Not found" in page_text(response)
    response = bob.client.post(f"/leads/{lead['id']}/reply", data={"body": "hello"})
    assert response.status_code == 404
    assert ann.queued(lead) == []
    assert bob.client.get("/leads/999999999").status_code == 404


def test_strangers_go_to_login(pages_app, make_marketer):
    lead = make_marketer().lead()
    client = pages_app.test_client()
    for path in ("/inbox", f"/leads/{lead['id']}"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.post(f"/leads/{lead['id']}/reply", data={"body": "x"}).status_code == 302


def test_reply_queues_one_message_that_shows_in_the_conversation(make_marketer):
    ann = make_marketer()
    device = ann.device()
    lead = ann.lead()
    form = {"body": "Thanks for writing!", "idempotency_key": "form-1"}
    response = ann.client.post(f"/leads/{lead['id']}/reply", data=form)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/leads/{lead['id']}#reply"
    # the same form twice (a double click) queues it once
    ann.client.post(f"/leads/{lead['id']}/reply", data=form)
    assert [(m["body"], m["device_id"], m["source"], m["lane"]) for m in ann.queued(lead)] == [
        ("Thanks for writing!", device, "api", 2)]  # a person's reply goes before what waits
    page = page_text(ann.client.get(f"/leads/{lead['id']}"))
    assert "Reply queued" in page
    assert re.search(r'class="msg out queued".*?Thanks for writing!.*?>queued<', page, re.S)


def test_reply_refusals_keep_the_draft_and_say_why(make_marketer):
    ann = make_marketer()
    lead = ann.lead()
    # no device online: nothing can take it
    ann.device(status="offline")
    response = ann.client.post(f"/leads/{lead['id']}/reply", data={"body": "Hello there"})
    assert response.status_code == 200
    assert "no usable device" in page_text(response) and "Hello there" in page_text(response)
    ann.device()
    response = ann.client.post(f"/leads/{lead['id']}/reply", data={"body": "  "})
    assert response.status_code == 200 and "Message: a text message needs a body" in (
        page_text(response))
    response = ann.client.post(f"/leads/{lead['id']}/reply", data={"body": "{Hi|Hello"})
    assert response.status_code == 200 and 'id="reply-problem"' in page_text(response)
    assert ann.queued(lead) == []


def test_reply_to_an_opted_out_lead_is_refused_clearly(make_marketer):
    ann = make_marketer()
    ann.device()
    lead = ann.lead(opted_out=True)
    page = page_text(ann.client.get(f"/leads/{lead['id']}"))
    assert 'id="reply-opted-out"' in page and "<textarea" not in page
    # a form opened before the lead opted out
    response = ann.client.post(f"/leads/{lead['id']}/reply", data={"body": "Hello?"})
    assert response.status_code == 200
    assert "This lead has opted out: nothing can be sent to them." in page_text(response)
    assert ann.queued(lead) == []


def test_conversation_pages_back_to_older_messages(make_marketer):
    ann = make_marketer()
    device = ann.device()
    lead = ann.lead()
    for minute in range(35):
        ann.outbound(lead, device, T0 + timedelta(minutes=minute), f"message {minute:02d}")
    first = page_text(ann.client.get(f"/leads/{lead['id']}"))
    assert "message 34" in first and "message 05" in first and "message 04" not in first
    older = re.search(r'href="([^"]+)" id="older-messages"', first).group(1).replace("&amp;", "&")
    second = page_text(ann.client.get(older))
    assert "message 04" in second and "message 00" in second and "message 05" not in second
    assert 'id="older-messages"' not in second and 'id="newest-messages"' in second
    assert ann.client.get(f"/leads/{lead['id']}?before=nonsense").status_code == 404
    assert ann.client.get("/inbox?before=nonsense").status_code == 404


def test_failed_messages_show_their_reason(make_marketer):
    ann = make_marketer()
    device = ann.device()
    lead = ann.lead()
    ann.outbound(lead, device, T0, "Hello", status="failed", failure_class="recipient",
                 last_error="not on WhatsApp")
    page = page_text(ann.client.get(f"/leads/{lead['id']}"))
    assert "Failed (recipient): not on WhatsApp" in page


def test_lead_page_shows_each_sequence_with_status_and_day(make_marketer):
    ann = make_marketer()
    lead = ann.lead()
    engine = ann.engine
    for name, status, day in (("Welcome", "active", 1), ("Retreat", "replied", 2)):
        sequence = scalar(engine, "INSERT INTO sequences (user_id, name, niche, status) "
                                  "VALUES (:u, :n, 'fitness', 'active') RETURNING id",
                          u=ann.id, n=name)
        for step in (1, 2, 3):
            scalar(engine, "INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, "
                           "body) VALUES (:u, :s, :d, '09:00', 'x') RETURNING id",
                   u=ann.id, s=sequence, d=step)
        scalar(engine, "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, status, "
                       "current_day) VALUES (:u, :s, :l, :st, :d) RETURNING id",
               u=ann.id, s=sequence, l=lead["id"], st=status, d=day)
    page = page_text(ann.client.get(f"/leads/{lead['id']}"))
    rows = re.findall(r'<tr class="lead-sequence".*?</tr>', page, re.S)
    assert len(rows) == 2
    retreat, welcome = rows  # newest enrolment first (equal times: by contact id)
    assert "Welcome" in welcome and ">active<" in welcome and "day 1 of 3" in welcome
    assert re.search(r'href="/sequences/\d+">Welcome</a>', welcome)
    assert "Retreat" in retreat and ">replied<" in retreat and "day 2 of 3" in retreat


def test_device_test_message_goes_through_that_device(make_marketer):
    ann = make_marketer()
    ann.device(name="Other phone")
    device = ann.device(name="Sales phone")
    page = page_text(ann.client.get(f"/devices/{device}"))
    assert 'id="test-message-form"' in page and "This is a test message from dripfleet." in page

    response = ann.client.post(f"/devices/{device}/test-message",
                               data={"phone": "not a phone", "body": "Hi me"})
    assert response.status_code == 200
    page = page_text(response)
    assert 'id="test-phone-error">Phone number: ' in page
    assert 'value="not a phone"' in page and "Hi me" in page  # the form keeps what was typed

    response = ann.client.post(f"/devices/{device}/test-message",
                               data={"phone": "+60 12-345 6789", "body": "Hi me"})
    assert response.status_code == 302
    with ann.engine.begin() as conn:
        sent = conn.execute(text("SELECT phone, body, device_id, source, lane FROM message_queue"
                                 " WHERE user_id = :u"), {"u": ann.id}).all()
    assert [tuple(row) for row in sent] == [("+60123456789", "Hi me", device, "api", 2)]
    assert "Test message queued to +60123456789" in page_text(
        ann.client.get(f"/devices/{device}"))


def test_device_test_message_refusals(make_marketer):
    ann, bob = make_marketer(), make_marketer()
    offline = ann.device(status="offline")
    response = ann.client.post(f"/devices/{offline}/test-message",
                               data={"phone": "+60123456789", "body": "Hi"})
    assert response.status_code == 200 and 'id="test-message-error"' in page_text(response)
    response = ann.client.post(f"/devices/{offline}/test-message",
                               data={"phone": "", "body": "Hi"})
    assert response.status_code == 200 and "Phone number: enter the number" in (
        page_text(response))
    online = ann.device()
    response = ann.client.post(f"/devices/{online}/test-message",
                               data={"phone": "+60123456789", "body": ""})
    assert response.status_code == 200 and 'id="test-body-error">Text: ' in page_text(response)
    assert bob.client.post(f"/devices/{online}/test-message",
                           data={"phone": "+60123456789", "body": "x"}).status_code == 404
    assert scalar(ann.engine, "SELECT count(*) FROM message_queue WHERE user_id = :u",
                  u=ann.id) == 0


def test_the_pages_posts_need_the_csrf_token(database_url, engine):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "t"})
    ann = Marketer(app, engine)
    device = ann.device()
    lead = ann.lead()
    for path, data in ((f"/leads/{lead['id']}/reply", {"body": "hello"}),
                       (f"/devices/{device}/test-message", {"phone": "+60123456789",
                                                            "body": "hello"}),
                       (f"/leads/{lead['id']}/sequences/1/contacts/1/resume", {})):
        response = ann.client.post(path, data=data)
        assert response.status_code == 302, path  # back, with "the form had expired"
    assert scalar(engine, "SELECT count(*) FROM message_queue WHERE user_id = :u",
                  u=ann.id) == 0
    # with the page's token the reply goes
    page = page_text(ann.client.get(f"/leads/{lead['id']}"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = ann.client.post(f"/leads/{lead['id']}/reply",
                               data={"body": "hello", "csrf_token": token})
    assert response.status_code == 302
    assert [m["body"] for m in ann.queued(lead)] == ["hello"]


def test_a_contact_paused_by_its_reply_resumes_from_the_lead_page(make_marketer):
    ann, bob = make_marketer(), make_marketer()
    engine = ann.engine
    device = ann.device()
    lead, other = ann.lead(), ann.lead("Other")
    sequence = scalar(engine, "INSERT INTO sequences (user_id, name, niche, status, on_reply) "
                              "VALUES (:u, 'Welcome', 'fitness', 'active', 'pause') RETURNING id",
                      u=ann.id)
    contacts = {}
    for who, status in ((lead, "paused"), (other, "active")):
        contacts[who["id"]] = scalar(
            engine, "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, status, "
                    "current_day) VALUES (:u, :s, :l, :st, 1) RETURNING id",
            u=ann.id, s=sequence, l=who["id"], st=status)
    held = ann.outbound(lead, device, T0, "Day 2", status="held")
    scalar(engine, "UPDATE message_queue SET source = 'sequence', sequence_id = :s, "
                   "contact_id = :c WHERE id = :m RETURNING id",
           s=sequence, c=contacts[lead["id"]], m=held)
    contact = contacts[lead["id"]]
    path = f"/leads/{lead['id']}/sequences/{sequence}/contacts/{contact}/resume"

    page = page_text(ann.client.get(f"/leads/{lead['id']}"))
    assert f'action="{path}"' in page and ">paused<" in page
    # another user, or another lead's contact through this lead's page: 404, nothing changes
    assert bob.client.post(path).status_code == 404
    assert ann.client.post(f"/leads/{other['id']}/sequences/{sequence}/contacts/{contact}"
                           "/resume").status_code == 404
    assert scalar(engine, "SELECT status FROM sequence_contacts WHERE id = :c",
                  c=contact) == "paused"

    response = ann.client.post(path)
    assert response.status_code == 302
    assert scalar(engine, "SELECT status FROM sequence_contacts WHERE id = :c",
                  c=contact) == "active"
    assert scalar(engine, "SELECT status FROM message_queue WHERE id = :m", m=held) == "queued"
    page = page_text(ann.client.get(f"/leads/{lead['id']}"))
    assert "1 held message queued again" in page and 'class="secondary small resume"' not in page
    # a second press (a stale page): refused with the reason, not a 500
    response = ann.client.post(path, headers={"Referer": f"/leads/{lead['id']}"})
    assert response.status_code == 302
    assert "not paused" in page_text(ann.client.get(f"/leads/{lead['id']}"))


def test_the_navigation_counts_unread_messages_until_the_lead_is_viewed(make_marketer):
    ann, bob = make_marketer(), make_marketer()
    device, lead = ann.device(), ann.lead()
    ann.inbound(lead, device, T0, "one")
    ann.inbound(lead, device, T0 + timedelta(minutes=1), "two")
    bob.inbound(bob.lead(), bob.device(), T0, "not ann's")
    page = ann.client.get("/").get_data(as_text=True)
    assert re.search(r'id="nav-unread"[^>]*>2<', page), "the Inbox link should say 2"
    ann.client.get(f"/leads/{lead['id']}")  # viewing marks the lead's messages read
    assert 'id="nav-unread"' not in ann.client.get("/").get_data(as_text=True)
    assert re.search(r'id="nav-unread"[^>]*>1<', bob.client.get("/").get_data(as_text=True))
