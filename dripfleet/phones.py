"""Phone numbers: normalise what people and spreadsheets write to E.164 with `phonenumbers`."""

import math
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, ValidationResult

__all__ = ["InvalidPhone", "normalize_phone", "try_normalize_phone"]

# Separators people put between digits; removed before parsing.
_SEPARATORS = re.compile(r"[\s.\-()/\u00a0\u200b\u2010-\u2015]+")
# "60123456789.0" (a spreadsheet wrote the number as a float): drop the ".0".
_FLOAT_SUFFIX = re.compile(r"^(\+?\d+)\.0+$")
# "6.01234568E+10": the spreadsheet already lost digits; refuse rather than guess.
_SCIENTIFIC = re.compile(r"^\+?\d+(?:\.\d+)?[eE][+-]?\d+$")
_DIGITS = re.compile(r"^\+?\d+$")
_MAX_RAW_CHARS = 64

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid country code",
    NumberParseException.NOT_A_NUMBER: "not a number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


class InvalidPhone(ValueError):
    """A phone number that cannot be normalised; `reason` says why in a few words."""

    def __init__(self, raw: object, reason: str) -> None:
        super().__init__(f"invalid phone number {raw!r}: {reason}")
        self.raw = raw
        self.reason = reason


def normalize_phone(raw: str, region: str = "MY") -> str:
    """Return `raw` as an E.164 string ("+60123456789"), or raise InvalidPhone."""
    region = (region or "").strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidPhone(raw, f"unknown region {region!r}")
    text = _as_text(raw)
    if not text:
        raise InvalidPhone(raw, "empty")
    if len(text) > _MAX_RAW_CHARS:
        raise InvalidPhone(raw, "too long")
    if _SCIENTIFIC.match(text):
        raise InvalidPhone(raw, "written in scientific notation (digits lost)")
    text = _FLOAT_SUFFIX.sub(r"\1", text)
    text = _SEPARATORS.sub("", text)
    if text.startswith("+"):
        if not _DIGITS.match(text):
            raise InvalidPhone(raw, "not a number")
        number = _parse(raw, text, None)
        if phonenumbers.is_valid_number(number):
            return _e164(number)
        raise InvalidPhone(raw, _possible_reason(number) or "not a valid phone number")
    if not _DIGITS.match(text):
        raise InvalidPhone(raw, "not a number")
    number = _parse(raw, text, region)
    if phonenumbers.is_valid_number(number):
        return _e164(number)
    # "60123456789": digits starting with a country code but written without the "+".
    try:
        international = phonenumbers.parse("+" + text, None)
    except NumberParseException:
        international = None
    if international is not None and phonenumbers.is_valid_number(international):
        return _e164(international)
    raise InvalidPhone(raw, _possible_reason(number) or f"invalid number for region {region}")


def try_normalize_phone(raw: str, region: str = "MY") -> tuple[str | None, str | None]:
    """Return (E.164 phone, None) or (None, reason) instead of raising."""
    try:
        return normalize_phone(raw, region), None
    except InvalidPhone as exc:
        return None, exc.reason


def _as_text(raw: object) -> str:
    """Accept what CSV readers hand over: str, int, float (incl. NaN) or None."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return ""
    if isinstance(raw, float):
        if math.isnan(raw) or math.isinf(raw):
            return ""
        # A fractional float cannot be a phone number: keep the dot so it fails as "not a number".
        return str(int(raw)) if raw.is_integer() else f"{raw!r}x"
    if isinstance(raw, int):
        return str(raw)
    return str(raw).strip()


def _parse(raw: object, text: str, region: str | None) -> PhoneNumber:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhone(raw, _PARSE_REASONS.get(exc.error_type, "not a phone number")) from None


def _possible_reason(number: PhoneNumber) -> str | None:
    result = phonenumbers.is_possible_number_with_reason(number)
    if result in (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        return "too short"
    if result == ValidationResult.TOO_LONG:
        return "too long"
    if result == ValidationResult.INVALID_COUNTRY_CODE:
        return "invalid country code"
    return None


def _e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
