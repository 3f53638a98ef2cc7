"""Leads CRUD, filters, pagination and validation."""

import pytest
from sqlalchemy import text

from tests.conftest import scalar
from tests.webapp.conftest import assert_error


def make_lead(account, **body) -> dict:
    response = account.post("/api/leads", json={"phone": "+60123456789", **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_normalises_phone_and_niches(alice):
    lead = make_lead(alice, phone="012-345 6789", niches=["Fitness, YOGA", "yoga"],
                     attributes={"City": "KL"})
    assert lead["phone"] == "+60123456789"
    assert lead["niches"] == ["fitness", "yoga"]
    assert lead["opted_out"] is False and lead["target_status"] == "prospect"
    assert lead["created_at"].endswith("+00:00")
    assert alice.get(f"/api/leads/{lead['id']}").get_json() == lead


def test_region_override(alice):
    lead = make_lead(alice, phone="(202) 555-0142", region="US")
    assert lead["phone"] == "+12025550142"


def test_duplicate_phone_is_409(alice):
    make_lead(alice)
    assert_error(alice.post("/api/leads", json={"phone": "0123456789"}), 409, "phone")


@pytest.mark.parametrize("body,field", [
    ({"phone": "not a phone"}, "phone"),
    ({}, "phone"),
    ({"phone": "+60123456789", "target_status": "vip"}, "target_status"),
    ({"phone": "+60123456789", "preferred_device_id": 12345}, "preferred_device_id"),
    ({"phone": "+60123456789", "niches": "fitness"}, "niches"),
    ({"phone": "+60123456789", "region": "XYZ"}, "region"),
    ({"phone": "+60123456789", "attributes": {"a": 1}}, "attributes.a.value"),
])
def test_create_validation_names_the_field(alice, body, field):
    error = assert_error(alice.post("/api/leads", json=body), 422)
    assert any(name.startswith(field) or field.startswith(name) for name in error["fields"]), \
        error


def test_update_and_opt_out_cancels_waiting_messages(alice, engine):
    lead = make_lead(alice, name="Ann")
    with engine.begin() as conn:
        device = conn.execute(text("INSERT INTO devices (user_id, name) VALUES (:u, 'd') "
                                   "RETURNING id"), {"u": alice.id}).scalar_one()
        conn.execute(text(
            "INSERT INTO message_queue (user_id, device_id, lead_id, phone, body, source, "
            "dedupe_key) VALUES (:u, :d, :l, '+60123456789', 'x', 'api', 'api:1')"),
            {"u": alice.id, "d": device, "l": lead["id"]})
    response = alice.patch(f"/api/leads/{lead['id']}",
                           json={"name": "Ann B", "opted_out": True,
                                 "preferred_device_id": device})
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["name"] == "Ann B" and body["opted_out"] and body["opted_out_at"]
    assert body["preferred_device_id"] == device
    assert scalar(engine, "SELECT status FROM message_queue WHERE user_id = :u",
                  u=alice.id) == "cancelled"
    assert_error(alice.patch(f"/api/leads/{lead['id']}", json={"phone": "x"}), 422, "phone")


def test_update_to_taken_phone_is_409(alice):
    make_lead(alice)
    other = make_lead(alice, phone="+60123456788")
    assert_error(alice.patch(f"/api/leads/{other['id']}", json={"phone": "+60123456789"}),
                 409, "phone")


def test_delete(alice):
    lead = make_lead(alice)
    assert alice.delete(f"/api/leads/{lead['id']}").status_code == 204
    assert_error(alice.get(f"/api/leads/{lead['id']}"), 404)
    assert_error(alice.delete(f"/api/leads/{lead['id']}"), 404)


def test_list_filters_and_pages(alice):
    make_lead(alice, phone="+60123456701", name="Ann Lee", niches=["fitness"])
    make_lead(alice, phone="+60123456702", name="Bob", niches=["yoga"],
              target_status="customer")
    make_lead(alice, phone="+60123456703", name="Cat 50%", niches=["fitness", "yoga"],
              opted_out=True)

    def phones(**query):
        body = alice.get("/api/leads", query_string=query).get_json()
        return [lead["phone"][-2:] for lead in body["items"]]

    assert phones() == ["01", "02", "03"]
    assert phones(niche="Fitness") == ["01", "03"]
    assert phones(target_status="customer") == ["02"]
    assert phones(opted_out="true") == ["03"]
    assert phones(opted_out="false") == ["01", "02"]
    assert phones(search="lee") == ["01"]
    assert phones(search="456702") == ["02"]
    assert phones(search="50%") == ["03"]
    assert phones(search="%") == ["03"]
    first = alice.get("/api/leads", query_string={"limit": 2}).get_json()
    assert len(first["items"]) == 2 and first["next_after"] == first["items"][1]["id"]
    rest = alice.get("/api/leads", query_string={"limit": 2, "after": first["next_after"]})
    assert [lead["phone"][-2:] for lead in rest.get_json()["items"]] == ["03"]
    assert_error(alice.get("/api/leads", query_string={"limit": 0}), 422, "limit")
    assert_error(alice.get("/api/leads", query_string={"niche": "a,b"}), 422, "niche")


LEAD_CALLS = [
    ("GET", "/api/leads/{id}", None),
    ("PATCH", "/api/leads/{id}", {"name": "x"}),
    ("DELETE", "/api/leads/{id}", None),
]


@pytest.mark.parametrize("method,path,body", LEAD_CALLS)
def test_another_users_lead_is_404(alice, bob, method, path, body):
    lead = make_lead(bob, name="Bob's")
    response = alice.client.open(path.format(id=lead["id"]), method=method, json=body,
                                 headers=alice.headers)
    assert_error(response, 404)
    assert bob.get(f"/api/leads/{lead['id']}").get_json()["name"] == "Bob's"


def test_lists_are_scoped_by_user(alice, bob):
    make_lead(bob)
    assert alice.get("/api/leads").get_json()["items"] == []
    assert alice.get("/api/leads/export").get_data(as_text=True).count("\n") == 1


@pytest.mark.parametrize("attributes,field", [
    ({"a": "x" * 1_000_000}, "attributes"),  # the measured template attack's attribute
    ({"a": "x" * 2_001}, "attributes"),
    ({"k" * 101: "x"}, "attributes"),
    ({f"k{n}": "x" for n in range(101)}, "attributes"),
])
def test_attribute_caps_are_422_naming_the_field_on_create_and_update(alice, attributes, field):
    error = assert_error(alice.post("/api/leads", json={"phone": "+60123456789",
                                                        "attributes": attributes}), 422)
    assert any(name.startswith(field) for name in error["fields"]), error
    lead = make_lead(alice, attributes={"a": "x" * 2_000})
    error = assert_error(alice.patch(f"/api/leads/{lead['id']}", json={"attributes": attributes}),
                         422)
    assert any(name.startswith(field) for name in error["fields"]), error
    assert alice.get(f"/api/leads/{lead['id']}").get_json()["attributes"] == {"a": "x" * 2_000}


def test_a_name_of_1mb_is_422(alice):
    assert_error(alice.post("/api/leads", json={"phone": "+60123456789", "name": "x" * 1_000_000}),
                 422, "name")
