"""dripfleet.phones beyond one number: the stored form and many numbers at once."""

import pytest

from dripfleet.phones import is_e164, try_normalize_phone, try_normalize_phones


@pytest.mark.parametrize("phone, expected", [
    ("+60123456789", True),
    ("+1234567", True),
    ("+123456789012345", True),
    ("+1234567890123456", False),
    ("+0123456789", False),
    ("60123456789", False),
    ("+60123456789\n", False),
    ("+60 12 345 6789", False),
])
def test_is_e164_is_the_stored_form(phone: str, expected: bool) -> None:
    assert is_e164(phone) is expected


def test_many_numbers_get_the_answers_of_one() -> None:
    raws = ["012-345 6789", "+60 12 345 6789", "60123456789", "0123", "+1 415 555 2671",
            "6.01234568E+10", "abc", "+44 20 7946 0958", "0060123456789", " 011-2345 6789 "]
    phones, reasons = try_normalize_phones(raws, "MY")
    assert list(zip(phones, reasons, strict=True)) == [try_normalize_phone(raw, "MY")
                                                        for raw in raws]
