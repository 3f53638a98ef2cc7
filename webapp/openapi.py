"""Finishing touches on the generated OpenAPI document so it tells clients the whole truth."""

import re
from typing import Any
from zoneinfo import available_timezones

from apiflask import APIFlask
from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields
from marshmallow.validate import Length

from dripfleet.local_time import validate_timezone
from webapp.auth import PUBLIC_ENDPOINTS
from webapp.schemas.common import MAX_ID, check_timezone, no_nul

_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
_METHODS = {"get", "post", "put", "patch", "delete"}
_PUBLIC_PATHS = {"/healthz", "/api/auth/register", "/api/auth/login"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _ERROR_REF}


# every operation reads the database (the health check answers its own body)
_UNAVAILABLE = {
    **_error("The database is unavailable (restart, failover): retry after Retry-After seconds"),
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
}


_TIME_ZONE_REF = {"$ref": "#/components/schemas/TimeZone"}
_NO_NUL = "^[^\\x00]*$"


def _field_rules(converter: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """What apispec leaves out of a field: the names of a Dict's keys, the IANA zone list."""
    extra: dict[str, Any] = {}
    if isinstance(field, fields.Dict):
        if field.key_field is not None:
            names = converter.field2property(field.key_field)
            extra["propertyNames"] = {k: v for k, v in names.items()
                                      if k in {"minLength", "maxLength", "pattern"}}
        # apispec writes a Dict's Length as maxLength, which says nothing about an object
        for rule in field.validators:
            if isinstance(rule, Length):
                if rule.min is not None:
                    extra["minProperties"] = rule.min
                if rule.max is not None:
                    extra["maxProperties"] = rule.max
    if check_timezone in field.validators:
        # a reference, not the enum itself: the ~600 names would be copied into every field
        extra["anyOf" if field.allow_none else "allOf"] = (
            [_TIME_ZONE_REF, {"type": "null"}] if field.allow_none else [_TIME_ZONE_REF])
    elif no_nul in field.validators:
        # PostgreSQL text holds no NUL; a field with a pattern of its own gets this one beside it
        if "pattern" in kwargs.get("ret", {}):
            extra["allOf"] = [{"pattern": _NO_NUL}]
        else:
            extra["pattern"] = _NO_NUL
    return extra


class FieldRules(BasePlugin):
    """Adds _field_rules to the marshmallow plugin's converter of each spec apiflask builds."""

    def init_spec(self, spec: APISpec) -> None:
        """Hook into the marshmallow plugin (initialised before this one) and add TimeZone."""
        for plugin in spec.plugins:
            if isinstance(plugin, MarshmallowPlugin):
                plugin.converter.add_attribute_function(_field_rules)
        spec.components.schema("TimeZone", {
            "type": "string", "enum": time_zones(), "description": "an IANA time zone name"})


def time_zones() -> list[str]:
    """Every name the API accepts as a time zone (the system's list, as the services filter it)."""
    names = []
    for name in sorted(available_timezones()):
        try:
            names.append(validate_timezone(name))
        except ValueError:
            continue  # `localtime`, `Factory` …: files of the zoneinfo folder, not zones
    return names


def _body_required(spec: dict[str, Any], operation: dict[str, Any]) -> bool:
    """Whether the API refuses the operation without a body: its schema has required fields
    (a body whose every field has a default may be left out, as POST /api/tokens shows)."""
    for media in operation["requestBody"].get("content", {}).values():
        schema = media.get("schema", {})
        ref = schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            schema = spec["components"]["schemas"].get(ref.rsplit("/", 1)[1], {})
        if schema.get("required"):
            return True
    return False


def _add_links(paths: dict[str, Any]) -> None:
    """Link each create (POST …/things → 201 with an id) to every operation on …/things/{id}:
    clients and tools (schemathesis' stateful phase) learn where the new id goes."""
    for path, item in paths.items():
        created = item.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        links: dict[str, Any] = {}
        for other, other_item in sorted(paths.items()):
            match = re.fullmatch(re.escape(path) + r"/\{(\w+)\}(/.*)?", other)
            if match is None:
                continue
            pointer = other.replace("~", "~0").replace("/", "~1")
            for method in sorted(set(other_item) & _METHODS):
                name = f"{method}{other[len(path):]}".replace("/", "_").replace("{", "")
                links[name.replace("}", "")] = {
                    "operationRef": f"#/paths/{pointer}/{method}",
                    "parameters": {match.group(1): "$response.body#/id"}}
        if links:
            created["links"] = links


def install(app: APIFlask) -> None:
    """Security schemes, 401 on protected operations, required bodies, 400 for bad JSON."""
    app.spec_plugins.append(FieldRules())
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
                if method not in _METHODS:
                    continue
                for parameter in operation.get("parameters", []):
                    # apiflask types an `id` converter as a string: say what it accepts (any
                    # other text is a 404, as the 404 below says)
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
                    operation["requestBody"]["required"] = _body_required(spec, operation)
                    responses.setdefault("400", _error("Malformed request body"))
                    responses.setdefault("413", _error("Request body too large"))
                    responses.setdefault("415", _error("Unsupported content type"))
                    responses.setdefault("422", _error("Validation error"))
                if operation.get("parameters"):
                    responses.setdefault("422", _error("Validation error"))
        _add_links(spec.get("paths", {}))
        return spec
