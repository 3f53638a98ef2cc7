"""Ids in paths: any id that is not the caller's is a 404, on every {id} route of API and pages.

The routes are read from the app's own URL map, so a route added later is covered without
editing this file.
"""

import re

import pytest

from tests.webapp.conftest import assert_error
from webapp import create_app
from webapp.converters import IdConverter

# none of these can be anyone's row: zero, negative, bigint's maximum + 1, far beyond it (would
# overflow PostgreSQL's bigint), beyond int()'s 4,300-digit limit, and no number at all
BAD_IDS = ["0", "-1", "-9223372036854775809", "9223372036854775808", "1" + "0" * 40,
           "9" * 5000, "abc", "1.5", "%D9%A3"]  # the last: an Arabic-Indic digit three
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def full_app(database_url: str):
    """The app with its pages (the module's `app` has the API only)."""
    return create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                       "WTF_CSRF_ENABLED": False})


def _id_routes(app, api: bool) -> list[tuple[str, str]]:
    """(method, rule) of every route with an id in its path, API or pages."""
    found = []
    for rule in app.url_map.iter_rules():
        if not any(isinstance(c, IdConverter) for c in rule._converters.values()):
            continue
        if rule.rule.startswith("/api/") != api:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule))
    return found


def _path(rule: str, bad: str, good: int) -> list[str]:
    """The rule's path with one id replaced by `bad` at a time (the others valid)."""
    names = re.findall(r"<id:(\w+)>", rule)
    paths = []
    for target in names:
        path = rule
        for name in names:
            path = path.replace(f"<id:{name}>", bad if name == target else str(good))
        path = re.sub(r"<any\(([^,)]+)[^>]*>", lambda m: m.group(1).strip(), path)
        paths.append(re.sub(r"<int:\w+>", "1", path))
    return paths


def test_every_id_route_uses_the_id_converter(full_app):
    plain = [rule.rule for rule in full_app.url_map.iter_rules()
             if re.search(r"<(int|string|path)[^>]*:\w*_id>", rule.rule)]
    assert plain == []
    assert len(_id_routes(full_app, api=True)) >= 25
    assert len(_id_routes(full_app, api=False)) >= 10


def test_api_ids_that_no_row_can_have_are_404_json(full_app, make_account):
    alice = make_account()
    failures = []
    for method, rule in _id_routes(full_app, api=True):
        for bad in BAD_IDS:
            for path in _path(rule, bad, 1):
                response = full_app.test_client().open(path, method=method,
                                                       headers=alice.headers, json={})
                body = response.get_json(silent=True) or {}
                if response.status_code != 404 or body.get("error", {}).get("code") != "not_found":
                    failures.append(f"{method} {path[:60]} -> {response.status_code}")
    assert failures == []


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/api/campaigns/0"), ("PUT", "/api/sequences/0"), ("PATCH", "/api/leads/0"),
    ("GET", "/api/sequences/0/contacts"), ("DELETE", "/api/devices/-7"),
])
def test_the_405s_of_the_review_are_404s(client, alice, method, path):
    error = assert_error(alice._call(method, path, json={}), 404)
    assert error["code"] == "not_found"


def test_largest_bigint_reaches_the_database_and_is_not_found(client, alice):
    # in range: the query runs (no overflow) and finds nothing of alice's
    for path in ("/api/campaigns/9223372036854775807", "/api/leads/9223372036854775807"):
        assert_error(alice.get(path), 404)
        assert_error(alice.delete(path), 404)


def test_another_users_id_is_404_like_a_missing_one(client, alice, bob):
    lead = alice.post("/api/leads", json={"phone": "+60123456789"}).get_json()
    for call in (bob.get, bob.delete):
        assert_error(call(f"/api/leads/{lead['id']}"), 404)
    assert alice.get(f"/api/leads/{lead['id']}").status_code == 200


def test_pages_show_the_404_page_for_ids_no_row_can_have(full_app, make_account):
    failures = []
    for method, rule in _id_routes(full_app, api=False):
        for bad in BAD_IDS:
            for path in _path(rule, bad, 1):
                response = full_app.test_client().open(path, method=method)
                html = response.get_data(as_text=True)
                if response.status_code != 404 or "Not found" not in html:
                    failures.append(f"{method} {path[:60]} -> {response.status_code}")
    assert failures == []


def test_every_id_operation_documents_404(client):
    spec = client.get("/api/openapi.json").get_json()
    operations = [(path, method, op) for path, item in spec["paths"].items() if "{" in path
                  for method, op in item.items() if method in {"get", "put", "post", "patch",
                                                               "delete"}]
    assert len(operations) >= 25
    for path, method, op in operations:
        assert "404" in op["responses"], (method, path)
        assert "405" not in op["responses"], (method, path)
        for parameter in op["parameters"]:
            if parameter["in"] == "path":
                assert parameter["schema"]["type"] == "integer", (method, path)
