"""Campaigns API (issue 17): the audience preview before scheduling, duplicate, and the list's
audience size; every call scoped by user."""

import itertools

import pytest
from sqlalchemy import Engine, text

from tests.conftest import scalar
from tests.webapp.conftest import assert_error
from tests.webapp.test_campaigns import BODY, make_campaign

_phones = itertools.count(1)


def add_lead(engine: Engine, user_id: int, name: str, niches: str = "{fitness}",
             status: str = "prospect", opted_out: bool = False) -> int:
    """A lead written with SQL (tests only)."""
    with engine.begin() as conn:
        return conn.execute(text(
            "INSERT INTO leads (user_id, phone, name, niches, target_status, opted_out_at)"
            " VALUES (:u, :p, :n, CAST(:ni AS text[]), :s,"
            " CASE WHEN :o THEN now() END) RETURNING id"),
            {"u": user_id, "p": f"+6017{next(_phones):07d}", "n": name, "ni": niches,
             "s": status, "o": opted_out}).scalar_one()


def test_audience_preview_counts_the_matching_leads_of_the_user_only(alice, bob, engine):
    first = add_lead(engine, alice.user["id"], "Aisha")
    add_lead(engine, alice.user["id"], "Ben", status="customer")
    add_lead(engine, alice.user["id"], "Chandra", niches="{yoga}")
    add_lead(engine, alice.user["id"], "Dina", opted_out=True)
    add_lead(engine, bob.user["id"], "Bob's lead")
    body = alice.get("/api/campaigns/audience-preview?niche=Fitness&target_status=all").get_json()
    assert body["audience_size"] == 2
    assert [lead["name"] for lead in body["sample"]] == ["Aisha", "Ben"]
    assert set(body["sample"][0]) == {"id", "name", "phone"} and body["sample"][0]["id"] == first
    prospects = alice.get("/api/campaigns/audience-preview?niche=fitness&target_status=prospect")
    assert prospects.get_json()["audience_size"] == 1
    # an empty niche (the form's empty field) is every lead
    assert alice.get("/api/campaigns/audience-preview?niche=&target_status=all"
                     ).get_json()["audience_size"] == 3
    theirs = bob.get("/api/campaigns/audience-preview").get_json()
    assert theirs["audience_size"] == 1 and [lead["name"] for lead in theirs["sample"]] == [
        "Bob's lead"]


@pytest.mark.parametrize("query,field", [
    ("target_status=everyone", "target_status"),
    ("niche=a|b", "niche"),
])
def test_audience_preview_bad_input_names_the_field(alice, query, field):
    assert_error(alice.get(f"/api/campaigns/audience-preview?{query}"), 422, field)


def test_duplicate_makes_a_draft_with_the_same_content_and_audience(alice, bob, engine):
    campaign = make_campaign(alice, target_status="customer", caption=None)
    alice.post(f"/api/campaigns/{campaign['id']}/schedule", json={})
    response = alice.post(f"/api/campaigns/{campaign['id']}/duplicate")
    assert response.status_code == 201, response.get_json()
    copy = response.get_json()
    assert copy["id"] != campaign["id"] and copy["status"] == "draft"
    assert copy["title"] == "Promo (copy)" and copy["scheduled_at"] is None
    for key in ("niche", "target_status", "body", "message_type", "timezone", "media"):
        assert copy[key] == campaign[key], key
    assert_error(bob.post(f"/api/campaigns/{campaign['id']}/duplicate"), 404)
    assert scalar(engine, "SELECT count(*) FROM campaigns WHERE user_id = :u",
                  u=bob.user["id"]) == 0


def test_list_gives_the_audience_size_of_a_draft(alice, engine):
    add_lead(engine, alice.user["id"], "Aisha")
    make_campaign(alice)
    assert [c["audience_size"] for c in alice.get("/api/campaigns").get_json()["items"]] == [1]


def test_body_is_unchanged_by_a_bad_update(alice):
    campaign = make_campaign(alice)
    assert_error(alice.put(f"/api/campaigns/{campaign['id']}", json={**BODY, "body": ""}), 422,
                 "body")
    assert alice.get(f"/api/campaigns/{campaign['id']}").get_json()["body"] == BODY["body"]
