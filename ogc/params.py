"""Checks of query parameters that pygeoapi lets through or reports poorly.

Each check returns an error message for the client, or None when the value is acceptable; the
views turn a message into an OGC exception (HTTP 400) before pygeoapi sees the request.
"""

import math

from ogc.config import MAX_ITEMS

# Parameters the items endpoint understands besides the collection's properties (pygeoapi's
# reserved names, plus `lang`).
ITEMS_PARAMETERS = frozenset({
    "bbox", "bbox-crs", "crs", "f", "lang", "limit", "offset", "resulttype", "datetime",
    "sortby", "properties", "skipGeometry", "q", "filter", "filter-lang", "filter-crs",
})
# OFFSET is a bigint in PostgreSQL; no layer comes near this many features anyway.
MAX_OFFSET = 2**31 - 1


def check_bbox(raw: str | None) -> str | None:
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) not in (4, 6):
        return (f"bbox must have 4 numbers (minx,miny,maxx,maxy) or 6 "
                f"(minx,miny,minz,maxx,maxy,maxz); got {len(parts)}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        return f"bbox values must be numbers (got {raw!r})"
    if not all(math.isfinite(n) for n in numbers):
        return f"bbox values must be finite numbers (got {raw!r})"
    if len(numbers) == 6:
        minx, miny, _, maxx, maxy, _ = numbers
        if numbers[2] > numbers[5]:
            return "bbox minz must not be greater than maxz"
    else:
        minx, miny, maxx, maxy = numbers
    # Only CRS84 is offered (no bbox-crs other than it), so the box is in degrees.
    for name, lon in (("minx", minx), ("maxx", maxx)):
        if not -180 <= lon <= 180:
            return f"bbox {name} is a longitude and must be within -180..180 (got {lon})"
    for name, lat in (("miny", miny), ("maxy", maxy)):
        if not -90 <= lat <= 90:
            return f"bbox {name} is a latitude and must be within -90..90 (got {lat})"
    if minx > maxx:
        return f"bbox minx ({minx}) must not be greater than maxx ({maxx})"
    if miny > maxy:
        return f"bbox miny ({miny}) must not be greater than maxy ({maxy})"
    return None


def check_limit(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        limit = int(raw)
    except ValueError:
        return f"limit must be an integer between 1 and {MAX_ITEMS} (got {raw!r})"
    if not 1 <= limit <= MAX_ITEMS:
        return (f"limit must be between 1 and {MAX_ITEMS} (got {limit}); "
                f"page through larger results with offset or the 'next' links")
    return None


def check_offset(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        offset = int(raw)
    except ValueError:
        return f"offset must be an integer of 0 or more (got {raw!r})"
    if not 0 <= offset <= MAX_OFFSET:
        return f"offset must be between 0 and {MAX_OFFSET} (got {offset})"
    return None


def check_known(params, properties) -> str | None:
    """OGC API Features (/req/core/query-param-unknown): a parameter the API does not define is
    an error, not something to ignore, so a misspelt filter never returns the whole layer."""
    unknown = sorted(set(params) - ITEMS_PARAMETERS - set(properties))
    if unknown:
        return (f"unknown query parameter(s): {', '.join(unknown)}; filterable properties are: "
                f"{', '.join(sorted(properties)) or '(none)'}")
    return None


def check_items(params, properties) -> str | None:
    """The first problem with the query parameters of an items request, or None."""
    return (check_known(params, properties) or check_bbox(params.get("bbox"))
            or check_limit(params.get("limit")) or check_offset(params.get("offset")))
