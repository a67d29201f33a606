"""Reading spatial files with GDAL/OGR (through pyogrio) into plain rows.

A `SourceRead` holds WKB geometries, properties as JSON-ready Python values, the inferred
attribute schema and the detected CRS. Reprojection and geometry repair happen in PostGIS when
the rows are written (see layers.writing). GDAL (pyogrio) and numpy are imported where a file
is read, not with the module: the import code of every web process uses `parse_srid`.
"""

import datetime
import math
from dataclasses import dataclass, field
from pathlib import Path

DTYPE_TO_FIELD = {
    "int": "integer",
    "uint": "integer",
    "float": "decimal",
    "bool": "boolean",
    "datetime": "date",
    "object": "string",
}


class SourceError(ValueError):
    """A file that cannot be read as declared; the message says which file and why."""


@dataclass
class SourceRead:
    path: Path
    srid: int
    geometry_type: str
    wkb: list[bytes | None]
    properties: list[dict]
    fields: list[dict] = field(default_factory=list)


def _field_type(dtype: str) -> str:
    for prefix, ftype in DTYPE_TO_FIELD.items():
        if dtype.startswith(prefix):
            return ftype
    return "string"


def _py(value, ftype: str):
    """A numpy scalar as the JSON value the layer schema expects (NaN and NaT become None)."""
    if value is None:
        return None
    import numpy as np  # loaded already: the value came from pyogrio

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if ftype == "integer" and isinstance(value, float):
        return int(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()[:10]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def parse_srid(crs: str | None) -> int | None:
    if not crs:
        return None
    auth, _, code = crs.partition(":")
    if auth.upper() == "OGC" and code.upper() == "CRS84":
        return 4326
    if auth.upper() == "EPSG" and code.isdigit():
        return int(code)
    return None


def read_source(path: Path, srs: str | None = None, csv: dict | None = None,
                rename: dict | None = None, drop: list | None = None,
                constants: dict | None = None) -> SourceRead:
    """Read one file. `srs` overrides the file's CRS; `csv` names the X/Y columns of a CSV."""
    if not path.exists():
        raise SourceError(f"{path.name}: file not found at {path}")
    options = {}
    if csv:
        options = {"X_POSSIBLE_NAMES": csv["x"], "Y_POSSIBLE_NAMES": csv["y"],
                   "AUTODETECT_TYPE": "YES", "KEEP_GEOM_COLUMNS": "NO"}
    import pyogrio.raw

    try:
        meta, _fids, geoms, columns = pyogrio.raw.read(path, **options)
    except Exception as exc:  # pyogrio raises several GDAL error types
        raise SourceError(f"{path.name}: GDAL could not read it ({exc})") from exc

    srid = parse_srid(srs) if srs else parse_srid(meta.get("crs"))
    if srid is None:
        raise SourceError(f"{path.name}: CRS unknown ({meta.get('crs')!r}); declare `srs`")

    rename = rename or {}
    drop = set(drop or [])
    keep = [(i, rename.get(n, n), _field_type(str(t)))
            for i, (n, t) in enumerate(zip(meta["fields"], meta["dtypes"], strict=True))
            if n not in drop]
    fields = [{"name": name, "type": ftype} for _, name, ftype in keep]
    for name, value in (constants or {}).items():
        fields.append({"name": name, "type": "integer" if isinstance(value, int) else "string"})

    properties = []
    for row in range(len(geoms)):
        props = {name: _py(columns[i][row], ftype) for i, name, ftype in keep}
        props.update(constants or {})
        properties.append(props)

    return SourceRead(path=path, srid=srid, geometry_type=meta.get("geometry_type") or "Unknown",
                      wkb=list(geoms), properties=properties, fields=fields)
