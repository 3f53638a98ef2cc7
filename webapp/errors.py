"""One error shape for every failure: {"error": {"code", "message", "fields"}}."""

import logging
from typing import Any

from apiflask import APIFlask, HTTPError
from apiflask.fields import Dict, Nested, String
from apiflask.schemas import Schema
from sqlalchemy.exc import DataError

from webapp.services.errors import ServiceError

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
}


class ErrorBody(Schema):
    """What an error carries."""

    code = String(required=True, metadata={"example": "validation_error"})
    message = String(required=True)
    fields = Dict(keys=String(), values=String(), required=True)


class ErrorResponse(Schema):
    """The error envelope."""

    error = Nested(ErrorBody, required=True)


def flatten_fields(detail: Any, prefix: str = "") -> dict[str, str]:
    """Turn marshmallow's nested messages into {"steps.0.body": "reason; reason"}."""
    if isinstance(detail, dict):
        out: dict[str, str] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten_fields(value, name))
        return out
    if isinstance(detail, list | tuple):
        if all(isinstance(item, str) for item in detail):
            return {prefix or "_": "; ".join(detail)}
        out = {}
        for index, item in enumerate(detail):
            out.update(flatten_fields(item, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "_": str(detail)}


def _validation_fields(detail: Any) -> dict[str, str]:
    # apiflask nests by location first ({"json": {...}}, {"query": {...}}): drop that level
    if isinstance(detail, dict):
        merged: dict[str, str] = {}
        for location_errors in detail.values():
            merged.update(flatten_fields(location_errors))
        return merged
    return {}


def error_body(status: int, message: str, fields: dict[str, str] | None = None,
               code: str | None = None) -> dict[str, Any]:
    """The JSON body for an error."""
    return {"error": {"code": code or CODES.get(status, "error"), "message": message,
                      "fields": fields or {}}}


def install(app: APIFlask) -> None:
    """Register the error processor and the handlers for service and database errors."""
    app.config["VALIDATION_ERROR_SCHEMA"] = ErrorResponse
    app.config["HTTP_ERROR_SCHEMA"] = ErrorResponse

    @app.error_processor
    def shape(error: HTTPError):
        extra = error.extra_data or {}
        fields = extra.get("fields")
        if fields is None:
            fields = _validation_fields(error.detail) if error.status_code == 422 else {}
        message = error.message
        if error.status_code == 422 and fields and message == "Validation error":
            name, reason = next(iter(fields.items()))
            message = f"{name}: {reason}"
        body = error_body(error.status_code, message, fields, extra.get("code"))
        return body, error.status_code, error.headers

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        return app.error_callback(
            HTTPError(error.status, error.message,
                      extra_data={"code": error.code, "fields": error.fields})
        )

    @app.errorhandler(DataError)
    def data_error(error: DataError):
        # a value PostgreSQL refuses (NUL byte, out-of-range number): the client's input, not us
        log.info("refused input: %s", error.orig)
        return app.error_callback(
            HTTPError(422, "a value is not acceptable to the database",
                      extra_data={"fields": {"_": str(error.orig).splitlines()[0]}})
        )

    @app.errorhandler(500)
    def internal(error: Exception):
        return error_body(500, "internal server error"), 500
