"""Issue 17, acceptance 2: a campaign created while 250 drip messages wait on 3 devices.

Marked `priority: high`, it is fully sent before the drip backlog is: on each device every one of
its messages leaves before any waiting drip message. At normal priority the two take turns on
each device, so neither waits for the other's whole backlog. The drips and the campaign are
queued by the real tick (Dagster, in-process); a real worker sends them on the simulated network,
and the order is the order the network received them.
"""

from datetime import UTC, datetime, timedelta

import pytest

from dripfleet.stores import engagement
from pipelines.tick import run_tick

DRIPS = 250
CAMPAIGN = 30


def _backlog(fleet, database_url: str, priority: str) -> tuple[list[int], int]:
    """3 devices, 250 due drip steps and a campaign's 30 messages queued by ticks, in that
    order; the devices and the campaign."""
    user = fleet.user()
    devices = [fleet.device(user) for _ in range(3)]
    fleet.sql("INSERT INTO leads (user_id, phone, name, niches)"
              " SELECT :u, '+6015' || lpad(g::text, 8, '0'), 'Drip ' || g, ARRAY['fitness']"
              " FROM generate_series(1, :n) g", u=user, n=DRIPS)
    fleet.sql("INSERT INTO leads (user_id, phone, name, niches)"
              " SELECT :u, '+6016' || lpad(g::text, 8, '0'), 'Promo ' || g, ARRAY['promo']"
              " FROM generate_series(1, :n) g", u=user, n=CAMPAIGN)
    sequence = fleet.sql(
        "INSERT INTO sequences (user_id, name, niche, status) VALUES (:u, 'Welcome', 'fitness',"
        " 'active') RETURNING id", u=user)[0][0]
    fleet.sql("INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body)"
              " VALUES (:u, :s, 1, '09:00', 'welcome {{ first_name }}')", u=user, s=sequence)
    # enrolled earlier: day 1 is due now, whatever the time of day
    fleet.sql("INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, next_due_at)"
              " SELECT :u, :s, id, now() - interval '1 minute' FROM leads"
              " WHERE user_id = :u AND niches = ARRAY['fitness']", u=user, s=sequence)
    now = datetime.now(UTC)
    run_tick(now, database_url=database_url)
    assert fleet.sql("SELECT count(*) FROM message_queue WHERE source = 'sequence'"
                     " AND status = 'queued'")[0][0] == DRIPS
    campaign = fleet.sql(
        "INSERT INTO campaigns (user_id, title, niche, scheduled_at, body, status, priority)"
        " VALUES (:u, 'Sale', 'promo', :at, 'sale today', 'scheduled', :p) RETURNING id",
        u=user, at=now - timedelta(minutes=1), p=priority)[0][0]
    run_tick(now + timedelta(seconds=1), database_url=database_url)
    queued = fleet.sql("SELECT device_id, count(*) FROM message_queue"
                       " WHERE campaign_id = :c AND status = 'queued' GROUP BY 1", c=campaign)
    assert sum(n for _, n in queued) == CAMPAIGN
    assert len(queued) == 3, "the campaign is spread over the three devices"
    return devices, campaign


def _orders(fleet, devices: list[int]) -> dict[int, list[str]]:
    """Per device, the kinds of the messages in the order the network received them."""
    rows = fleet.sql(
        "SELECT d.device_id, q.source FROM sim_deliveries d"
        " JOIN message_queue q ON q.id = d.message_id ORDER BY d.id")
    orders: dict[int, list[str]] = {device: [] for device in devices}
    for device_id, source in rows:
        orders[device_id].append(source)
    return orders


def _send_all(fleet, run_worker) -> None:
    """Send everything; the queue page's expected order, read before, is the order sent in."""
    user = fleet.sql("SELECT user_id FROM devices LIMIT 1")[0][0]
    with fleet.engine.begin() as conn:
        expected = engagement.expected_sends(conn, user, datetime.now(UTC), per_device=DRIPS,
                                             limit=2 * (DRIPS + CAMPAIGN))
    promised: dict[int, list[int]] = {}
    for row in sorted(expected, key=lambda row: row["position"]):
        promised.setdefault(row["device_id"], []).append(row["id"])
    run_worker()
    fleet.wait_until(fleet.settled, timeout=120)
    assert fleet.statuses() == {"sent": DRIPS + CAMPAIGN}
    sent: dict[int, list[int]] = {}
    for device_id, message_id in fleet.sql(
            "SELECT device_id, message_id FROM sim_deliveries ORDER BY id"):
        sent.setdefault(device_id, []).append(message_id)
    assert sent == promised, "the queue page's expected order is not the order sent in"


def test_a_high_priority_campaign_is_sent_before_the_waiting_drip_backlog(
        fleet, run_worker, database_url):
    devices, campaign = _backlog(fleet, database_url, "high")
    _send_all(fleet, run_worker)
    for device, order in _orders(fleet, devices).items():
        campaign_sends = order.count("campaign")
        assert order[:campaign_sends] == ["campaign"] * campaign_sends, (
            f"device {device}: a drip message left before the high-priority campaign: {order}")
    status = fleet.sql("SELECT status FROM campaigns WHERE id = :c", c=campaign)[0][0]
    assert status in ("running", "completed")


def test_at_normal_priority_campaign_and_drips_take_turns_on_each_device(
        fleet, run_worker, database_url):
    devices, _ = _backlog(fleet, database_url, "normal")
    _send_all(fleet, run_worker)
    for device, order in _orders(fleet, devices).items():
        turns = 2 * order.count("campaign")
        head = order[:turns]
        # strict turns while both have messages: half of the head is the campaign's
        assert head.count("campaign") == head.count("sequence") == turns // 2, (
            f"device {device}: campaign and drips did not take turns: {order}")


def test_raising_a_running_campaigns_priority_moves_its_waiting_messages_ahead(
        fleet, run_worker, database_url):
    from sqlalchemy import text

    from dripfleet.stores import campaigns as campaign_store

    devices, campaign = _backlog(fleet, database_url, "normal")
    user = fleet.sql("SELECT user_id FROM campaigns WHERE id = :c", c=campaign)[0][0]
    with fleet.engine.begin() as conn:
        moved = campaign_store.set_priority(conn, user, campaign, "high")
        lanes = conn.execute(text("SELECT DISTINCT lane FROM message_queue"
                                  " WHERE campaign_id = :c"), {"c": campaign}).scalars().all()
    assert moved == CAMPAIGN and lanes == [2]
    _send_all(fleet, run_worker)
    for device, order in _orders(fleet, devices).items():
        campaign_sends = order.count("campaign")
        assert order[:campaign_sends] == ["campaign"] * campaign_sends, (device, order)


@pytest.mark.parametrize("priority", ["normal", "high"])
def test_the_claim_takes_turns_from_the_index_without_walking_the_backlog(
        fleet, database_url, priority):
    """Each lane's probe is one descent of message_queue_next_idx, not a scan of the backlog."""
    devices, _ = _backlog(fleet, database_url, priority)
    plan = "\n".join(row[0] for row in fleet.sql(
        "EXPLAIN SELECT n.id FROM message_queue n WHERE n.device_id = :d AND n.status = 'queued'"
        " AND n.lane = 1 AND n.not_before <= now() ORDER BY n.id LIMIT 1", d=devices[0]))
    index_cond = [line for line in plan.splitlines() if "Index Cond" in line]
    assert "message_queue_next_idx" in plan and "Sort" not in plan, plan
    assert index_cond and "lane = 1" in index_cond[0], plan
