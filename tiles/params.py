"""Validation of what a tile request names: tile coordinates and layer lists.

URL patterns capture these as plain strings so that bad input reaches us and gets a 400 with a
message, instead of Django's HTML 404 from a converter that did not match.
"""

import re
from dataclasses import dataclass

MAX_ZOOM = 22
# A composite tile costs one aggregate per layer; a cap keeps one URL from asking for everything.
MAX_LAYERS = 20
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts "²" and "٣"
_MAX_DIGITS = 8  # 2**22 has 7; longer input is out of range without converting it


class TileRequestError(Exception):
    """A request the tile endpoints refuse; `status` is the HTTP status, the message the detail.

    `depends_on_user` marks an answer that another user would get differently (a staff-only
    layer), so that shared caches keep it apart.
    """

    def __init__(self, status: int, detail: str, depends_on_user: bool = False):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.depends_on_user = depends_on_user


@dataclass(frozen=True)
class TileCoord:
    z: int
    x: int
    y: int

    def __str__(self) -> str:
        return f"{self.z}/{self.x}/{self.y}"


def _integer(name: str, raw: str) -> int:
    if not _DIGITS.fullmatch(raw):
        raise TileRequestError(400, f"{name} must be a non-negative integer, got {raw!r}")
    if len(raw.lstrip("0")) > _MAX_DIGITS:
        raise TileRequestError(400, f"{name} is out of range: {raw[:20]}…")
    return int(raw)


def parse_tile(z: str, x: str, y: str) -> TileCoord:
    zi, xi, yi = _integer("z", z), _integer("x", x), _integer("y", y)
    if zi > MAX_ZOOM:
        raise TileRequestError(400, f"z must be between 0 and {MAX_ZOOM}, got {zi}")
    last = 2**zi - 1
    for name, value in (("x", xi), ("y", yi)):
        if value > last:
            raise TileRequestError(
                400, f"{name} must be between 0 and {last} at zoom {zi}, got {value}")
    return TileCoord(zi, xi, yi)


def parse_layer_list(raw: str) -> list[str]:
    """`a,b,c` as a list of slugs in request order (the order of layers in the tile)."""
    slugs = raw.split(",")
    if any(not s for s in slugs):
        raise TileRequestError(400, f"empty layer name in {raw!r}")
    if len(slugs) > MAX_LAYERS:
        raise TileRequestError(400, f"at most {MAX_LAYERS} layers per tile, got {len(slugs)}")
    seen = set()
    for slug in slugs:
        if slug in seen:
            raise TileRequestError(400, f"layer {slug!r} is listed twice")
        seen.add(slug)
    return slugs
