"""Niche tags: "Fitness, YOGA ,, fitness" becomes the sorted set ["fitness", "yoga"]."""

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["SEPARATORS", "merge_niches", "normalize_niche", "normalize_niches"]

# Characters that separate tags in one cell; a single tag can never contain them.
SEPARATORS = ",;|"
_SPLIT = re.compile(r"[,;|]")
_SPACES = re.compile(r"\s+")


def normalize_niches(value: str | Iterable[str] | None) -> list[str]:
    """Split on , ; | then trim, casefold, collapse spaces, drop empties, dedupe and sort."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    tags: set[str] = set()
    for item in items:
        if item is None:
            continue
        if not isinstance(item, str):
            raise TypeError(f"niche must be a string, not {type(item).__name__}")
        for part in _SPLIT.split(item):
            tag = _clean(part)
            if tag:
                tags.add(tag)
    return sorted(tags)


def normalize_niche(value: str) -> str:
    """Normalise one tag (as for a sequence's niche); ValueError if empty or a list of tags."""
    if not isinstance(value, str):
        raise TypeError(f"niche must be a string, not {type(value).__name__}")
    if _SPLIT.search(value):
        raise ValueError(f"a niche is one tag and cannot contain any of {SEPARATORS!r}")
    tag = _clean(value)
    if not tag:
        raise ValueError("niche is empty")
    return tag


def merge_niches(a: str | Iterable[str] | None, b: str | Iterable[str] | None) -> list[str]:
    """Return the normalised union of two niche sets."""
    return sorted(set(normalize_niches(a)) | set(normalize_niches(b)))


def _clean(tag: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", tag)).strip().casefold()
