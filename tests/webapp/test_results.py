"""Results (issue 13): campaign progress with replies, opt-outs and rates; a sequence's funnel
per step; audience sizes in the campaign list; a campaign's recipients, paged and filtered.

Messages are written with plain SQL in the states the device host and the reply path leave them
in (replied_at set directly: the reply path that sets it is tested on its own)."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from tests.webapp.conftest import assert_error

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
_phones = itertools.count(1)


class Book:
    """Writes one user's leads, campaigns, sequences and messages with SQL (tests only)."""

    def __init__(self, engine: Engine, user_id: int) -> None:
        self.engine = engine
        self.user_id = user_id
        self.device = self.value(
            "INSERT INTO devices (user_id, name, status) VALUES (:u, 'phone', 'online')"
            " RETURNING id")

    def value(self, sql: str, **params):
        with self.engine.begin() as conn:
            return conn.execute(text(sql), {"u": self.user_id, **params}).scalar()

    def lead(self, name: str = "Lead", niches: tuple[str, ...] = ("fitness",),
             opted_out_at: datetime | None = None, target_status: str = "prospect") -> int:
        return self.value(
            "INSERT INTO leads (user_id, phone, name, niches, opted_out_at, target_status)"
            " VALUES (:u, :p, :n, :ni, :o, :t) RETURNING id",
            p=f"+6017{next(_phones):07d}", n=name, ni=list(niches), o=opted_out_at,
            t=target_status)

    def campaign(self, status: str = "running", niche: str | None = "fitness",
                 cursor: int = 0, audience_size: int | None = None) -> int:
        return self.value(
            "INSERT INTO campaigns (user_id, title, niche, body, status, scheduled_at,"
            " audience_cursor, audience_size, started_at) VALUES (:u, 'Promo', :n, 'Hi', :s, :at,"
            " :c, :a, CASE WHEN :s IN ('draft', 'scheduled') THEN NULL ELSE CAST(:at AS"
            " timestamptz) END) RETURNING id",
            n=niche, s=status, at=T0, c=cursor, a=audience_size)

    def job(self, campaign_id: int, total: int) -> int:
        return self.value(
            "INSERT INTO broadcast_jobs (user_id, source, campaign_id, total_count)"
            " VALUES (:u, 'campaign', :c, :t) RETURNING id", c=campaign_id, t=total)

    def message(self, lead_id: int, status: str = "sent", *, campaign_id: int | None = None,
                sequence_id: int | None = None, contact_id: int | None = None,
                step_id: int | None = None, sent: int | None = None,
                delivered: int | None = None, read: int | None = None,
                replied: int | None = None, failure_class: str | None = None) -> int:
        """A message; sent / delivered / read / replied are minutes after T0 (None: not yet)."""
        def at(minutes: int | None) -> datetime | None:
            return None if minutes is None else T0 + timedelta(minutes=minutes)
        if status == "sent" and sent is None:
            sent = 0
        return self.value(
            "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source,"
            " campaign_id, sequence_id, contact_id, step_id, dedupe_key, status, sent_at,"
            " delivered_at, read_at, replied_at, failure_class)"
            " SELECT :u, :d, id, phone, 'Hi', :src, :c, :s, :ct, :st, :k, :status, :sent,"
            " :delivered, :read, :replied, :fc FROM leads WHERE id = :l RETURNING id",
            d=self.device, l=lead_id, src="campaign" if campaign_id else "sequence",
            c=campaign_id, s=sequence_id, ct=contact_id, st=step_id,
            k=f"test:{next(_phones)}", status=status, sent=at(sent), delivered=at(delivered),
            read=at(read), replied=at(replied), fc=failure_class)

    def contact(self, sequence_id: int, lead_id: int, status: str = "active") -> int:
        return self.value(
            "INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, status)"
            " VALUES (:u, :s, :l, :st) RETURNING id", s=sequence_id, l=lead_id, st=status)

    def log(self, sequence_id: int, contact_id: int, day: int, message_id: int | None) -> None:
        """The step's log entry: its message (given its day), or a skip without a message."""
        if message_id is not None:
            self.value("UPDATE message_queue SET step_day = :d WHERE id = :m RETURNING id",
                       d=day, m=message_id)
        else:
            self.value(
                "INSERT INTO sequence_skips (user_id, sequence_id, contact_id, day, error)"
                " VALUES (:u, :s, :c, :d, 'template') RETURNING id",
                s=sequence_id, c=contact_id, d=day)


@pytest.fixture
def book(alice, engine) -> Book:
    return Book(engine, alice.id)


def test_progress_counts_replies_opt_outs_and_rates(alice, bob, book, engine):
    campaign = book.campaign()
    read_and_replied, delivered, opted, failed, waiting = (book.lead() for _ in range(5))
    book.message(read_and_replied, campaign_id=campaign, delivered=1, read=2, replied=3)
    book.message(delivered, campaign_id=campaign, delivered=1)
    book.message(opted, campaign_id=campaign)
    with engine.begin() as conn:  # opted out after the campaign's message reached them
        conn.execute(text("UPDATE leads SET opted_out_at = :t WHERE id = :l"),
                     {"t": T0 + timedelta(hours=1), "l": opted})
    book.message(failed, "failed", campaign_id=campaign, failure_class="recipient")
    book.message(waiting, "queued", campaign_id=campaign)
    progress = alice.get(f"/api/campaigns/{campaign}/progress").get_json()
    assert (progress["sent"], progress["delivered"], progress["read"], progress["replied"],
            progress["opted_out"]) == (3, 2, 1, 1, 1)
    assert (progress["delivered_rate"], progress["read_rate"], progress["replied_rate"],
            progress["opted_out_rate"]) == (0.6667, 0.3333, 0.3333, 0.3333)
    # the fields it had before are kept
    assert (progress["queued"], progress["failed"], progress["pending"]) == (1, 1, 1)
    assert progress["failed_by_class"] == {"device": 0, "recipient": 1, "content": 0}
    assert progress["devices"][0]["sent"] == 3
    assert_error(bob.get(f"/api/campaigns/{campaign}/progress"), 404)


def test_progress_rates_are_null_before_anything_is_sent(alice, book):
    campaign = book.campaign()
    book.message(book.lead(), "queued", campaign_id=campaign)
    progress = alice.get(f"/api/campaigns/{campaign}/progress").get_json()
    assert progress["sent"] == 0 and progress["replied"] == 0
    assert {progress[f"{k}_rate"] for k in ("delivered", "read", "replied", "opted_out")} == {
        None}


def test_sequence_stats_per_step_and_totals(alice, book):
    seq = alice.post("/api/sequences", json={
        "name": "Welcome", "niche": "fitness", "steps": [
            {"day": 1, "send_time": "09:00", "body": "Hi"},
            {"day": 2, "send_time": "10:30", "body": "Day 2"},
            {"day": 4, "send_time": "09:00", "body": "Day 4"}]}).get_json()
    steps = {s["day"]: s["id"] for s in seq["steps"]}
    sid = seq["id"]
    ana, ben, cai, dev = (book.lead(name) for name in ("Ana", "Ben", "Cai", "Dev"))
    a, b, c, d = (book.contact(sid, lead) for lead in (ana, ben, cai, dev))

    def step(contact, lead, day, status="sent", **kw):
        message = book.message(lead, status, sequence_id=sid, contact_id=contact,
                               step_id=steps[day], **kw)
        book.log(sid, contact, day, message)

    # day 1: Ana read and replied, Ben delivered, Dev failed (device), Cai skipped (template)
    step(a, ana, 1, delivered=1, read=5, replied=9)
    step(b, ben, 1, sent=0, delivered=2)
    step(d, dev, 1, "failed", failure_class="device")
    book.log(sid, c, 1, None)
    # day 2: Ana's waits; Ben's was sent and Ben opted out afterwards: charged to day 2
    step(a, ana, 2, "queued")
    step(b, ben, 2, sent=60 * 24)
    with book.engine.begin() as conn:
        conn.execute(text("UPDATE leads SET opted_out_at = :t WHERE id = :l"),
                     {"t": T0 + timedelta(days=1, hours=2), "l": ben})
        conn.execute(text("UPDATE sequence_contacts SET status = 'opted_out' WHERE id = :c"),
                     {"c": b})

    stats = alice.get(f"/api/sequences/{sid}/stats").get_json()
    by_day = {s["day"]: s for s in stats["steps"]}
    assert sorted(by_day) == [1, 2, 4]
    one, two, four = by_day[1], by_day[2], by_day[4]
    assert one["step_id"] == steps[1] and one["send_time"] == "09:00"
    assert (one["audience"], one["queued"], one["sent"], one["delivered"], one["read"],
            one["replied"], one["failed"], one["skipped"], one["opted_out"]) == (
        4, 0, 2, 2, 1, 1, 1, 1, 0)
    assert one["failed_by_class"] == {"device": 1, "recipient": 0, "content": 0}
    assert (one["delivered_rate"], one["read_rate"], one["replied_rate"]) == (1.0, 0.5, 0.5)
    assert (two["audience"], two["queued"], two["sent"], two["opted_out"]) == (2, 1, 1, 1)
    assert (two["opted_out_rate"], two["replied_rate"]) == (1.0, 0.0)
    assert (four["audience"], four["sent"], four["read_rate"]) == (0, 0, None)
    totals = stats["totals"]
    assert (totals["audience"], totals["sent"], totals["delivered"], totals["read"],
            totals["replied"], totals["opted_out"], totals["failed"]) == (4, 3, 2, 1, 1, 1, 1)
    assert totals["read_rate"] == 0.3333
    assert stats["contacts"] == {"active": 3, "opted_out": 1}


def test_sequence_stats_of_another_user_or_none_is_404(alice, bob):
    seq = alice.post("/api/sequences", json={
        "name": "Mine", "niche": "yoga",
        "steps": [{"day": 1, "send_time": "09:00", "body": "Hi"}]}).get_json()
    assert alice.get(f"/api/sequences/{seq['id']}/stats").status_code == 200
    assert_error(bob.get(f"/api/sequences/{seq['id']}/stats"), 404)
    assert_error(alice.get("/api/sequences/999999999/stats"), 404)


def test_campaign_list_and_get_carry_audience_size(alice, bob, book, engine):
    leads = [book.lead() for _ in range(4)]
    book.lead(opted_out_at=T0)           # never in an audience
    book.lead(niches=("yoga",))          # another niche
    book.lead(target_status="customer")  # matches a campaign for everyone
    Book(engine, bob.id).lead()          # another user's lead of the same niche
    draft = alice.post("/api/campaigns", json={
        "title": "Draft", "niche": "fitness", "body": "Hi"}).get_json()["id"]
    prospects = alice.post("/api/campaigns", json={
        "title": "Prospects", "niche": "fitness", "target_status": "prospect",
        "body": "Hi"}).get_json()["id"]
    # running: two leads materialised in one job, the cursor after the second lead
    running = book.campaign("running", cursor=leads[1])
    book.job(running, 2)
    completed = book.campaign("completed", audience_size=42)
    cancelled = book.campaign("cancelled", cursor=leads[0])
    book.job(cancelled, 1)
    items = {c["id"]: c["audience_size"]
             for c in alice.get("/api/campaigns?limit=500").get_json()["items"]}
    assert items == {draft: 5, prospects: 4, running: 2 + 3, completed: 42, cancelled: 1}
    for campaign, size in items.items():
        assert alice.get(f"/api/campaigns/{campaign}").get_json()["audience_size"] == size
        assert alice.get(f"/api/campaigns/{campaign}/progress").get_json()[
            "audience_size"] == size
    assert bob.get("/api/campaigns").get_json()["items"] == []


def test_recipients_are_paged_and_filtered_by_status(alice, bob, book):
    campaign = book.campaign()
    names = ("Ana", "Ben", "Cai", "Dev", "Eve")
    leads = [book.lead(name) for name in names]
    book.message(leads[0], campaign_id=campaign, delivered=1, read=2, replied=3)
    book.message(leads[1], campaign_id=campaign, delivered=1, read=2)
    book.message(leads[2], campaign_id=campaign, delivered=1)
    book.message(leads[3], "failed", campaign_id=campaign, failure_class="recipient")
    book.message(leads[4], "queued", campaign_id=campaign)
    book.message(book.lead("Other"), campaign_id=book.campaign())  # another campaign's
    url = f"/api/campaigns/{campaign}/recipients"
    first = alice.get(f"{url}?limit=3").get_json()
    rest = alice.get(f"{url}?limit=3&after={first['next_after']}").get_json()
    assert rest["next_after"] is None
    items = first["items"] + rest["items"]
    assert [(r["name"], r["status"]) for r in items] == [
        ("Ana", "replied"), ("Ben", "read"), ("Cai", "delivered"), ("Dev", "failed"),
        ("Eve", "queued")]
    ana = items[0]
    assert ana["message_status"] == "sent"
    assert ana["replied_at"] == (T0 + timedelta(minutes=3)).isoformat()
    assert items[3]["failure_class"] == "recipient" and items[3]["sent_at"] is None
    read = alice.get(f"{url}?status=read").get_json()["items"]
    assert [r["name"] for r in read] == ["Ben"]
    assert_error(alice.get(f"{url}?status=opened"), 422, "status")
    assert_error(bob.get(url), 404)
