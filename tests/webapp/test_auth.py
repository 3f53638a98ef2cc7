"""Auth: register, login / logout sessions, bearer tokens, the error shape, healthz, docs."""

import pytest

from tests.webapp.conftest import assert_error


def test_healthz_needs_no_auth(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_register_login_session_and_logout(client):
    response = client.post("/api/auth/register", json={
        "email": "New@Example.com", "password": "long enough pw", "name": "N",
        "timezone": "Asia/Kuala_Lumpur"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == "new@example.com"
    assert body["created_at"].endswith("+00:00")
    assert client.get("/api/auth/me").get_json()["email"] == "new@example.com"
    # a write with the session cookie carries the session's CSRF token (test_auth_hardening.py)
    csrf = {"X-CSRFToken": client.get("/api/auth/csrf").get_json()["csrf_token"]}
    assert client.post("/api/auth/logout", headers=csrf).status_code == 204
    assert_error(client.get("/api/auth/me"), 401)
    response = client.post("/api/auth/login", json={"email": "new@example.com",
                                                    "password": "long enough pw"})
    assert response.status_code == 200
    assert client.get("/api/auth/me").status_code == 200


def test_register_duplicate_email_is_409(client, alice):
    response = client.post("/api/auth/register", json={
        "email": alice.user["email"], "password": "long enough pw"})
    assert_error(response, 409, "email")


@pytest.mark.parametrize("body,field", [
    ({"password": "long enough pw"}, "email"),
    ({"email": "not-an-email", "password": "long enough pw"}, "email"),
    ({"email": "a@example.com", "password": "short"}, "password"),
    ({"email": "a@example.com", "password": "long enough pw", "timezone": "Mars/Base"},
     "timezone"),
])
def test_register_validation_names_the_field(client, body, field):
    error = assert_error(client.post("/api/auth/register", json=body), 422, field)
    assert error["code"] == "validation_error"


def test_wrong_password_is_401(client, alice):
    response = client.post("/api/auth/login", json={"email": alice.user["email"],
                                                    "password": "wrong password"})
    assert_error(response, 401)


def test_malformed_json_is_400(client):
    response = client.post("/api/auth/login", data="{not json",
                           content_type="application/json")
    assert_error(response, 400)


def test_tokens_created_listed_used_and_revoked(client, alice):
    response = alice.post("/api/tokens", json={"name": "ci"})
    assert response.status_code == 201
    created = response.get_json()
    assert created["token"].startswith("dfk_")
    listed = alice.get("/api/tokens").get_json()["items"]
    assert {t["name"] for t in listed} == {"test", "ci"}
    assert all("token" not in t for t in listed)
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    assert alice.delete(f"/api/tokens/{created['id']}").status_code == 204
    assert_error(client.get("/api/auth/me", headers=headers), 401)


def test_token_of_another_user_is_404(alice, bob):
    token_id = bob.post("/api/tokens", json={"name": "b"}).get_json()["id"]
    assert_error(alice.delete(f"/api/tokens/{token_id}"), 404)
    assert bob.delete(f"/api/tokens/{token_id}").status_code == 204


@pytest.mark.parametrize("header", ["Bearer nope", "Basic abc", "Bearer "])
def test_bad_credentials_are_401(client, header):
    assert_error(client.get("/api/tokens", headers={"Authorization": header}), 401)


def test_every_protected_endpoint_needs_auth(app, client):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule.startswith(("/api/docs",
                                                                      "/api/openapi")):
            continue
        if rule.endpoint in {"auth.register", "auth.login"}:
            continue
        path = _fill(rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(path, method=method)
            assert_error(response, 401)


def _fill(rule) -> str:
    path = rule.rule
    while "<" in path:
        start = path.index("<")
        end = path.index(">", start)
        path = path[:start] + "1" + path[end + 1:]
    return path


def test_unknown_path_and_method_use_the_error_shape(alice):
    assert_error(alice.get("/api/nothing-here"), 404)
    response = alice.put("/api/tokens")
    error = assert_error(response, 405)
    assert error["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_openapi_and_offline_docs(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/sequences" in spec["paths"] or "/api/tokens" in spec["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.get_data(as_text=True)
    assert "swagger-ui" in html and "//cdn" not in html and "unpkg" not in html
    with client.get("/api/docs/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200
