"""Phone normalisation to E.164."""

import pytest

from dripfleet.phones import InvalidPhone, normalize_phone, try_normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "0123456789",
        "+60 12-345 6789",
        "60123456789",
        "(012) 345-6789",
        "60123456789.0",
        "012.345.6789",
        " 012 345 6789 ",
        "0060123456789",
        60123456789,
        60123456789.0,
    ],
)
def test_malaysian_forms_agree(raw: object) -> None:
    assert normalize_phone(raw) == "+60123456789"  # type: ignore[arg-type]


def test_other_regions_and_countries() -> None:
    assert normalize_phone("+1 202-555-0123") == "+12025550123"
    assert normalize_phone("(202) 555-0123", region="US") == "+12025550123"
    assert normalize_phone("2025550123", region="us") == "+12025550123"
    # Singapore digits without "+": invalid as a Malaysian number, valid once "+" is added.
    assert normalize_phone("6591234567") == "+6591234567"
    assert normalize_phone("+65 9123 4567") == "+6591234567"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        (float("nan"), "empty"),
        ("abc", "not a number"),
        ("012-ABC-6789", "not a number"),
        ("+", "not a number"),
        (12.5, "not a number"),
        ("012345", "too short"),
        ("+60 12 345", "too short"),
        ("0123456789012345678", "too long"),
        ("+99912345678", "invalid country code"),
        ("6.01235E+10", "written in scientific notation (digits lost)"),
    ],
)
def test_invalid_numbers_give_a_reason(raw: object, reason: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone(raw)  # type: ignore[arg-type]
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)
    assert reason in str(caught.value)
    assert try_normalize_phone(raw) == (None, reason)  # type: ignore[arg-type]


def test_invalid_for_region_mentions_the_region() -> None:
    phone, reason = try_normalize_phone("0100000000")
    assert phone is None
    assert reason == "invalid number for region MY"


def test_unknown_region() -> None:
    assert try_normalize_phone("0123456789", "ZZ") == (None, "unknown region 'ZZ'")


def test_try_normalize_phone_success() -> None:
    assert try_normalize_phone("012-345 6789") == ("+60123456789", None)
