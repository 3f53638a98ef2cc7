"""Auth and token schemas."""

from apiflask import Schema
from apiflask.fields import Email, Integer, List, Nested, String
from apiflask.validators import Length

from webapp.schemas.common import Instant, Text, Timezone, no_nul


class Register(Schema):
    """A new account."""

    email = Email(required=True, validate=[Length(max=254), no_nul])
    password = String(required=True, validate=[Length(min=8, max=1024), no_nul])
    name = Text(200, load_default="")
    timezone = Timezone(load_default="UTC")


class Login(Schema):
    """Email and password."""

    email = String(required=True, validate=[Length(min=1, max=254), no_nul])
    password = String(required=True, validate=[Length(min=1, max=1024), no_nul])


class ChangePassword(Schema):
    """The current password and the new one."""

    current_password = String(required=True, validate=[Length(min=1, max=1024), no_nul])
    new_password = String(required=True, validate=[Length(min=8, max=1024), no_nul])


class CsrfToken(Schema):
    """The session's CSRF token, for the X-CSRFToken header."""

    csrf_token = String(required=True)


class User(Schema):
    """The signed-in user."""

    id = Integer(required=True)
    email = String(required=True)
    name = String(required=True)
    timezone = String(required=True)
    role = String(required=True)
    created_at = Instant(required=True)


class TokenIn(Schema):
    """A token to create."""

    name = Text(100, load_default="")


class Token(Schema):
    """A stored token (the secret itself is never shown again)."""

    id = Integer(required=True)
    name = String(required=True)
    prefix = String(required=True)
    created_at = Instant(required=True)
    last_used_at = Instant(allow_none=True)


class NewToken(Token):
    """A token just created: `token` is shown this once."""

    token = String(required=True)


class TokenList(Schema):
    """The user's tokens."""

    items = List(Nested(Token), required=True)
