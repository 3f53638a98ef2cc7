"""The engagement_stats asset: sent / delivered / read / replied per user, source and hour, each
event in the hour it happened; late receipts land in their hour; index paths only; pruning."""

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from dripfleet.queries import queries
from dripfleet.stores import engagement

NOW = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
HOUR = NOW.replace(minute=0)
_keys = itertools.count(1)


def send(world, user: int, device: int, lead: int, source: str = "api", *,
         sent: datetime, delivered: datetime | None = None, read: datetime | None = None,
         replied: datetime | None = None) -> int:
    """A sent message with its receipts (message_events rows, as record_receipts writes them)
    and its first reply (an inbound message attributed to it, as record_inbound writes it)."""
    message = world.value(
        "INSERT INTO message_queue (user_id, device_id, lead_id, phone, source, dedupe_key,"
        " status, sent_at) SELECT :u, :d, id, phone, :src, :k, 'sent', :s FROM leads"
        " WHERE id = :l RETURNING id",
        u=user, d=device, l=lead, src=source, k=f"t:{next(_keys)}", s=sent)
    receipt(world, message, "delivered", delivered)
    receipt(world, message, "read", read)
    if replied is not None:
        world.sql(
            "INSERT INTO inbound_messages (user_id, device_id, lead_id, phone, text,"
            " received_at, reply_to_message_id) SELECT :u, :d, id, phone, 'thanks', :r, :m"
            " FROM leads WHERE id = :l", u=user, d=device, l=lead, r=replied, m=message)
        world.sql("UPDATE message_queue SET replied_at = :r WHERE id = :m", r=replied, m=message)
    return message


def receipt(world, message: int, kind: str, at: datetime | None) -> None:
    """A receipt recorded now: the message's time fills in and the timeline gets its event."""
    if at is None:
        return
    column = "delivered_at" if kind == "delivered" else "read_at"
    world.sql(f"UPDATE message_queue SET {column} = :a WHERE id = :m", a=at, m=message)
    world.sql("INSERT INTO message_events (message_id, kind, at) VALUES (:m, :k, :a)",
              m=message, k=kind, a=at)


def rows(world) -> list[tuple]:
    return [(r["user_id"], r["source"], r["hour"], r["sent_count"], r["delivered_count"],
             r["read_count"], r["replied_count"])
            for r in world.sql("SELECT * FROM engagement_hourly ORDER BY user_id, hour, source")]


def test_each_event_counts_in_the_hour_it_happened(world, tick):
    alice, bob = world.user(), world.user()
    a_dev, b_dev = world.device(alice), world.device(bob)
    a_lead, b_lead = world.lead(alice), world.lead(bob)
    early = HOUR - timedelta(minutes=50)  # 08:10
    # sent at 08:10, delivered 08:20, read 09:05, replied 09:10
    send(world, alice, a_dev, a_lead, "campaign", sent=early, delivered=early + timedelta(
        minutes=10), read=HOUR + timedelta(minutes=5), replied=HOUR + timedelta(minutes=10))
    # sent and delivered within 09:00
    send(world, alice, a_dev, a_lead, "campaign", sent=HOUR + timedelta(minutes=1),
         delivered=HOUR + timedelta(minutes=2))
    send(world, alice, a_dev, a_lead, "sequence", sent=HOUR + timedelta(minutes=3))
    send(world, bob, b_dev, b_lead, "api", sent=early, read=early + timedelta(minutes=1))
    # before the window (3 h) and after the tick's "now": not in this tick's hours
    send(world, alice, a_dev, a_lead, "api", sent=HOUR - timedelta(hours=5))
    send(world, alice, a_dev, a_lead, "api", sent=NOW + timedelta(minutes=1))

    result = tick(NOW)
    assert rows(world) == [
        (alice, "campaign", HOUR - timedelta(hours=1), 1, 1, 0, 0),
        (alice, "campaign", HOUR, 1, 1, 1, 1),
        (alice, "sequence", HOUR, 1, 0, 0, 0),
        (bob, "api", HOUR - timedelta(hours=1), 1, 0, 1, 0),
    ]
    metadata = result.asset_materializations_for_node("engagement_stats")[0].metadata
    assert metadata["window_hours"].value == 3
    assert (metadata["sent"].value, metadata["delivered"].value, metadata["read"].value,
            metadata["replied"].value) == (4, 2, 2, 1)
    table = metadata["hours"].value
    assert "| hour (UTC) | users | sent | delivered | read | replied |" in table
    assert f"| {HOUR.isoformat()} | 1 | 2 | 1 | 1 | 1 | 50 % | 50 % |" in table
    assert metadata["elapsed_s"].value >= 0

    tick(NOW + timedelta(minutes=1))  # recomputed, not added
    assert sum(r[3] for r in rows(world)) == 4


def test_a_late_receipt_lands_in_its_own_hour(world, tick):
    user = world.user()
    device, lead = world.device(user), world.lead(user)
    message = send(world, user, device, lead, sent=HOUR - timedelta(hours=2))
    tick(NOW)
    assert rows(world) == [(user, "api", HOUR - timedelta(hours=2), 1, 0, 0, 0)]
    # recorded only now, the read happened two hours ago (the phone was offline)
    receipt(world, message, "delivered", HOUR - timedelta(hours=2) + timedelta(minutes=1))
    receipt(world, message, "read", HOUR - timedelta(hours=1) + timedelta(minutes=59))
    tick(NOW + timedelta(minutes=1))
    assert rows(world) == [(user, "api", HOUR - timedelta(hours=2), 1, 1, 0, 0),
                           (user, "api", HOUR - timedelta(hours=1), 0, 0, 1, 0)]


def test_the_top_of_the_hour_sweeps_two_days(world, tick):
    user = world.user()
    device, lead = world.device(user), world.lead(user)
    long_ago = HOUR - timedelta(hours=30)
    send(world, user, device, lead, sent=long_ago, delivered=long_ago + timedelta(minutes=5))
    result = tick(NOW)  # 09:30: the last 3 hours only
    assert rows(world) == []
    assert result.asset_materializations_for_node("engagement_stats")[0].metadata[
        "window_hours"].value == 3
    result = tick(HOUR + timedelta(hours=1))  # 10:00: 48 hours
    assert rows(world) == [(user, "api", long_ago, 1, 1, 0, 0)]
    assert result.asset_materializations_for_node("engagement_stats")[0].metadata[
        "window_hours"].value == 48


def test_the_roll_up_reads_message_queue_only_through_indexes(world, engine):
    # With sequential scans priced out, a plan still shows one wherever no index can serve the
    # read: so none on message_queue, message_events or inbound_messages means an index path
    # exists for each (the roll-up runs every minute on what may be a very large queue).
    user = world.user()
    send(world, user, world.device(user), world.lead(user), sent=HOUR)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(r[0] for r in conn.execute(
            text("EXPLAIN " + queries["roll_up_engagement"].sql),
            {"since": HOUR - timedelta(hours=2), "now": NOW}))
    for table in ("message_queue", "message_events", "inbound_messages"):
        assert f"Seq Scan on {table}" not in plan, plan
    assert "message_queue_user_sent_idx" in plan
    assert "message_events_at_idx" in plan
    assert "inbound_messages_user_idx" in plan


def test_maintenance_prunes_hours_past_the_retention(world, tick):
    user = world.user()
    for days in (engagement.KEEP_DAYS + 1, engagement.KEEP_DAYS - 1):
        world.sql("INSERT INTO engagement_hourly (user_id, source, hour, sent_count)"
                  " VALUES (:u, 'api', :h, 1)", u=user, h=HOUR - timedelta(days=days))
    result = tick(NOW)
    kept = world.sql("SELECT hour FROM engagement_hourly ORDER BY hour")
    assert [r["hour"] for r in kept] == [HOUR - timedelta(days=engagement.KEEP_DAYS - 1)]
    metadata = result.asset_materializations_for_node("queue_maintenance")[0].metadata
    assert metadata["pruned_engagement_rows"].value == 1
