"""Zonal statistics of a raster band per area (rasterio), for the `raster` method kind.

Rasters (a DEM, land-surface temperature, NDVI…) are GeoTIFF / Cloud Optimized GeoTIFF files
under one of settings.RASTER_DIRS (default MEDIA_ROOT/rasters); a method names one by its path
relative to such a folder, and nothing outside those folders can be read.

A pixel belongs to an area when its centre lies inside the area polygon (rasterio's default,
all_touched=False): every pixel then counts for exactly one of a set of areas that tile the
city, so a city-wide statistic over the boundary pools the same pixels the districts hold.
Pixels equal to the band's nodata value (or NaN) are left out.
"""

import math
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.features import geometry_mask
from rasterio.windows import Window

from indicators.methods import Computed, MethodError, raster_dirs
from layers.models import Feature, Layer


def resolve(name: str) -> Path:
    """The file `name` under one of the raster folders; never a path outside them."""
    for base in raster_dirs():
        base = base.resolve()
        candidate = (base / name).resolve()
        if candidate.is_relative_to(base) and candidate.is_file():
            return candidate
    raise MethodError(f"raster {name!r} not found in the raster folders (RASTER_DIRS)")


def stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_mtime_ns}-{st.st_size}"


def statistic(values: np.ndarray, stat: str) -> float | None:
    if stat == "count":
        return float(values.size)
    if values.size == 0:
        return None
    if stat.startswith("p"):
        return float(np.percentile(values, float(stat[1:])))
    return float({"mean": np.mean, "min": np.min, "max": np.max, "median": np.median,
                  "sum": np.sum}[stat](values))


def _pixels(src, band: int, geom) -> np.ndarray:
    """Valid values of the band's pixels whose centre lies in `geom` (in the raster's CRS)."""
    left, bottom, right, top = geom.bounds
    # The pixels the area's bounding box touches, clipped to the raster.
    row0, col0 = src.index(left, top, op=math.floor)
    row1, col1 = src.index(right, bottom, op=math.floor)
    rows = (max(min(row0, row1), 0), min(max(row0, row1) + 1, src.height))
    cols = (max(min(col0, col1), 0), min(max(col0, col1) + 1, src.width))
    if rows[0] >= rows[1] or cols[0] >= cols[1]:
        return np.empty(0)  # the area lies outside the raster
    window = Window.from_slices(rows, cols)
    data = src.read(band, window=window, masked=True)
    if data.size == 0:
        return np.empty(0)
    outside = geometry_mask([shapely.geometry.mapping(geom)], out_shape=data.shape,
                            transform=src.window_transform(window), all_touched=False)
    values = np.ma.array(data, mask=np.ma.getmaskarray(data) | outside).compressed()
    return values[np.isfinite(values)].astype(float)


def zonal(path: Path, method: dict, areas: Layer) -> list[Computed]:
    band = int(method.get("band", 1))
    stat = str(method.get("stat", "mean"))
    period = str(method.get("period", ""))
    rows = []
    with rasterio.open(path) as src:
        if band > src.count:
            raise MethodError(f"raster {path.name} has {src.count} band(s), not {band}")
        if src.crs is None:
            raise MethodError(f"raster {path.name} has no CRS")
        to_raster = Transformer.from_crs(4326, CRS.from_wkt(src.crs.to_wkt()), always_xy=True)
        for feature in Feature.objects.filter(layer=areas).order_by("id"):
            geom = shapely.from_wkb(bytes(feature.geom.wkb))
            if not geom.is_valid:
                geom = shapely.make_valid(geom)
            geom = shapely.transform(geom, lambda xy: np.column_stack(to_raster.transform(*xy.T)))
            values = _pixels(src, band, geom)
            value = statistic(values, stat)
            rows.append(Computed(feature.id, period, value,
                                 "" if value is not None else "no raster pixel centre in the area"))
    return rows
