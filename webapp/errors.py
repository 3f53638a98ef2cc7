"""One error shape for every failure: {"error": {"code", "message", "fields"}}."""

import logging
from typing import Any

import psycopg
from apiflask import APIFlask, HTTPError
from apiflask.fields import Dict, Nested, String
from apiflask.schemas import Schema
from flask import current_app, render_template, request
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DataError
from werkzeug.exceptions import NotFound

from webapp.services.errors import ServiceError

log = logging.getLogger(__name__)

# how long a client should wait before trying again while PostgreSQL is away (a restart or a
# managed failover takes seconds to a minute; the engine reconnects on the next request)
RETRY_AFTER_SECONDS = 5
# SQLSTATEs of a server that is there but will not serve: admin / crash shutdown, cannot connect
# now (starting up, recovering), too many connections
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})

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
    429: "too_many_requests",
    500: "internal_error",
    503: "database_unavailable",
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


def database_unavailable(error: BaseException) -> bool:
    """Whether error says PostgreSQL cannot be reached (down, restarting, failing over, full).

    A statement's own failure (a cancelled query, a deadlock, a constraint) is not: it stays a
    500 or its own handler's answer.
    """
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    if not isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    # libpq's own connection failures (refused, reset, closed) carry no SQLSTATE
    state = getattr(error, "sqlstate", None)
    return state is None or state.startswith("08") or state in _UNAVAILABLE_SQLSTATES


def wants_page() -> bool:
    """Whether this request is for an HTML page (not /api, not a health check) of this app."""
    path = request.path
    if path == "/api" or path.startswith(("/api/", "/healthz")):
        return False
    return any(name.startswith("pages_") for name in current_app.blueprints)


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

    @app.errorhandler(404)
    def not_found(error: NotFound):
        # a routing miss or an id no row can have (webapp.converters): the pages' own 404 page
        # for a page address, the JSON error everywhere else
        if wants_page():
            return render_template("errors/404.html"), 404
        message = error.description if error.description != NotFound.description else error.name
        return app.error_callback(HTTPError(404, message))

    def unavailable(error: Exception):
        if not database_unavailable(error):
            raise error  # a bug, not an outage: Flask logs it and answers the 500 below
        log.warning("database unavailable: %s", str(error).splitlines()[0] if str(error) else
                    type(error).__name__)
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if wants_page():
            return render_template("errors/503.html"), 503, retry
        return app.error_callback(HTTPError(
            503, "the database is unavailable; try again shortly", headers=retry,
            extra_data={"code": "database_unavailable", "fields": {}}))

    for kind in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
                 sa_exc.DBAPIError, psycopg.OperationalError, psycopg.InterfaceError):
        # psycopg's own classes: the CSV import's COPY runs on the driver connection itself
        app.register_error_handler(kind, unavailable)

    @app.errorhandler(500)
    def internal(error: Exception):
        return error_body(500, "internal server error"), 500
