"""Importing a file into a layer: GeoJSON, GeoPackage, zipped Shapefile, CSV (X/Y, lon/lat or WKT).

Every import is first a dry run: the file is read with GDAL (pyogrio), its fields are mapped to
the layer schema, every value is converted and checked, the geometries are staged in PostGIS and
checked there (missing, outside the CRS's area of use, wrong type for the layer, invalid), and a
report lists the feature count, the detected CRS, the mapping, and every problem as (row, field,
value, reason). Only an import without problems writes, and it writes all rows or none: one
transaction, one history batch (revertible, see layers.history), one layer version bump.

Problems with the file as a whole (empty, content that is not what the name says, an unsafe or
oversized zip, no .prj and no CRS chosen, mixed text encodings) are reported as `fatal`, before
any row is looked at.

The upload is read and nothing else: layers.upload_safety checks its content and unpacks zips
within limits, and GDAL reads a private copy in a child process that knows only the format's
driver and has no network (layers.gdal_sandbox). The web process never loads GDAL for an
import; pyproj is imported where a CRS is checked.
"""

import io
import json
import math
import os
import re
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from layers import gdal_sandbox, upload_safety
from layers.history import SNAPSHOT_SQL
from layers.models import Feature, FeatureHistory, ImportRun, Layer
from layers.reading import parse_srid
from layers.schema import CoercionError, coerce, range_problem, validate_schema
from layers.schema_changes import log_change
from layers.signals import layer_changed

FEATURES = Feature._meta.db_table
HISTORY = FeatureHistory._meta.db_table
MAX_REPORTED_ERRORS = 1000
CHANNEL = "import"
FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage",
           ".zip": "Shapefile (zip)", ".csv": "CSV"}
# Column names GDAL's CSV driver is told to take coordinates from, most specific first.
LON_NAMES = ["lon", "lng", "long", "longitude", "dlugosc", "długość"]
LAT_NAMES = ["lat", "latitude", "szerokosc", "szerokość"]
X_NAMES = ["x", "easting", "e"]
Y_NAMES = ["y", "northing", "n"]
WKT_NAMES = ["wkt", "geometry", "geom", "the_geom"]
SINGLE = {"MULTIPOINT": "POINT", "MULTILINESTRING": "LINESTRING", "MULTIPOLYGON": "POLYGON"}


def max_upload_bytes() -> int:
    return int(getattr(settings, "LAYER_IMPORT_MAX_BYTES", 100 * 1024 * 1024))


class ImportError_(ValueError):  # noqa: N801 - ImportError is a builtin
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class ImportOptions:
    dry_run: bool = True
    mode: str = "append"  # or "replace": the layer's features are replaced by the file's
    srid: int | None = None  # overrides the file's CRS; needed for CSV X/Y and for no .prj
    x: str | None = None
    y: str | None = None
    encoding: str | None = None  # None: detected
    invalid: str = "reject"  # or "repair" (ST_MakeValid), counted in the report
    mapping: dict = field(default_factory=dict)  # file field -> layer field ("" = skip)
    add_fields: bool = False  # unmatched file fields become new layer fields
    source_layer: str | None = None  # for a GeoPackage (or zip) holding several layers

    @classmethod
    def from_form(cls, data) -> "ImportOptions":
        errors = []

        def flag(name, default):
            value = data.get(name)
            if value in (None, ""):
                return default
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            errors.append(f"{name}: expected true or false, got {value!r}")
            return default

        options = cls(dry_run=flag("dry_run", True), add_fields=flag("add_fields", False))
        options.mode = data.get("mode") or "append"
        if options.mode not in ("append", "replace"):
            errors.append(f"mode: expected append or replace, got {options.mode!r}")
        options.invalid = data.get("invalid") or "reject"
        if options.invalid not in ("repair", "reject"):
            errors.append(f"invalid: expected repair or reject, got {options.invalid!r}")
        if data.get("crs"):
            try:
                options.srid = parse_crs(data["crs"])
            except ImportError_ as exc:
                errors += exc.errors
        options.x = (data.get("x") or "").strip() or None
        options.y = (data.get("y") or "").strip() or None
        if bool(options.x) != bool(options.y):
            errors.append("x, y: name both coordinate columns, or neither")
        options.encoding = (data.get("encoding") or "").strip() or None
        if options.encoding:
            try:
                "".encode(options.encoding)
            except LookupError:
                errors.append(f"encoding: unknown encoding {options.encoding!r}")
        options.source_layer = (data.get("layer") or "").strip() or None
        mapping = data.get("mapping")
        if mapping:
            if isinstance(mapping, str):
                try:
                    mapping = json.loads(mapping)
                except ValueError:
                    mapping = None
            if not isinstance(mapping, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
                errors.append('mapping: expected a JSON object {"file field": "layer field"}')
            else:
                options.mapping = mapping
        if errors:
            raise ImportError_(errors)
        return options


def parse_crs(text) -> int:
    """An EPSG code from "EPSG:2178", "2178" or "urn:ogc:def:crs:EPSG::2178"."""
    value = str(text).strip()
    match = re.fullmatch(r"(?:(?:urn:ogc:def:crs:)?EPSG:{1,2})?(\d{4,6})", value, re.I)
    if not match:
        raise ImportError_([f"crs: expected an EPSG code such as EPSG:2178, got {value!r}"])
    code = int(match.group(1))
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        CRS.from_epsg(code)
    except CRSError:
        raise ImportError_([f"crs: EPSG:{code} is not a known CRS"]) from None
    return code


@dataclass
class RowError:
    row: int
    field: str
    value: object
    reason: str


@dataclass
class ImportReport:
    filename: str
    layer: str
    dry_run: bool
    mode: str
    format: str = ""
    source_layer: str | None = None
    features: int = 0
    detected_crs: str | None = None
    crs: str | None = None
    encoding: str | None = None
    geometry_types: dict = field(default_factory=dict)
    mapping: list = field(default_factory=list)
    ignored_fields: list = field(default_factory=list)
    added_fields: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    error_count: int = 0
    repaired: list = field(default_factory=list)
    invalid: str = "reject"
    fatal: str | None = None
    notes: list = field(default_factory=list)
    written: int = 0
    deleted: int = 0
    batch: str | None = None

    def error(self, row: int, field_name: str, value, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(row, field_name, _jsonable(value), reason))

    @property
    def ok(self) -> bool:
        return not self.fatal and not self.error_count

    def as_dict(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # inf or nan: not JSON
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# --- reading --------------------------------------------------------------------------------

@dataclass
class Source:
    """What GDAL read: WKB geometries and columns of Python values, plus what was detected."""

    format: str
    srid: int | None
    detected_crs: str | None
    names: list[str]
    types: list[str]  # schema type of each column as the file declares it
    columns: list[list]
    wkb: list
    encoding: str | None = None
    layer_name: str | None = None
    text_columns: bool = False  # CSV: every value is a string, types come from the layer
    # Rows whose coordinates were reported already (CSV X/Y): not reported again as "no geometry".
    bad_coordinates: set = field(default_factory=set)

    def __len__(self):
        return len(self.wkb)


def detect_encoding(lines) -> str:
    """UTF-8 if every line decodes as UTF-8, CP1250 (the Polish Windows code page) if none with
    non-ASCII bytes does; a file mixing both is refused, naming lines of each kind."""
    utf8, other = [], []
    for number, line in enumerate(lines, start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8.append(number)
        except UnicodeDecodeError:
            other.append(number)
    if utf8 and other:
        raise ImportError_([
            f"mixed text encodings: line(s) {_few(utf8)} are UTF-8 but line(s) {_few(other)} "
            "are not (CP1250?); save the whole file in one encoding (UTF-8 preferred)"])
    return "cp1250" if other else "utf-8"


def _few(numbers: list[int], limit: int = 10) -> str:
    return ", ".join(map(str, numbers[:limit])) + (" …" if len(numbers) > limit else "")


def _pick(names: list[str], wanted: list[str]) -> str | None:
    lowered = {n.lower().strip(): n for n in names}
    for w in wanted:
        if w in lowered:
            return lowered[w]
    return None


def _read_csv(path: Path, filename: str, options: ImportOptions, report: ImportReport,
              workdir: Path) -> Source:
    raw = path.read_bytes()
    upload_safety.check_text(raw, upload_safety.client_name(filename))
    encoding = options.encoding
    if encoding:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise ImportError_([f"the file is not valid {encoding} (line {line}); choose "
                                "another encoding"]) from None
    else:
        encoding = detect_encoding(raw.splitlines())
        text = raw.decode(encoding)
    text = text.removeprefix("\ufeff")
    report.encoding = encoding
    # GDAL reads UTF-8: hand it the text re-encoded, whatever the file's encoding was.
    utf8 = workdir / "data.csv"
    utf8.write_text(text, encoding="utf-8")
    header_line = text.split("\n", 1)[0]
    sep = ";" if header_line.count(";") > header_line.count(",") else ","
    header = [h.strip().strip('"') for h in header_line.strip("\r").split(sep)]
    if not any(header) or len(text.strip().splitlines()) < 2:
        raise ImportError_(["the CSV has no data rows"])
    report.notes.append(f"fields separated by {sep!r}")
    _check_row_lengths(text, sep, report)

    open_options = {"AUTODETECT_TYPE": "NO", "KEEP_GEOM_COLUMNS": "NO",
                    "SEPARATOR": "SEMICOLON" if sep == ";" else "COMMA"}
    srid = options.srid
    if options.x:
        missing = [c for c in (options.x, options.y) if c not in header]
        if missing:
            raise ImportError_([f"no column {', '.join(missing)} in the CSV; its columns are "
                                f"{', '.join(header)}"])
        x, y = options.x, options.y
    else:
        lon, lat = _pick(header, LON_NAMES), _pick(header, LAT_NAMES)
        east, north = _pick(header, X_NAMES), _pick(header, Y_NAMES)
        # A file may carry both (the city's budget CSVs do): a projected CRS chosen means X/Y.
        from pyproj import CRS

        projected = srid is not None and not CRS.from_epsg(srid).is_geographic
        if east and north and (projected or not (lon and lat)):
            x, y = east, north
        else:
            x, y = lon, lat
            if x and y and srid is None:
                srid = 4326
                report.notes.append(f"columns {x}/{y} read as longitude/latitude (EPSG:4326)")
    wkt = None if (x and y) else _pick(header, WKT_NAMES)
    if x and y:
        if srid is None:
            raise ImportError_([f"choose the CRS of the coordinates in columns {x}/{y} "
                                "(e.g. EPSG:2178 for PL-2000 zone 7, EPSG:2180 for PUWG 1992)"])
        report.notes.append(f"coordinates from columns {x} (X) and {y} (Y)")
    elif wkt:
        if srid is None:
            srid = 4326
            report.notes.append(f"WKT in column {wkt} read as EPSG:4326 (choose a CRS if not)")
        open_options.update(GEOM_POSSIBLE_NAMES=wkt)
    else:
        raise ImportError_([f"no coordinate columns found among {', '.join(header)}: name the "
                            "X and Y (or lon/lat) columns, or give a WKT column"])
    source = _read_gdal(utf8, "CSV", filename, open_options=open_options)
    source.srid = srid
    source.detected_crs = None
    source.encoding = encoding
    source.text_columns = True
    if x and y:
        _points_from_columns(source, x, y, report)
    return source


def _check_row_lengths(text: str, sep: str, report: ImportReport) -> None:
    """Rows with more or fewer values than the header has columns. GDAL would cut the extra
    values off (or leave missing ones empty) without a word: "20,63" unquoted in a comma-
    separated file becomes two values, and the coordinates would silently be wrong."""
    import csv

    records = (r for r in csv.reader(io.StringIO(text), delimiter=sep) if r)
    columns = len(next(records))
    for n, record in enumerate(records, start=1):  # blank lines are no rows, for GDAL too
        if len(record) != columns:
            hint = (" (decimal commas in a comma-separated file? quote such values, or "
                    "separate the fields with ';')" if sep == "," and len(record) > columns
                    else "")
            report.error(n, "", sep.join(record)[:200],
                         f"{len(record)} values for {columns} columns{hint}")


def _points_from_columns(source: Source, x: str, y: str, report: ImportReport) -> None:
    """Point geometries from the X/Y (lon/lat) text columns, read with the number rules of the
    attributes (decimal comma or point, spaces between thousands); each unreadable or
    ambiguous coordinate is a row error naming the column and the value. GDAL's own X/Y
    reading would turn "1.234,5" or "7 473 914,7" into a wrong number without a word."""
    import struct

    names = [n.strip() for n in source.names]
    missing = [c for c in (x, y) if c not in names]
    if missing:
        raise ImportError_([f"no column {', '.join(missing)} in the CSV as GDAL read it; its "
                            f"columns are {', '.join(source.names)}"])
    ix, iy = names.index(x), names.index(y)
    coords = []
    for name, index in ((x, ix), (y, iy)):
        column = source.columns[index]
        style = decimal_separator(column)
        values = []
        for n, value in enumerate(column, start=1):
            number, problem = csv_number(value, style)
            if problem:
                report.error(n, name, value, problem)
                source.bad_coordinates.add(n)
            values.append(number)
        coords.append(values)
    source.wkb = [None if n in source.bad_coordinates else struct.pack("<BIdd", 1, 1, float(cx),
                                                                     float(cy))
                  for n, (cx, cy) in enumerate(zip(*coords, strict=True), start=1)]
    keep = [i for i in range(len(names)) if i not in (ix, iy)]
    source.names = [source.names[i] for i in keep]
    source.types = [source.types[i] for i in keep]
    source.columns = [source.columns[i] for i in keep]


# A number with one separator: a decimal one, unless followed by exactly three digits, when
# "1.234" may be 1.234 or 1234 (a thousands separator); its column's other values tell which.
DECIMAL = re.compile(r"[-+]?\d*([.,])\d+")
THOUSANDS_LIKE = re.compile(r"[-+]?\d{1,3}([.,])\d{3}")


def _clean_number(value) -> str:
    return str(value).strip().replace("\u00a0", "").replace(" ", "")


def decimal_separator(values) -> str | None:
    """The decimal separator a text column uses ("," or "."), told by its values that cannot
    be thousands; None when none tells, or when the column uses both."""
    seen = set()
    for value in values:
        text = _clean_number(value) if value is not None else ""
        match = DECIMAL.fullmatch(text)
        if match and not THOUSANDS_LIKE.fullmatch(text):
            seen.add(match.group(1))
    return seen.pop() if len(seen) == 1 else None


def number_problem(value, style: str | None, ftype: str = "decimal") -> str | None:
    """Why a text value is not a clear number (None if it is): both separators, several
    decimal separators, or thousands-like digits where the column's decimals use the other
    separator ("1.234" among "20,5" values) or where an integer is expected."""
    text = _clean_number(value)
    if "," in text and "." in text:
        return "ambiguous number: both ',' and '.' in it (a thousands separator?); write " \
               "e.g. 1234,5 or 1234.5"
    if text.count(",") > 1 or text.count(".") > 1:
        return "not a number: more than one decimal separator"
    match = THOUSANDS_LIKE.fullmatch(text)
    if match and ftype == "integer":
        return f"ambiguous number: {text} may be {text.replace(match.group(1), '')} (with a " \
               "thousands separator) or not a whole number; write it without separators"
    if match and style and match.group(1) != style:
        return f"ambiguous number: this column writes decimals with {style!r}, so {text} may " \
               f"be {text.replace(match.group(1), '')} (with a thousands separator); write it " \
               f"with {style!r}"
    return None


def csv_number(value, style: str | None):
    """(Decimal, None) for a clear number in a CSV text cell, (None, reason) otherwise."""
    from decimal import Decimal, InvalidOperation

    if value is None or not str(value).strip():
        return None, "no value"
    problem = number_problem(value, style)
    if problem:
        return None, problem
    try:
        number = Decimal(_clean_number(value).replace(",", "."))
    except InvalidOperation:
        return None, "not a number"
    if not number.is_finite():
        return None, "not a number"
    return number, None


# GDAL's driver for each format: the only one that may open an upload of that format.
DRIVERS = {"GeoJSON": "GeoJSON", "GeoPackage": "GPKG", "Shapefile": "ESRI Shapefile",
           "CSV": "CSV"}


def _read_gdal(path: Path, fmt: str, filename: str, *, layer: str | None = None,
               list_layers: bool = False, open_options: dict | None = None,
               encoding: str | None = None) -> Source:
    """Read `path` (a file in the import's own folder) with the one GDAL driver of `fmt`, in
    a process of its own without network (layers.gdal_sandbox)."""
    try:
        read = gdal_sandbox.read_vector(path, DRIVERS[fmt], layer=layer,
                                        list_layers=list_layers, open_options=open_options,
                                        encoding=encoding)
    except gdal_sandbox.ReadError as exc:
        name = upload_safety.client_name(filename)
        message = upload_safety.scrub(str(exc), path, name)
        if "not recognized as being in a supported file format" in message:
            # GDAL's words when the one driver allowed finds nothing it can read.
            message = f"{name} is not valid {fmt}"
        raise ImportError_([f"GDAL could not read the file as {fmt}: {message}"]) from None
    if list_layers and read.layer is None:
        names = read.layers or []
        if layer:
            raise ImportError_([f"no layer {layer!r} in the file; it has {', '.join(names)}"])
        if names:
            raise ImportError_([f"the file holds {len(names)} layers ({', '.join(names)}): "
                                "choose one"])
        raise ImportError_(["the file holds no layers"])
    return Source(format=fmt, srid=parse_srid(read.crs) if read.crs else None,
                  detected_crs=read.crs, names=read.names,
                  types=[gdal_sandbox.schema_type(t) for t in read.dtypes],
                  columns=read.columns, wkb=read.wkb, layer_name=read.layer)


def _read_shapefile_zip(path: Path, filename: str, options: ImportOptions,
                        report: ImportReport, workdir: Path) -> Source:
    """The zip is judged by its directory, then the Shapefile's own parts alone are unpacked
    into the import's folder (upload_safety) and read from there."""
    parts = upload_safety.unpack_shapefile(path, upload_safety.client_name(filename), workdir,
                                           options.source_layer)
    if not parts.has_prj and options.srid is None:
        raise ImportError_([f"{parts.stem}.prj is missing, so the CRS is unknown: choose "
                            "it (e.g. EPSG:2178 for PL-2000 zone 7, EPSG:2180 for PUWG 1992)"])
    encoding = options.encoding
    if encoding is None and not parts.has_cpg:
        # No .cpg: look at the attribute bytes themselves (Polish DBFs are often CP1250).
        dbf = parts.shp.with_suffix(".dbf").read_bytes()
        header_len = int.from_bytes(dbf[8:10], "little") if len(dbf) > 10 else 0
        encoding = detect_encoding([dbf[header_len:]])
    source = _read_gdal(parts.shp, "Shapefile", filename, encoding=encoding)
    source.encoding = encoding or "from .cpg"
    report.encoding = source.encoding
    return source


def read_file(path: Path, filename: str, options: ImportOptions, report: ImportReport,
              workdir: Path) -> Source:
    """What the upload at `path` (named `filename` by the client) holds. Its content must be
    what its name says (upload_safety), and GDAL reads it with that format's driver alone,
    from a copy in `workdir` that holds nothing else."""
    ext = Path(filename).suffix.lower()
    fmt = FORMATS.get(ext)
    if fmt is None:
        raise ImportError_([f"unsupported file type {ext or '(none)'}: upload .geojson, .gpkg, "
                            ".zip (a Shapefile with its .shx, .dbf and .prj) or .csv"])
    report.format = fmt
    if path.stat().st_size == 0:
        raise ImportError_(["the file is empty"])
    try:
        upload_safety.check_content(path, fmt, upload_safety.client_name(filename))
        if ext == ".csv":
            source = _read_csv(path, filename, options, report, workdir)
        elif ext == ".zip":
            source = _read_shapefile_zip(path, filename, options, report, workdir)
        else:
            gpkg = fmt == "GeoPackage"
            copy = workdir / ("data.gpkg" if gpkg else "data.geojson")
            shutil.copyfile(path, copy)
            source = _read_gdal(copy, fmt, filename, layer=options.source_layer if gpkg else None,
                                list_layers=gpkg, encoding=options.encoding)
    except upload_safety.UploadRefused as exc:
        raise ImportError_([str(exc)]) from None
    report.source_layer = source.layer_name
    if options.srid is not None:
        source.srid = options.srid
    report.detected_crs = source.detected_crs
    if source.srid is None:
        raise ImportError_([f"the file's CRS ({source.detected_crs or 'none given'}) has no "
                            "EPSG code: choose the CRS"])
    report.crs = f"EPSG:{source.srid}"
    if not len(source):
        raise ImportError_(["the file has no features"])
    report.features = len(source)
    return source


# --- mapping and values ---------------------------------------------------------------------

def _infer_type(values: list) -> str:
    """The narrowest schema type all non-empty strings of a text column convert to."""
    sample = [v for v in values if v not in (None, "")][:1000]
    if not sample:
        return "string"
    for ftype in ("integer", "decimal", "date"):
        try:
            for v in sample:
                coerce(ftype, v)
            if ftype == "date" and not all(re.match(r"\d{4}-\d\d-\d\d$", str(v)) for v in sample):
                continue
            return ftype
        except CoercionError:
            continue
    return "string"


def map_fields(layer: Layer, source: Source, options: ImportOptions,
               report: ImportReport) -> tuple[list[tuple[int, dict]], list[dict]]:
    """[(column index, layer field)] to import, and the fields to add to the layer schema."""
    fields = {f["name"]: f for f in layer.fields}
    by_lower = {name.lower(): name for name in fields}
    errors, plan, added, targets = [], [], [], {}
    unknown = [k for k in options.mapping if k not in source.names]
    if unknown:
        errors.append(f"mapping: no field {', '.join(map(repr, unknown))} in the file; it has "
                      f"{', '.join(source.names)}")
    for index, name in enumerate(source.names):
        if name in options.mapping:
            target = options.mapping[name]
            if target and target not in fields:
                errors.append(f"mapping: {name!r} -> {target!r}, but the layer has no field "
                              f"{target!r}")
                continue
        else:
            target = name if name in fields else by_lower.get(name.lower(), "")
        if not target and options.add_fields and name not in options.mapping:
            ftype = (_infer_type(source.columns[index]) if source.text_columns
                     else source.types[index])
            new = {"name": name, "type": ftype, "required": False}
            added.append(new)
            fields[name] = new
            target = name
        if not target:
            report.ignored_fields.append(name)
            continue
        if target in targets:
            errors.append(f"mapping: {source.names[targets[target]]!r} and {name!r} both map "
                          f"to {target!r}")
            continue
        targets[target] = index
        plan.append((index, fields[target]))
        report.mapping.append({"source": name, "target": target, "type": fields[target]["type"]})
    if added:
        problems = validate_schema({"fields": layer.fields + added})
        errors += [f"new fields: {p}" for p in problems]
    for name, f in fields.items():
        if f.get("required") and name not in targets:
            errors.append(f"required field {name!r} has no column in the file: map one to it")
    if errors:
        raise ImportError_(errors)
    report.added_fields = added
    return plan, added


def build_properties(source: Source, plan: list[tuple[int, dict]],
                     report: ImportReport) -> list[dict]:
    """Each row's properties converted to the schema types; problems go to the report."""
    rows = [{} for _ in range(len(source))]
    for index, f in plan:
        name, ftype, choices = f["name"], f["type"], f.get("choices")
        required = f.get("required")
        column = source.columns[index]
        # Values the file already types as the schema does need no conversion (the bulk of a
        # large import); strings, and numbers headed for another type, go through coerce.
        native = not source.text_columns and source.types[index] == ftype and ftype in (
            "integer", "decimal", "boolean", "date")
        # Text numbers (CSV) are read with their column's decimal separator in mind.
        numeric_text = source.text_columns and ftype in ("integer", "decimal")
        style = decimal_separator(column) if numeric_text else None
        for n, value in enumerate(column):
            if value is None or value == "":
                if required:
                    report.error(n + 1, name, value, "required")
                continue
            problem = number_problem(value, style, ftype) if numeric_text else None
            if problem:
                report.error(n + 1, name, value, problem)
                continue
            if native:
                # typed by the file, yet maybe beyond the type's range (inf, uint64)
                problem = range_problem(ftype, value)
                if problem:
                    report.error(n + 1, name, value, problem)
                    continue
            else:
                try:
                    value = coerce(ftype, value)
                except CoercionError as exc:
                    report.error(n + 1, name, value, str(exc))
                    continue
            if choices and value not in choices:
                report.error(n + 1, name, value, f"not one of {choices}")
                continue
            rows[n][name] = value
    return rows


# --- PostGIS staging and writing ------------------------------------------------------------

def _area_of_use(srid: int) -> tuple[float, float, float, float]:
    """The CRS's area of use in its own coordinates, widened by a margin: coordinates outside it
    mean the file is not in that CRS (the classic case: PL-2000 metres declared as degrees)."""
    from pyproj import CRS, Transformer

    crs = CRS.from_epsg(srid)
    if srid == 4326 or crs.is_geographic:
        return (-180.0, -90.0, 180.0, 90.0)
    area = crs.area_of_use
    if area is None:
        return (-float("inf"), -float("inf"), float("inf"), float("inf"))
    margin = 0.5
    bounds = (max(area.west - margin, -180), max(area.south - margin, -90),
              min(area.east + margin, 180), min(area.north + margin, 90))
    return Transformer.from_crs(4326, crs, always_xy=True).transform_bounds(*bounds)


def _geometry_sql(layer: Layer, repair: bool) -> str:
    """The staged geometry `g` as it will be stored (before reprojection)."""
    polygonal = layer.geometry_type in ("Polygon", "MultiPolygon")
    fixed = "ST_MakeValid(g)"
    if polygonal:
        fixed = f"ST_CollectionExtract({fixed}, 3)"
    geom = f"CASE WHEN ST_IsValid(g) THEN g ELSE {fixed} END" if repair else "g"
    if layer.geometry_type.startswith("Multi"):
        geom = f"ST_Multi({geom})"
    elif layer.geometry_type != "Geometry":
        geom = f"CASE WHEN ST_NumGeometries({geom}) = 1 THEN ST_GeometryN({geom}, 1) " \
               f"ELSE {geom} END"
    return geom


def _ewkb(wkb: bytes, srid: int) -> bytes:
    """WKB with the SRID inside (PostGIS's EWKB), so the staged rows need no second pass.
    Geometries are 2D (read with force_2d), so the type word is a plain 1..7."""
    order = "little" if wkb[0] == 1 else "big"
    kind = int.from_bytes(wkb[1:5], order) | 0x20000000
    return wkb[:1] + kind.to_bytes(4, order) + srid.to_bytes(4, order) + wkb[5:]


def _stage(cur, source: Source, rows: list[dict]) -> None:
    cur.execute("DROP TABLE IF EXISTS _import")
    cur.execute("CREATE TEMP TABLE _import (n int, g geometry, props jsonb) ON COMMIT DROP")
    buf = io.StringIO()
    dumps = json.dumps
    srid = source.srid
    for n, (wkb, props) in enumerate(zip(source.wkb, rows, strict=True), start=1):
        geom = "\\N" if wkb is None else _ewkb(wkb, srid).hex()
        payload = dumps(props, ensure_ascii=False).replace("\\", "\\\\")
        buf.write(f"{n}\t{geom}\t{payload}\n")
    buf.seek(0)
    cur.copy_expert("COPY _import (n, g, props) FROM STDIN", buf)


def check_geometries(cur, layer: Layer, source: Source, options: ImportOptions,
                     report: ImportReport) -> None:
    """Per-row geometry problems, repairs and the type census, all in PostGIS."""
    srid = source.srid
    xmin, ymin, xmax, ymax = _area_of_use(srid)
    cur.execute("SELECT GeometryType(g), count(*) FROM _import GROUP BY 1 ORDER BY 2 DESC")
    report.geometry_types = {(t or "none"): c for t, c in cur.fetchall()}
    wanted = layer.geometry_type.upper()
    allowed = None if wanted == "GEOMETRY" else [wanted, SINGLE.get(wanted, "MULTI" + wanted)]
    repair = options.invalid == "repair"
    cur.execute(f"""
        SELECT n, CASE
            WHEN g IS NULL OR ST_IsEmpty(g) THEN 'no geometry'
            WHEN NOT (g @ ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, %(srid)s))
                THEN 'coordinates outside the area of use of EPSG:' || %(srid)s
                     || ' (' || round(ST_XMin(g)::numeric, 3) || ' '
                     || round(ST_YMin(g)::numeric, 3) || '): wrong CRS?'
            WHEN %(allowed)s::text[] IS NOT NULL AND NOT GeometryType(g) = ANY(%(allowed)s)
                THEN GeometryType(g) || ' given, layer holds ' || %(wanted)s
            WHEN %(single)s AND ST_NumGeometries(g) > 1
                THEN GeometryType(g) || ' with ' || ST_NumGeometries(g) || ' parts, layer holds '
                     || %(wanted)s
            WHEN NOT ST_IsValid(g) AND NOT %(repair)s
                THEN 'invalid geometry: ' || ST_IsValidReason(g)
            WHEN NOT ST_IsValid(g) AND ST_IsEmpty({_geometry_sql(layer, True)})
                THEN 'invalid geometry that cannot be repaired: ' || ST_IsValidReason(g)
            END AS problem
        FROM _import ORDER BY n""", {
        "xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax, "srid": srid,
        "allowed": allowed, "wanted": layer.geometry_type,
        "single": wanted in ("POINT", "LINESTRING", "POLYGON"), "repair": repair})
    for n, problem in cur.fetchall():
        if problem and not (problem == "no geometry" and n in source.bad_coordinates):
            report.error(n, "geometry", None, problem)
    if repair and not report.error_count:
        cur.execute("SELECT n, ST_IsValidReason(g) FROM _import WHERE NOT ST_IsValid(g) "
                    "ORDER BY n")
        report.repaired = [{"row": n, "reason": reason} for n, reason in cur.fetchall()]


def _write(cur, layer: Layer, options: ImportOptions, report: ImportReport, user,
           batch: uuid.UUID) -> None:
    user_id = user.pk if user is not None and user.is_authenticated else None
    if options.mode == "replace":
        cur.execute(f"""
            WITH gone AS (DELETE FROM {FEATURES} f WHERE f.layer_id = %s
                          RETURNING f.id, f.version, {SNAPSHOT_SQL.format(t='f')} AS snap)
            INSERT INTO {HISTORY} (layer_id, feature_id, action, version, user_id, channel,
                                   batch, before, after, at)
            SELECT %s, id, 'delete', version + 1, %s, %s, %s, snap, NULL, now() FROM gone""",
                    [layer.pk, layer.pk, user_id, CHANNEL, batch])
        report.deleted = cur.rowcount
    geom = _geometry_sql(layer, options.invalid == "repair")
    cur.execute(f"""
        WITH ins AS (
            INSERT INTO {FEATURES} (layer_id, geom, properties, version, created_at, updated_at)
            SELECT %s, ST_Transform({geom}, 4326), props, 1, now(), now()
            FROM _import ORDER BY n
            RETURNING id, geom, properties)
        INSERT INTO {HISTORY} (layer_id, feature_id, action, version, user_id, channel, batch,
                               before, after, at)
        SELECT %s, id, 'create', 1, %s, %s, %s, NULL, {SNAPSHOT_SQL.format(t='ins')}, now()
        FROM ins""", [layer.pk, layer.pk, user_id, CHANNEL, batch])
    report.written = cur.rowcount


def run_import(layer: Layer, path: Path, options: ImportOptions, *, user=None,
               filename: str | None = None) -> ImportReport:
    """Read, check and (unless options.dry_run, and only without problems) write."""
    filename = filename or path.name
    report = ImportReport(filename=filename, layer=layer.slug, dry_run=options.dry_run,
                          mode=options.mode, invalid=options.invalid)
    workdir = Path(tempfile.mkdtemp(prefix="sdi-import-"))
    try:
        try:
            source = read_file(path, filename, options, report, workdir)
            plan, added = map_fields(layer, source, options, report)
        except ImportError_ as exc:
            report.fatal = "; ".join(exc.errors)
            return report
        rows = build_properties(source, plan, report)
        with transaction.atomic():
            locked = Layer.objects.select_for_update().get(pk=layer.pk)
            with connection.cursor() as cur:
                _stage(cur, source, rows)
                check_geometries(cur, locked, source, options, report)
                if options.dry_run or not report.ok:
                    cur.execute("DROP TABLE _import")
                    return report
                batch = uuid.uuid4()
                if added:
                    before = locked.schema
                    locked.schema = {**locked.schema, "fields": locked.fields + added}
                    log_change(locked, before, locked.schema,
                               {"added": [f["name"] for f in added], "file": filename},
                               user=user, channel=CHANNEL, batch=batch)
                _write(cur, locked, options, report, user, batch)
                cur.execute("DROP TABLE _import")
            report.batch = str(batch)
            locked.last_updated = timezone.now()
            locked.save(update_fields=["schema", "last_updated", "updated_at"])
            locked.bump_version()
            ImportRun.objects.create(
                layer=locked, batch=batch, user=user if user and user.is_authenticated else None,
                filename=filename[:255], mode=options.mode, features=report.written,
                report=report.as_dict())
            transaction.on_commit(lambda: layer_changed.send(sender=Layer, layer=locked))
        layer.refresh_from_db()
        return report
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- uploads --------------------------------------------------------------------------------

# A chunked body is read this much at a time, and kept in memory up to SPOOL_MEMORY (then on an
# anonymous temporary file) until it is complete.
READ_CHUNK = 64 * 1024
SPOOL_MEMORY = 2 * 1024 * 1024


def check_upload_size(request) -> tuple[int, str] | None:
    """(status, message) when the upload is refused (413 over the limit, 400 for a broken
    body), None when it may be parsed.

    A declared body (Content-Length) is judged before Django reads a byte of it, so a 500 MB
    upload is refused at once instead of being spooled to disk first. A body sent in chunks
    (Transfer-Encoding: chunked, no Content-Length; gunicorn decodes the chunks) declares no
    size, and Django by itself reads it as empty: it is read here, and refused as soon as it
    passes the limit, without reading the rest; a complete one is handed to Django as though it
    had come with its Content-Length, so the form or DRF parses it as usual. Call this before
    anything touches request.POST, FILES or data."""
    http = getattr(request, "_request", request)  # a DRF Request wraps Django's
    meta = http.META
    limit = max_upload_bytes()
    if meta.get("CONTENT_LENGTH"):
        try:
            length = int(meta["CONTENT_LENGTH"])
        except ValueError:
            return 400, "invalid Content-Length"
        if length > limit:
            return 413, (f"the upload is {length / 2**20:.1f} MB; the limit is "
                         f"{limit / 2**20:.0f} MB (split the file, or load it with manage.py)")
        return None
    if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    return _receive_chunked(http, limit)


def _receive_chunked(http, limit: int) -> tuple[int, str] | None:
    from django.core.handlers.wsgi import LimitedStream

    source = http.META["wsgi.input"]
    body = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - kept below
    size = 0
    while True:
        try:
            chunk = source.read(READ_CHUNK)
        except Exception as exc:  # the server's chunk decoder: bad chunk size, cut off, ...
            body.close()
            return 400, (f"the chunked body is malformed or was cut off after "
                         f"{size / 2**20:.1f} MB ({type(exc).__name__}); send it again")
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            body.close()
            return 413, (f"the upload passed the limit of {limit / 2**20:.0f} MB (it was sent "
                         f"in chunks, without Content-Length, and refused after "
                         f"{size / 2**20:.1f} MB had arrived; split the file, or load it with "
                         "manage.py)")
        body.write(chunk)
    body.seek(0)
    # Django reads the body through request._stream, a LimitedStream of Content-Length bytes
    # (0 when none was sent); give it the complete body and its size. The temporary file goes
    # with the request.
    http.META["CONTENT_LENGTH"] = str(size)
    http._stream = LimitedStream(body, size)
    http._chunked_body = body
    return None


def _safe_name(name: str) -> str:
    base = os.path.basename(name or "upload")
    return re.sub(r"[^\w.\-]+", "_", base)[:120] or "upload"


@contextmanager
def stored_upload(upload):
    """The uploaded file on disk (GDAL reads paths), under its own name, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="sdi-upload-"))
    try:
        path = workdir / _safe_name(upload.name)
        with open(path, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        yield path
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def pending_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def keep_upload(upload) -> str:
    """Keep an upload between the dry run and the confirmed import (admin); returns a token."""
    token = uuid.uuid4().hex
    folder = pending_dir() / token
    folder.mkdir(parents=True)
    with open(folder / _safe_name(upload.name), "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return token


def kept_upload(token: str) -> Path | None:
    if not re.fullmatch(r"[0-9a-f]{32}", token or ""):
        return None
    folder = pending_dir() / token
    files = list(folder.iterdir()) if folder.is_dir() else []
    return files[0] if files else None


def drop_upload(token: str) -> None:
    if re.fullmatch(r"[0-9a-f]{32}", token or ""):
        shutil.rmtree(pending_dir() / token, ignore_errors=True)
