"""Priority in the API (issue 17): a campaign's `priority` on create, replace and PATCH, moving
its waiting messages to their lane in the claim order; a one-off message's `priority`; bad values
named; another user's campaign not found; a finished campaign refused."""

from sqlalchemy import text

from tests.conftest import scalar
from tests.webapp.conftest import SignedIn, assert_error
from tests.webapp.test_campaigns import BODY, make_campaign
from tests.webapp.test_messages import make_device, make_lead, send


def _queue_for(engine, campaign: dict, user_id: int, device: int, status: str = "queued") -> int:
    """A message of the campaign as the tick would queue it at normal priority (lane 1)."""
    with engine.begin() as conn:
        return conn.execute(text(
            "INSERT INTO message_queue (user_id, device_id, phone, body, source, campaign_id,"
            " dedupe_key, lane, status) VALUES (:u, :d, '+60123456789', 'x', 'campaign', :c,"
            " :k, 1, :s) RETURNING id"),
            {"u": user_id, "d": device, "c": campaign["id"], "k": f"camp:{campaign['id']}:{status}",
             "s": status}).scalar_one()


def test_a_campaign_is_normal_priority_unless_asked_and_keeps_what_it_was_given(alice):
    assert make_campaign(alice)["priority"] == "normal"
    high = make_campaign(alice, priority="high")
    assert high["priority"] == "high"
    assert alice.get(f"/api/campaigns/{high['id']}").get_json()["priority"] == "high"
    replaced = alice.put(f"/api/campaigns/{high['id']}", json={**BODY, "priority": "normal"})
    assert replaced.status_code == 200 and replaced.get_json()["priority"] == "normal"
    assert_error(alice.post("/api/campaigns", json={**BODY, "priority": "urgent"}), 422,
                 "priority")


def test_patch_priority_moves_waiting_messages_of_a_running_campaign_only(alice, bob, engine):
    campaign = make_campaign(alice)
    device = make_device(alice, engine)
    queued = _queue_for(engine, campaign, alice.user["id"], device)
    held = _queue_for(engine, campaign, alice.user["id"], device, "held")
    with engine.begin() as conn:
        conn.execute(text("UPDATE campaigns SET status = 'running' WHERE id = :c"),
                     {"c": campaign["id"]})
    url = f"/api/campaigns/{campaign['id']}/priority"
    assert_error(bob.patch(url, json={"priority": "high"}), 404)
    assert_error(alice.patch(url, json={"priority": "soon"}), 422, "priority")
    assert_error(alice.patch(url, json={}), 422, "priority")
    response = alice.patch(url, json={"priority": "high"})
    assert response.status_code == 200 and response.get_json()["priority"] == "high"
    for message in (queued, held):
        assert scalar(engine, "SELECT lane FROM message_queue WHERE id = :m", m=message) == 2
    assert alice.patch(url, json={"priority": "normal"}).get_json()["priority"] == "normal"
    assert scalar(engine, "SELECT lane FROM message_queue WHERE id = :m", m=queued) == 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE campaigns SET status = 'completed' WHERE id = :c"),
                     {"c": campaign["id"]})
    assert_error(alice.patch(url, json={"priority": "high"}), 409)


def test_a_one_off_message_takes_the_broadcast_lane_or_the_first_when_high(alice, engine):
    make_device(alice, engine)
    lead = make_lead(alice)
    normal = send(alice, lead_id=lead["id"], body="hi")
    urgent = send(alice, lead_id=lead["id"], body="now", priority="high")
    assert normal.status_code == urgent.status_code == 201, urgent.get_json()
    lanes = {m: scalar(engine, "SELECT lane FROM message_queue WHERE id = :m", m=m)
             for m in (normal.get_json()["id"], urgent.get_json()["id"])}
    assert list(lanes.values()) == [1, 2]
    assert_error(send(alice, lead_id=lead["id"], body="x", priority="asap"), 422, "priority")


def test_the_campaign_page_shows_and_toggles_the_priority(pages_app, engine):
    marketer = SignedIn(pages_app, engine, "priority")
    with engine.begin() as conn:
        campaign = conn.execute(text(
            "INSERT INTO campaigns (user_id, title, niche, body, status, scheduled_at) VALUES"
            " (:u, 'Sale', 'fitness', '{Hi|Hello}', 'running', now()) RETURNING id"),
            {"u": marketer.id}).scalar_one()
    html = marketer.client.get(f"/campaigns/{campaign}").get_data(as_text=True)
    assert "normal priority: takes turns with sequence messages" in html
    assert 'id="priority-toggle">High priority<' in html
    done = marketer.client.post(f"/campaigns/{campaign}/priority", data={"priority": "high"})
    assert done.status_code == 302
    assert scalar(engine, "SELECT priority FROM campaigns WHERE id = :c", c=campaign) == "high"
    html = marketer.client.get(f"/campaigns/{campaign}").get_data(as_text=True)
    assert "high priority: sent before sequence messages" in html
    bad = marketer.client.post(f"/campaigns/{campaign}/priority", data={"priority": "now"})
    assert bad.status_code == 302  # back to the page, with the reason flashed
    assert scalar(engine, "SELECT priority FROM campaigns WHERE id = :c", c=campaign) == "high"
    # the new-campaign form offers it
    assert 'name="priority"' in marketer.client.get("/campaigns").get_data(as_text=True)
