"""Password hashing (Argon2id, argon2-cffi) and API tokens (random, stored as SHA-256)."""

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
TOKEN_PREFIX = "dfk_"  # noqa: S105 - a public marker, not a secret
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """An Argon2id hash of password (salted; parameters stored in the hash)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when password matches password_hash; False for a missing or malformed hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 1024:
        return "must be at most 1024 characters"
    return None


def new_api_token() -> tuple[str, str, str]:
    """A new token: (the token, shown once; its SHA-256 hex to store; a short display prefix)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token), token[: len(TOKEN_PREFIX) + 6]


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: enough for 256-bit random secrets, and fast to look up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
