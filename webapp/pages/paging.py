"""Keyset pages of the pages' long tables (leads, a sequence's contacts and logs, a campaign's
recipients): the cursors and the position in the URL beside the filters, "1–50 of 1,234" above
the rows, Previous / Next below.

A list's query takes `after` (the rows that follow this key in the list's order) or `before`
(the rows just ahead of it) and returns its rows in the list's order, with the number of rows
that match the filters counted up to COUNT_CAP + 1 (dripfleet/stores/pages.py).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import request, url_for

# Totals are exact up to here and "more than 10,000" beyond: counting stops at the cap, so a
# page of a user with a million leads reads at most this many index entries for its total
# (an exact count of 1M leads read ~25 ms unfiltered and ~90 ms with a niche filter, on each
# page view; capped: under 1 ms and ~5 ms).
COUNT_CAP = 10_000
_MAX_KEY = 2**63 - 1


@dataclass
class Window:
    """What the URL asks of one list: a cursor (at most one of after / before) and the position
    of the page's first row (1-based), carried in the URL for the "51–100" label."""

    after: int | None = None
    before: int | None = None
    start: int | None = 1


@dataclass
class Page:
    """One page of a list: its rows, their position, the total and the links around it."""

    rows: list[dict[str, Any]]
    start: int | None
    total: int
    capped: bool
    prev_url: str | None = None
    next_url: str | None = None
    label: str = field(init=False)

    def __post_init__(self) -> None:
        self.label = page_label(self.start, len(self.rows), self.total, self.capped)


def page_label(start: int | None, shown: int, total: int, capped: bool) -> str:
    """"1–50 of 1,234", "51–60 of more than 10,000", "61 of 61", "0 of 0"; without a known
    start (a link from elsewhere with a cursor only): "50 shown of 1,234"."""
    of = f"more than {COUNT_CAP:,}" if capped else f"{total:,}"
    if not shown:
        return f"0 of {of}"
    if start is None:
        return f"{shown:,} shown of {of}"
    if shown == 1:
        return f"{start:,} of {of}"
    return f"{start:,}–{start + shown - 1:,} of {of}"


def _key(value: str | None) -> int | None:
    # a cursor is a row id; anything else (edited by hand) is no cursor: the first page
    if value and value.isdigit() and int(value) <= _MAX_KEY:
        return int(value)
    return None


def window(prefix: str = "") -> Window:
    """The list's cursor and position from the query string (`<prefix>after`, `<prefix>before`,
    `<prefix>start`); a page with two lists gives each its prefix."""
    after = _key(request.args.get(f"{prefix}after"))
    before = None if after is not None else _key(request.args.get(f"{prefix}before"))
    start = _key(request.args.get(f"{prefix}start"))
    if after is None and before is None:
        return Window(start=1)
    return Window(after=after, before=before, start=start if start and start >= 1 else None)


Fetch = Callable[[int | None, int | None, int], tuple[list[dict[str, Any]], int]]


def paginate(fetch: Fetch, win: Window, limit: int, prefix: str = "", anchor: str = "",
             key: str = "id", endpoint: str | None = None) -> Page:
    """One page through `fetch(after, before, limit) -> (rows in list order, capped total)`.
    One row more than the page is asked for to learn whether another page follows. The links
    go to `endpoint` (default: this request's, which a page shown after a POST cannot be)."""
    rows, counted = fetch(win.after, win.before, limit + 1)
    start = win.start
    if win.before is not None:
        more_before = len(rows) > limit
        rows = rows[-limit:]
        if not more_before:
            start = 1  # Previous reached the first page
        more_after = True
    else:
        more_before = win.after is not None
        more_after = len(rows) > limit
        rows = rows[:limit]
    capped = counted > COUNT_CAP
    total = min(counted, COUNT_CAP)
    page = Page(rows, start, total, capped)
    if rows and more_after:
        page.next_url = _url(endpoint, prefix, anchor, after=rows[-1][key],
                             start=start + len(rows) if start else None)
    if more_before:
        if start is not None and start - limit <= 1:
            page.prev_url = _url(endpoint, prefix, anchor)  # the first page: no cursor at all
        elif rows:
            page.prev_url = _url(endpoint, prefix, anchor, before=rows[0][key],
                                 start=start - limit if start else None)
        else:  # past the end (rows deleted meanwhile): back to the first page
            page.prev_url = _url(endpoint, prefix, anchor)
    return page


def _url(endpoint: str | None, prefix: str, anchor: str, **cursor: int | None) -> str:
    """This page's URL with the same query string (filters, the other list's cursors) and this
    list's cursor replaced."""
    own = {f"{prefix}{name}" for name in ("after", "before", "start")}
    args: dict[str, Any] = {name: value for name, value in request.args.items()
                            if name not in own and value != ""}
    args.update({f"{prefix}{name}": value for name, value in cursor.items() if value is not None})
    url = url_for(endpoint or request.endpoint or "", **(request.view_args or {}), **args)
    return f"{url}#{anchor}" if anchor else url
