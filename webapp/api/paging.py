"""Keyset page bodies shared by the list endpoints."""


def page(items: list[dict], limit: int, key: str = "next_after") -> dict:
    """A page body: items and the cursor of the next page (None at the end)."""
    return {"items": items, key: items[-1]["id"] if len(items) == limit else None}
