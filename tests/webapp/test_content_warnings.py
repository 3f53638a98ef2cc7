"""Content variety (issue 15, Build 5): a campaign or sequence step whose text is the same for
every lead, going to 50 leads or more, is saved (2xx) with a `same_message` warning naming the
field, and the page shows it; spintax or a variable, a small audience, or a finished campaign
give none."""

import itertools

import pytest
from sqlalchemy import Engine, text

from dripfleet.templates import varies
from tests.webapp.conftest import SignedIn
from tests.webapp.test_campaigns import BODY, make_campaign
from webapp.services.content import SAME_MESSAGE_AUDIENCE

_batches = itertools.count(1)


def _leads(engine: Engine, user_id: int, count: int, niche: str = "fitness") -> None:
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO leads (user_id, phone, name, niches)"
            " SELECT :u, '+6019' || lpad((:base + g)::text, 7, '0'), 'Lead ' || g, ARRAY[:n]"
            " FROM generate_series(1, :c) g"), {"u": user_id, "c": count, "n": niche,
                                               "base": next(_batches) * 1_000})


@pytest.mark.parametrize("template,expected", [
    ("Our sale starts today", False),
    ("{Hi|Hello}, our sale starts today", True),
    ("Hi {{ first_name }}", True),
    ("{% if name %}Hi {{ name }}{% endif %}", True),
    ("Save {50} percent", False),  # braces without a "|" are literal text, not spintax
])
def test_a_template_varies_with_spintax_or_a_variable(template, expected):
    assert varies(template) is expected


def test_a_campaign_with_one_text_for_many_leads_is_saved_with_a_warning(alice, engine):
    _leads(engine, alice.id, SAME_MESSAGE_AUDIENCE)
    campaign = make_campaign(alice, body="Our sale starts today")
    assert [(w["field"], w["code"]) for w in campaign["warnings"]] == [("body", "same_message")]
    assert "same message to many people" in campaign["warnings"][0]["message"]
    assert alice.get(f"/api/campaigns/{campaign['id']}").get_json()["warnings"] == \
        campaign["warnings"]
    varied = alice.put(f"/api/campaigns/{campaign['id']}",
                       json={**BODY, "body": "{Hi|Hello}, our sale starts today"})
    assert varied.status_code == 200 and varied.get_json()["warnings"] == []


def test_no_warning_for_a_small_audience_or_a_finished_campaign(alice, engine):
    _leads(engine, alice.id, SAME_MESSAGE_AUDIENCE - 1)
    small = make_campaign(alice, body="Our sale starts today")
    assert small["warnings"] == []
    _leads(engine, alice.id, 1, niche="fitness")
    assert len(alice.get(f"/api/campaigns/{small['id']}").get_json()["warnings"]) == 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE campaigns SET status = 'completed' WHERE id = :c"),
                     {"c": small["id"]})
    assert alice.get(f"/api/campaigns/{small['id']}").get_json()["warnings"] == []


def test_a_media_campaign_is_judged_by_its_caption(alice, engine):
    _leads(engine, alice.id, SAME_MESSAGE_AUDIENCE)
    same = make_campaign(alice, message_type="image", body="",
                         media="https://example.com/a.jpg", caption="New menu")
    assert [w["field"] for w in same["warnings"]] == ["caption"]
    varied = make_campaign(alice, message_type="image", body="",
                           media="https://example.com/a.jpg", caption="{New|Fresh} menu")
    assert varied["warnings"] == []


def test_a_sequence_step_with_one_text_for_the_niche_is_named_in_the_warnings(alice, engine):
    _leads(engine, alice.id, SAME_MESSAGE_AUDIENCE)
    response = alice.post("/api/sequences", json={
        "name": "Welcome", "niche": "fitness", "timezone": "UTC", "steps": [
            {"day": 1, "send_time": "09:00", "body": "Welcome to the club"},
            {"day": 2, "send_time": "09:00", "body": "Hi {{ first_name }}, day two"}]})
    assert response.status_code == 201, response.get_json()
    sequence = response.get_json()
    assert [(w["field"], w["code"]) for w in sequence["warnings"]] == [
        ("steps.0.body", "same_message")]
    other_niche = alice.post("/api/sequences", json={
        "name": "Other", "niche": "yoga", "timezone": "UTC",
        "steps": [{"day": 1, "send_time": "09:00", "body": "Welcome to the club"}]}).get_json()
    assert other_niche["warnings"] == []


def test_the_campaign_and_sequence_pages_show_the_warning(pages_app, engine):
    marketer = SignedIn(pages_app, engine, "variety")
    _leads(engine, marketer.id, SAME_MESSAGE_AUDIENCE)
    with engine.begin() as conn:
        campaign = conn.execute(text(
            "INSERT INTO campaigns (user_id, title, niche, body, status) VALUES"
            " (:u, 'Sale', 'fitness', 'Our sale starts today', 'draft') RETURNING id"),
            {"u": marketer.id}).scalar_one()
        sequence = conn.execute(text(
            "INSERT INTO sequences (user_id, name, niche) VALUES (:u, 'Welcome', 'fitness')"
            " RETURNING id"), {"u": marketer.id}).scalar_one()
        conn.execute(text(
            "INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, body)"
            " VALUES (:u, :s, 3, '09:00', 'Welcome to the club')"),
            {"u": marketer.id, "s": sequence})
    html = marketer.client.get(f"/campaigns/{campaign}").get_data(as_text=True)
    assert 'class="flash warning content-warning" data-field="body"' in html
    html = marketer.client.get(f"/sequences/{sequence}").get_data(as_text=True)
    assert 'data-field="steps.0.body">Day 3: the same text' in html
