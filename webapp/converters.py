"""URL converters: `<id:name>` is a row id in a path, of the API and of the pages alike.

Werkzeug's `int(min=1, …)` turns an id it refuses into a routing miss, and a miss on a path
that other methods serve becomes a 405; `int` lets ids beyond bigint reach PostgreSQL. A row
id that cannot exist is a row the caller does not have: 404, decided here once for every route.
"""

from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter, Map

from webapp.schemas.common import MAX_ID

# int() refuses texts of more than 4,300 digits (and is slow near that): nothing that long is
# an id, and 20 characters hold every bigint with its sign
_LONGEST = len(str(-(2**63)))


class IdConverter(BaseConverter):
    """Any signed integer text; one outside 1 … bigint's maximum is a 404, not a routing miss."""

    # ASCII digits only: \d would also take other scripts' digits as aliases of an id
    regex = r"-?[0-9]+"
    part_isolating = True

    def to_python(self, value: str) -> int:
        """The id, or NotFound when no row can have it."""
        number = int(value) if len(value) <= _LONGEST else 0
        if not 1 <= number <= MAX_ID:
            raise NotFound("no such resource: ids are whole numbers from 1 to 2^63-1")
        return number

    def to_url(self, value: Any) -> str:
        """The id as digits."""
        return str(int(value))


def install(url_map: Map) -> None:
    """Register `id` (before any rule that uses it is added)."""
    url_map.converters["id"] = IdConverter
