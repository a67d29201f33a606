"""Independent reference computations for the indicator tests (a helper module, no tests):
shapely + pyproj in Python, on the same fixture data the PostGIS methods read. Nothing here
imports indicators.methods."""

import numpy as np
import shapely
from pyproj import Transformer
from shapely import from_wkb

from layers.models import Feature

TO_2180 = Transformer.from_crs(4326, 2180, always_xy=True)
# The same buffer resolution as indicators.methods.QUAD_SEGS, so both sides approximate the
# disk by the same polygon.
QUAD_SEGS = 32


def to_2180(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(TO_2180.transform(*xy.T)))


def shapes(slug: str) -> dict[int, tuple]:
    """{feature id: (shapely geometry in EPSG:4326, properties)}"""
    return {f.id: (from_wkb(bytes(f.geom.wkb)), f.properties)
            for f in Feature.objects.filter(layer__slug=slug).order_by("id")}


def km2(geom) -> float:
    return to_2180(geom).area / 1e6


def coverage_pct(area_4326, points_4326: list, distance: float) -> float:
    """% of the area within `distance` m of any point: union of buffers, the textbook way."""
    area = to_2180(area_4326)
    if not points_4326:
        return 0.0
    zone = shapely.union_all([to_2180(p).buffer(distance, quad_segs=QUAD_SEGS)
                              for p in points_4326])
    return 100 * area.intersection(zone).area / area.area
