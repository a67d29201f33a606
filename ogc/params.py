"""Checks of query parameters that pygeoapi lets through or reports poorly.

Each check returns an error message for the client, or None when the value is acceptable; the
views turn a message into an OGC exception (HTTP 400) before pygeoapi sees the request.
"""

import datetime
import math

from ogc.config import MAX_ITEMS
from ogc.crs import DEFAULT, Crs, outside

# Parameters the items endpoint understands besides the collection's properties (pygeoapi's
# reserved names, plus `lang`).
ITEMS_PARAMETERS = frozenset({
    "bbox", "bbox-crs", "crs", "f", "lang", "limit", "offset", "resulttype", "datetime",
    "sortby", "properties", "skipGeometry", "q", "filter", "filter-lang", "filter-crs",
})
# OFFSET is a bigint in PostgreSQL; no layer comes near this many features anyway.
MAX_OFFSET = 2**31 - 1


def parse_bbox(raw: str | None, crs: Crs = DEFAULT) -> list[float] | None:
    """The bbox numbers (4, or 6 with heights) in `crs`'s axis order; ValueError with the reason.
    Longitude/latitude ranges are checked when `crs` is geographic, in its axis order."""
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) not in (4, 6):
        raise ValueError(f"bbox must have 4 numbers (minx,miny,maxx,maxy) or 6 "
                         f"(minx,miny,minz,maxx,maxy,maxz); got {len(parts)}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"bbox values must be numbers (got {raw!r})") from None
    if not all(math.isfinite(n) for n in numbers):
        raise ValueError(f"bbox values must be finite numbers (got {raw!r})")
    if len(numbers) == 6:
        if numbers[2] > numbers[5]:
            raise ValueError("bbox minz must not be greater than maxz")
        low1, low2, high1, high2 = numbers[0], numbers[1], numbers[3], numbers[4]
    else:
        low1, low2, high1, high2 = numbers
    if crs.geographic:
        lon_axis, lat_axis = (2, 1) if crs.north_first else (1, 2)
        ranges = {lon_axis: ("longitude", 180), lat_axis: ("latitude", 90)}
        for axis, low, high in ((1, low1, high1), (2, low2, high2)):
            what, limit = ranges[axis]
            for value in (low, high):
                if not -limit <= value <= limit:
                    name = ("minx", "miny")[axis - 1] if value == low else \
                        ("maxx", "maxy")[axis - 1]
                    raise ValueError(f"bbox {name} is a {what} and must be within "
                                     f"-{limit}..{limit} (got {value}) in {crs.uri}")
    if low1 > high1:
        raise ValueError(f"bbox minx ({low1}) must not be greater than maxx ({high1})")
    if low2 > high2:
        raise ValueError(f"bbox miny ({low2}) must not be greater than maxy ({high2})")
    first, second = (low1, high1), (low2, high2)
    xs, ys = (second, first) if crs.north_first else (first, second)
    problem = outside(crs, xs, ys, "bbox")
    if problem:
        raise ValueError(problem)
    return numbers


def check_bbox(raw: str | None, crs: Crs = DEFAULT) -> str | None:
    try:
        parse_bbox(raw, crs)
    except ValueError as exc:
        return str(exc)
    return None


def _instant(raw: str) -> str | None:
    raw = raw.strip()
    if raw in ("", ".."):
        return None
    try:
        if len(raw) == 10:
            return datetime.date.fromisoformat(raw).isoformat()
        moment = datetime.datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"datetime: {raw!r} is not an RFC 3339 date or date-time "
                         f"(e.g. 2024-05-01 or 2024-05-01T12:00:00Z)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC)
    return moment.date().isoformat()


def parse_datetime(raw: str | None) -> tuple[str | None, str | None] | None:
    """`datetime` as (first, last) ISO dates, None for an open end; None if absent. Layers hold
    dates, not times, so a date-time selects its (UTC) day."""
    if raw is None:
        return None
    if raw.count("/") > 1:
        raise ValueError(f"datetime: an interval has one '/' (got {raw!r})")
    if "/" in raw:
        start_raw, end_raw = raw.split("/")
        start, end = _instant(start_raw), _instant(end_raw)
        if start_raw.strip() in ("", "..") and end_raw.strip() in ("", ".."):
            raise ValueError("datetime: an interval needs at least one end")
        if start and end and start > end:
            raise ValueError(f"datetime: the interval starts after it ends ({raw!r})")
        return start, end
    day = _instant(raw)
    if day is None:
        raise ValueError(f"datetime: {raw!r} is not a date, date-time or interval")
    return day, day


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
    return (check_known(params, properties) or check_limit(params.get("limit"))
            or check_offset(params.get("offset")))
