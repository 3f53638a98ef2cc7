"""Niche tag normalisation."""

import pytest

from dripfleet.niches import merge_niches, normalize_niche, normalize_niches


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fitness, YOGA ,, fitness", ["fitness", "yoga"]),
        ("Fitness; yoga | Keto", ["fitness", "keto", "yoga"]),
        ("  Home   Workout ,home workout", ["home workout"]),
        ("Straße", ["strasse"]),
        ("", []),
        (" , ;| ", []),
        (None, []),
        (["Fitness", "yoga, Keto", "", None, "FITNESS"], ["fitness", "keto", "yoga"]),
        (("b", "a"), ["a", "b"]),
        ({"Yoga"}, ["yoga"]),
    ],
)
def test_normalize_niches(value: object, expected: list[str]) -> None:
    assert normalize_niches(value) == expected  # type: ignore[arg-type]


def test_normalize_niches_is_idempotent() -> None:
    once = normalize_niches("Keto Diet, fitness,YOGA")
    assert normalize_niches(once) == once == ["fitness", "keto diet", "yoga"]


def test_normalize_niches_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        normalize_niches([1, 2])  # type: ignore[list-item]


def test_normalize_niche() -> None:
    assert normalize_niche("  Home   WORKOUT ") == "home workout"
    for bad in ("", "   ", "fitness, yoga", "a;b", "a|b"):
        with pytest.raises(ValueError):
            normalize_niche(bad)


def test_merge_niches() -> None:
    assert merge_niches("Fitness, yoga", ["Keto", "YOGA"]) == ["fitness", "keto", "yoga"]
    assert merge_niches(None, "a") == ["a"]
    assert merge_niches([], None) == []
