"""Errors a service raises for the caller to show: not found, invalid input, conflict, refused."""

from typing import Any


class ServiceError(Exception):
    """An error with an HTTP-like status, a short code, a message and per-field reasons."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    def as_dict(self) -> dict[str, Any]:
        """The body of the error, as the API returns it."""
        return {"code": self.code, "message": self.message, "fields": self.fields}


class NotFound(ServiceError):
    """The resource does not exist or belongs to another user (never tell which)."""

    status = 404
    code = "not_found"


class Invalid(ServiceError):
    """Input that is well-formed but breaks a rule; `fields` names each offending field."""

    status = 422
    code = "validation_error"

    def __init__(self, fields: dict[str, str], message: str | None = None) -> None:
        first = next(iter(fields.items()), ("", ""))
        super().__init__(message or f"{first[0]}: {first[1]}", fields)


class Conflict(ServiceError):
    """The request clashes with the current state (duplicate phone, wrong status …)."""

    status = 409
    code = "conflict"


class BadFile(ServiceError):
    """An uploaded file that cannot be used at all; nothing was written."""

    status = 400
    code = "bad_file"


class UnsupportedFile(ServiceError):
    """An uploaded file of a type that is not accepted."""

    status = 415
    code = "unsupported_media_type"


class TooLarge(ServiceError):
    """An upload above the configured limit."""

    status = 413
    code = "too_large"


def not_found(what: str, ident: object) -> NotFound:
    """The standard 404 for one resource."""
    return NotFound(f"{what} {ident} not found")
