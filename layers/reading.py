"""Reading a city's spatial files with GDAL/OGR into plain rows (the city loader's reader).

A `SourceRead` holds WKB geometries, properties as JSON-ready Python values, the inferred
attribute schema and the detected CRS. Reprojection and geometry repair happen in PostGIS when
the rows are written (see layers.writing). GDAL reads in a process of its own with the one
driver the file's format allows (layers.gdal_sandbox), as for uploads; this module imports
neither GDAL nor numpy, and the import code of every web process uses `parse_srid`.
"""

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


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


def _py(value, ftype: str):
    """A value as read (JSON types; dates as YYYY-MM-DD) as the layer schema expects it."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if ftype == "integer" and isinstance(value, float):
        return int(value)
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


# The files a city's config may name, and GDAL's one driver for each (see layers.gdal_sandbox).
DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".csv": "CSV",
           ".shp": "ESRI Shapefile"}
CONTENT = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".csv": "CSV"}
SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg")


def _copy_for_reading(path: Path, folder: Path, stem: str) -> Path:
    """The file (a Shapefile with its parts) copied into `folder` as <stem>.<ext>: GDAL then
    sees nothing of the folder it came from."""
    copy = folder / f"{stem}{path.suffix.lower()}"
    shutil.copyfile(path, copy)
    if copy.suffix == ".shp":
        for ext in SHAPEFILE_PARTS:
            part = next((p for p in (path.with_suffix(ext), path.with_suffix(ext.upper()))
                         if p.exists()), None)
            if part is not None:
                shutil.copyfile(part, folder / f"{stem}{ext}")
    return copy


def read_source(path: Path, srs: str | None = None, csv: dict | None = None,
                rename: dict | None = None, drop: list | None = None,
                constants: dict | None = None) -> SourceRead:
    """Read one file. `srs` overrides the file's CRS; `csv` names the X/Y columns of a CSV."""
    return read_sources([(path, {"srs": srs, "csv": csv, "rename": rename, "drop": drop,
                                 "constants": constants})])[0]


def read_sources(files: list[tuple[Path, dict]]) -> list[SourceRead]:
    """Read files given as (path, read_source's options), in order.

    Each is read as an upload is (layers.gdal_sandbox): its content must be what its name
    says, and GDAL reads it with that format's driver alone, without network; the files of
    one format are read by one child process."""
    from layers import gdal_sandbox, upload_safety

    for path, _ in files:
        if not path.exists():
            raise SourceError(f"{path.name}: file not found at {path}")
        ext = path.suffix.lower()
        if ext not in DRIVERS:
            raise SourceError(f"{path.name}: unsupported file type {ext or '(none)'}; a "
                              f"city's files are {', '.join(sorted(DRIVERS))}")
        if ext in CONTENT:
            try:
                upload_safety.check_content(path, CONTENT[ext], path.name)
            except upload_safety.UploadRefused as exc:
                message = str(exc)
                raise SourceError(message if message.startswith(path.name)
                                  else f"{path.name}: {message}") from None
    reads: dict[int, object] = {}
    copies: dict[int, Path] = {}
    with tempfile.TemporaryDirectory(prefix="sdi-read-") as tmp:
        for driver in sorted({DRIVERS[p.suffix.lower()] for p, _ in files}):
            folder = Path(tmp) / driver.replace(" ", "_")
            folder.mkdir()
            batch = [i for i, (p, _) in enumerate(files) if DRIVERS[p.suffix.lower()] == driver]
            requests = []
            for i in batch:
                path, options = files[i]
                copies[i] = _copy_for_reading(path, folder, f"data{i}")
                csv = options.get("csv")
                requests.append(gdal_sandbox.ReadRequest(copies[i], open_options={
                    "X_POSSIBLE_NAMES": csv["x"], "Y_POSSIBLE_NAMES": csv["y"],
                    "AUTODETECT_TYPE": "YES", "KEEP_GEOM_COLUMNS": "NO"} if csv else None))
            reads.update(zip(batch, gdal_sandbox.read_vectors(requests, driver), strict=True))
    out = []
    for i, (path, options) in enumerate(files):
        read = reads[i]
        if isinstance(read, gdal_sandbox.ReadError):
            message = upload_safety.scrub(str(read), copies[i], path.name)
            raise SourceError(f"{path.name}: GDAL could not read it ({message})")
        out.append(_source_read(path, read, **options))
    return out


def _source_read(path: Path, read, srs=None, csv=None, rename=None, drop=None,
                 constants=None) -> SourceRead:
    srid = parse_srid(srs) if srs else parse_srid(read.crs)
    if srid is None:
        raise SourceError(f"{path.name}: CRS unknown ({read.crs!r}); declare `srs`")
    from layers.gdal_sandbox import schema_type

    rename = rename or {}
    drop = set(drop or [])
    keep = [(i, rename.get(n, n), schema_type(t))
            for i, (n, t) in enumerate(zip(read.names, read.dtypes, strict=True))
            if n not in drop]
    fields = [{"name": name, "type": ftype} for _, name, ftype in keep]
    for name, value in (constants or {}).items():
        fields.append({"name": name, "type": "integer" if isinstance(value, int) else "string"})

    properties = []
    for row in range(len(read.wkb)):
        props = {name: _py(read.columns[i][row], ftype) for i, name, ftype in keep}
        props.update(constants or {})
        properties.append(props)

    return SourceRead(path=path, srid=srid, geometry_type=read.geometry_type or "Unknown",
                      wkb=read.wkb, properties=properties, fields=fields)
