"""Coordinate reference systems of the OGC API (Features Part 2): which ones are offered, how a
client names them, and how coordinates in them reach PostGIS.

PostGIS always works in x = easting/longitude, y = northing/latitude, whatever the EPSG
database says. OGC API Part 2 wants coordinates in the axis order the CRS defines, and for
EPSG:4326 (and the Polish EPSG:2180 / EPSG:2178) that is north first. So every CRS carries a
`north_first` flag, read from PROJ's axis definitions, and coordinates are flipped on the way in
(bbox, filter geometries) and on the way out (feature geometries) when it is set.
"""

import re
from dataclasses import dataclass
from functools import cache

import pyproj

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
# The CRSs every layer is offered in. 2180 (PUWG 1992) is the national grid, 2178 the city's
# survey grid (PL-2000 zone 7), 3857 what web maps use.
SUPPORTED_EPSG = (4326, 3857, 2180, 2178)


class CrsError(ValueError):
    pass


@dataclass(frozen=True)
class Crs:
    uri: str
    srid: int
    north_first: bool
    # Digits kept in GeoJSON output: ~1 cm either way.
    decimals: int
    # (minx, miny, maxx, maxy) in PostGIS x/y order where coordinates in this CRS mean places,
    # or None where any finite coordinate does (see _domain).
    bounds: tuple[float, float, float, float] | None = None

    @property
    def geographic(self) -> bool:
        return self.srid == 4326


# Web Mercator's inverse is defined for every x and y (x wraps, y saturates at the poles) and web
# maps send boxes beyond ±180°: it has no domain to check.
UNBOUNDED = (3857,)


def _domain(crs: pyproj.CRS) -> tuple[float, float, float, float]:
    """The CRS's area of use widened by half its size on every side, in the CRS's x/y. Beyond
    it a national grid's coordinates stop meaning places: PROJ fails on them (a 500 once), or
    wraps them round the globe."""
    west, south, east, north = crs.area_of_use.bounds
    dx, dy = (east - west) / 2, (north - south) / 2
    to_crs = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    return to_crs.transform_bounds(max(west - dx, -180), max(south - dy, -90),
                                   min(east + dx, 180), min(north + dy, 90), densify_pts=21)


@cache
def _epsg(code: int) -> Crs:
    crs = pyproj.CRS.from_epsg(code)
    north_first = crs.axis_info[0].direction.lower() in ("north", "south")
    bounds = None if crs.is_geographic or code in UNBOUNDED else _domain(crs)
    return Crs(EPSG_URI.format(code), code, north_first, 7 if crs.is_geographic else 2, bounds)


def outside(crs: Crs, xs, ys, what: str) -> str | None:
    """Why coordinates (x/y order, PostGIS's) lie beyond where `crs` is defined, or None."""
    if crs.bounds is None or not len(xs):
        return None
    minx, miny, maxx, maxy = crs.bounds
    if minx <= min(xs) and max(xs) <= maxx and miny <= min(ys) and max(ys) <= maxy:
        return None
    first, second = ((miny, maxy), (minx, maxx)) if crs.north_first else \
        ((minx, maxx), (miny, maxy))
    return (f"{what} lies outside the area {crs.uri} covers: in its axis order the first "
            f"coordinate must lie within {first[0]:.0f}..{first[1]:.0f} and the second within "
            f"{second[0]:.0f}..{second[1]:.0f}")


DEFAULT = Crs(CRS84, 4326, False, 7)
SUPPORTED = (DEFAULT, *(_epsg(code) for code in SUPPORTED_EPSG))
SUPPORTED_URIS = [c.uri for c in SUPPORTED]

_EPSG_FORMS = (
    re.compile(r"^https?://www\.opengis\.net/def/crs/epsg/0/(\d+)$"),
    re.compile(r"^urn:ogc:def:crs:epsg:[0-9.]*:(\d+)$"),
    re.compile(r"^\[?epsg:(\d+)\]?$"),
)
_CRS84_FORMS = ("http://www.opengis.net/def/crs/ogc/1.3/crs84",
                "https://www.opengis.net/def/crs/ogc/1.3/crs84",
                "urn:ogc:def:crs:ogc:1.3:crs84", "[ogc:crs84]", "ogc:crs84", "crs84", "[crs:84]",
                "crs:84")


def parse(raw: str | None, parameter: str = "crs") -> Crs:
    """The offered CRS a client named (URI, URN or [EPSG:n] CURIE), or CrsError."""
    if raw is None:
        return DEFAULT
    value = raw.strip().lower()
    if value in _CRS84_FORMS:
        return DEFAULT
    for form in _EPSG_FORMS:
        match = form.match(value)
        if match:
            code = int(match.group(1))
            if code in SUPPORTED_EPSG:
                return _epsg(code)
            break
    raise CrsError(f"{parameter} {raw!r} is not offered; use one of: {', '.join(SUPPORTED_URIS)}")


def content_crs(crs: Crs) -> str:
    return f"<{crs.uri}>"


def geometry_out(column: str, crs: Crs) -> str:
    """SQL turning a stored (EPSG:4326, lon/lat) geometry column into GeoJSON in `crs`."""
    expr = column if crs.srid == 4326 else f"ST_Transform({column}, {crs.srid})"
    if crs.north_first:
        expr = f"ST_FlipCoordinates({expr})"
    return f"ST_AsGeoJSON({expr}, {crs.decimals})::json"


def geometry_in(placeholder: str, crs: Crs) -> str:
    """SQL turning a geometry given in `crs` (in its axis order, `placeholder` is any geometry
    expression with no SRID or the CRS's SRID) into the stored EPSG:4326 lon/lat form."""
    expr = f"ST_SetSRID({placeholder}, {crs.srid})"
    if crs.north_first:
        expr = f"ST_FlipCoordinates({expr})"
    return expr if crs.srid == 4326 else f"ST_Transform({expr}, 4326)"


def bbox_xy(bbox: list[float], crs: Crs) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) in PostGIS x/y order from a bbox in the CRS's axis order."""
    a1, a2, b1, b2 = bbox
    return (a2, a1, b2, b1) if crs.north_first else (a1, a2, b1, b2)
