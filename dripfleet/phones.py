"""Phone numbers: normalise what people and spreadsheets write to E.164 with `phonenumbers`.

The one phone rule of the Python code: every caller (API, pages, CLI, CSV import, device host)
asks here. The schema's CHECK on leads.phone is SQL's own copy of is_e164.
"""

import math
import re
from collections.abc import Sequence

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumber, ValidationResult

__all__ = ["InvalidPhone", "is_e164", "normalize_phone", "try_normalize_phone",
           "try_normalize_phones"]

# Separators people put between digits; removed before parsing.
_SEPARATORS = re.compile(r"[\s.\-()/\u00a0\u200b\u2010-\u2015]+")
# "60123456789.0" (a spreadsheet wrote the number as a float): drop the ".0".
_FLOAT_SUFFIX = re.compile(r"^(\+?\d+)\.0+$")
# "6.01234568E+10": the spreadsheet already lost digits; refuse rather than guess.
_SCIENTIFIC = re.compile(r"^\+?\d+(?:\.\d+)?[eE][+-]?\d+$")
_DIGITS = re.compile(r"^\+?\d+$")
_MAX_RAW_CHARS = 64
# the stored form: leads.phone's CHECK constraint (the schema keeps its own copy in SQL)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")

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


def is_e164(phone: str) -> bool:
    """Whether phone is in the stored form ('+' and 7 to 15 digits), as leads.phone must be."""
    return _E164.fullmatch(phone) is not None


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


# --- many numbers, fast and exact ----------------------------------------------------------------
# normalize_phone costs ~60 µs a number (mostly phonenumbers.parse and its validity check), a
# minute per million rows of a CSV import. The common shapes are decided here straight from
# libphonenumber's metadata with the same rules (type patterns compiled once per region and
# length); whatever is not certain falls back to normalize_phone, and a test checks both agree.

_E164ISH = re.compile(r"^\+([1-9]\d{6,16})$")
_LOCAL = re.compile(r"^0([1-9]\d{5,15})$")
_BARE = re.compile(r"^[1-9]\d{7,16}$")
_TYPE_DESCS = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
               "uan", "voicemail", "fixed_line", "mobile")


class _RegionRules:
    """Validity and trunk-prefix rules of one region, as phonenumbers applies them."""

    def __init__(self, region: str) -> None:
        meta = PhoneMetadata.metadata_for_region(region)
        self.meta = meta
        self.country_code = meta.country_code
        general = meta.general_desc
        self.general = re.compile(general.national_number_pattern or "(?!)")
        self.general_lengths = set(general.possible_length or ())
        prefix = meta.national_prefix_for_parsing or None
        self.prefix = re.compile(prefix) if prefix else None
        self.descs = [getattr(meta, name) for name in _TYPE_DESCS]
        self._by_length: dict[int, re.Pattern[str]] = {}

    def _types(self, length: int) -> re.Pattern[str]:
        pattern = self._by_length.get(length)
        if pattern is None:
            parts = [f"(?:{d.national_number_pattern})" for d in self.descs
                     if d is not None and d.national_number_pattern
                     and (not d.possible_length or length in d.possible_length)]
            pattern = re.compile("|".join(parts) or "(?!)")
            self._by_length[length] = pattern
        return pattern

    def valid(self, national: str) -> bool:
        """phonenumbers.is_valid_number for this region's (sole) country code."""
        if self.general_lengths and len(national) not in self.general_lengths:
            return False
        if not self.general.fullmatch(national):
            return False
        return self._types(len(national)).fullmatch(national) is not None


_rules: dict[str, _RegionRules | None] = {}


def _rules_for_code(code: int) -> "_RegionRules | None":
    """Rules when the country code belongs to exactly one geographic region, else None."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    if not regions or len(regions) != 1 or regions[0] == "001":
        return None
    return _rules_for_region(regions[0])


def _rules_for_region(region: str) -> "_RegionRules | None":
    if region not in _rules:
        _rules[region] = (_RegionRules(region)
                          if PhoneMetadata.metadata_for_region(region) else None)
    return _rules[region]


def _fast_international(digits: str) -> str | None:
    """'+CCNSN' when phonenumbers would parse it as exactly that and it is valid; else None."""
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    rules = _rules_for_code(code)
    if rules is None or not national or national[0] == "0":
        return None  # shared codes (+1, +7, +44 …) and leading zeros take the exact slow path
    if rules.prefix is not None and rules.prefix.match(national):
        return None  # parse() might strip a trunk prefix here: let it decide
    return "+" + digits if rules.valid(national) else None


def _fast_local(national: str, region: str) -> str | None:
    """'0NSN' in a region whose trunk prefix is '0': a valid NSN is what parse() returns."""
    rules = _rules_for_region(region)
    if rules is None or rules.meta.national_prefix != "0" or \
            rules.meta.national_prefix_for_parsing not in (None, "0") or \
            _rules_for_code(rules.country_code) is None:
        return None
    if rules.valid(national):
        return f"+{rules.country_code}{national}"
    return None


def _fast_bare(digits: str, region: str) -> str | None:
    """'CCNSN' without '+': parse() strips the code when the whole is no national number."""
    rules = _rules_for_region(region)
    if rules is None or _rules_for_code(rules.country_code) is None:
        return None
    code = str(rules.country_code)
    if not digits.startswith(code) or rules.general.fullmatch(digits):
        return None
    national = digits[len(code):]
    if not national or national[0] == "0" or (rules.prefix is not None
                                              and rules.prefix.match(national)):
        return None
    return f"+{digits}" if rules.valid(national) else None


def _fast_phone(original: str, text: str, region: str) -> str | None:
    if len(original) > 64 or "." in original or "e" in original.lower():
        return None  # floats and scientific notation: the kernel's own rules
    match = _E164ISH.match(text)
    if match:
        return _fast_international(match.group(1))
    match = _LOCAL.match(text)
    if match:
        return _fast_local(match.group(1), region)
    if _BARE.match(text):
        return _fast_bare(text, region)
    return None


def try_normalize_phones(raws: Sequence[str], region: str) -> tuple[list[str | None],
                                                                   list[str | None]]:
    """(phones, reasons) of many numbers: what try_normalize_phone gives for each, faster."""
    phones: list[str | None] = []
    reasons: list[str | None] = []
    for original in raws:
        phone = _fast_phone(original, _SEPARATORS.sub("", original.strip()), region)
        reason = None
        if phone is None:
            phone, reason = try_normalize_phone(original, region)
        phones.append(phone)
        reasons.append(reason)
    return phones, reasons
