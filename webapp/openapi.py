"""Finishing touches on the generated OpenAPI document so it tells clients the whole truth."""

from typing import Any

from apiflask import APIFlask

from webapp.auth import PUBLIC_ENDPOINTS
from webapp.schemas.common import MAX_ID

_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
_PUBLIC_PATHS = {"/healthz", "/api/auth/register", "/api/auth/login"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _ERROR_REF}


# every operation reads the database (the health check answers its own body)
_UNAVAILABLE = {
    **_error("The database is unavailable (restart, failover): retry after Retry-After seconds"),
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
}


def install(app: APIFlask) -> None:
    """Security schemes, 401 on protected operations, required bodies, 400 for bad JSON."""
    app.config["SECURITY_SCHEMES"] = {
        "BearerAuth": {"type": "http", "scheme": "bearer",
                       "description": "an API token from POST /api/tokens"},
        "SessionCookie": {"type": "apiKey", "in": "cookie", "name": "session",
                          "description": "set by POST /api/auth/login"},
    }
    assert "health.healthz" in PUBLIC_ENDPOINTS

    @app.spec_processor
    def finish(spec: dict[str, Any]) -> dict[str, Any]:
        spec.setdefault("components", {}).setdefault("schemas", {})
        for path, item in spec.get("paths", {}).items():
            for method, operation in item.items():
                if method not in {"get", "post", "put", "patch", "delete"}:
                    continue
                for parameter in operation.get("parameters", []):
                    # apiflask does not read int(min=…, max=…) converters: say what they accept
                    if parameter.get("in") == "path" and parameter["name"].endswith("id"):
                        parameter["schema"] = {"type": "integer", "minimum": 1,
                                               "maximum": MAX_ID}
                responses = operation.setdefault("responses", {})
                if "{" in path:
                    # any id that is not the caller's: none, another user's, 0, negative, huge
                    responses["404"] = _error("No such resource of yours (also for 0, negative, "
                                              "non-numeric and ids beyond 2^63-1)")
                responses.setdefault("503", _UNAVAILABLE)
                if path not in _PUBLIC_PATHS:
                    operation["security"] = [{"BearerAuth": []}, {"SessionCookie": []}]
                    responses.setdefault("401", _error("Authentication required"))
                if "requestBody" in operation:
                    operation["requestBody"]["required"] = True
                    responses.setdefault("400", _error("Malformed request body"))
                    responses.setdefault("413", _error("Request body too large"))
                    responses.setdefault("415", _error("Unsupported content type"))
                    responses.setdefault("422", _error("Validation error"))
                if operation.get("parameters"):
                    responses.setdefault("422", _error("Validation error"))
        return spec
