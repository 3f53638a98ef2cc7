"""What schemathesis found, pinned as plain tests: the document says what the API does."""

import re

import pytest

from dripfleet.niches import normalize_niche
from tests.webapp.conftest import assert_error
from webapp.openapi import time_zones
from webapp.schemas.common import NICHE_PATTERN


@pytest.fixture
def spec(client) -> dict:
    """The served OpenAPI document."""
    return client.get("/api/openapi.json").get_json()


def test_cancelling_a_draft_without_a_time_is_409_not_500(alice):
    draft = alice.post("/api/campaigns", json={"title": "t", "body": "hi"}).get_json()
    assert draft["status"] == "draft" and draft["scheduled_at"] is None
    error = assert_error(alice.post(f"/api/campaigns/{draft['id']}/cancel"), 409, "status")
    assert "delete it" in error["message"]
    assert alice.delete(f"/api/campaigns/{draft['id']}").status_code == 204


def test_a_whole_number_written_with_a_fraction_is_an_integer(alice):
    # JSON Schema's `integer` is any number with a zero fraction: 7.0 is one, 7.5 is not
    device = alice.post("/api/devices", json={"name": "phone"}).get_json()
    lead = alice.post("/api/leads", json={"phone": "+60123456789"}).get_json()
    moved = alice.patch(f"/api/leads/{lead['id']}",
                        json={"preferred_device_id": float(device["id"])})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["preferred_device_id"] == device["id"]
    for bad in (device["id"] + 0.5, str(device["id"]), True):
        assert_error(alice.patch(f"/api/leads/{lead['id']}", json={"preferred_device_id": bad}),
                     422, "preferred_device_id")


def test_a_body_is_required_exactly_when_the_api_refuses_none(alice, spec):
    assert spec["paths"]["/api/tokens"]["post"]["requestBody"]["required"] is False
    assert alice.post("/api/tokens").status_code == 201
    assert spec["paths"]["/api/leads"]["post"]["requestBody"]["required"] is True
    assert_error(alice.post("/api/leads"), 422, "phone")


def test_the_time_zone_list_is_what_the_api_accepts(alice, spec):
    names = spec["components"]["schemas"]["TimeZone"]["enum"]
    assert names == time_zones() and "Asia/Kuala_Lumpur" in names
    assert "localtime" not in names and "Factory" not in names
    field = spec["components"]["schemas"]["DeviceIn"]["properties"]["timezone"]
    assert {"$ref": "#/components/schemas/TimeZone"} in field["anyOf"]
    assert alice.post("/api/devices", json={"name": "a", "timezone": names[-1]}).status_code == 201
    assert_error(alice.post("/api/devices", json={"name": "b", "timezone": "localtime"}), 422,
                 "timezone")


@pytest.mark.parametrize("value", ["yoga", " Yoga  Fit ", "a,b", "a;b", "a|b", "", "   ",
                                   "\x1c", "\u3000", "\ufeff", "\u00a0x", "fit\u2028"])
def test_the_niche_pattern_is_the_niche_rule(alice, value):
    try:
        normalize_niche(value)
        valid = True
    except ValueError:
        valid = False
    assert bool(re.match(NICHE_PATTERN, value)) == valid
    response = alice.get("/api/leads", query_string={"niche": value})
    assert response.status_code == (200 if valid else 422)


def test_text_fields_document_that_nul_is_refused(alice, spec):
    assert re.fullmatch(r"\^\[\^\\x00\]\*\$",
                        spec["components"]["schemas"]["LeadIn"]["properties"]["name"]["pattern"])
    assert_error(alice.post("/api/leads", json={"phone": "+60123456789", "name": "a\x00b"}), 422,
                 "name")


def test_an_objects_size_limits_are_object_keywords(spec):
    attributes = spec["components"]["schemas"]["LeadIn"]["properties"]["attributes"]
    assert attributes["maxProperties"] == 100
    assert attributes["propertyNames"] == {"minLength": 1, "maxLength": 100,
                                           "pattern": "^[^\\x00]*$"}
