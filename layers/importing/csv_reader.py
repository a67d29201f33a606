"""CSV files: text encoding, separator, the coordinate columns, and points read from them.

The text is decoded here (UTF-8 or CP1250, detected, or as chosen) and handed to GDAL's CSV
driver re-encoded as UTF-8, every value as text: the layer schema types them later
(layers.importing.mapping). Coordinates come from X/Y (or lon/lat) columns, read with the
number rules of layers.importing.numbers, or from a WKT column that GDAL reads.
"""

import csv
import io
import struct
from functools import partial
from pathlib import Path

from layers.importing import upload_safety
from layers.importing.gdal_sandbox import ReadRequest
from layers.importing.numbers import csv_number, decimal_separator
from layers.importing.options import ImportError_, ImportOptions
from layers.importing.report import ImportReport
from layers.importing.source import ReadPlan, Source, detect_encoding

# Column names GDAL's CSV driver is told to take coordinates from, most specific first.
LON_NAMES = ["lon", "lng", "long", "longitude", "dlugosc", "długość"]
LAT_NAMES = ["lat", "latitude", "szerokosc", "szerokość"]
X_NAMES = ["x", "easting", "e"]
Y_NAMES = ["y", "northing", "n"]
WKT_NAMES = ["wkt", "geometry", "geom", "the_geom"]


def plan_csv(path: Path, filename: str, options: ImportOptions, report: ImportReport,
             copy: Path) -> ReadPlan:
    """Decode the CSV at `path`, write it as UTF-8 to `copy`, and find its coordinates."""
    raw = path.read_bytes()
    upload_safety.check_text(raw, upload_safety.client_name(filename))
    text, encoding = _decode(raw, options.encoding)
    report.encoding = encoding
    # GDAL reads UTF-8: hand it the text re-encoded, whatever the file's encoding was.
    copy.write_text(text, encoding="utf-8")
    header_line = text.split("\n", 1)[0]
    sep = ";" if header_line.count(";") > header_line.count(",") else ","
    header = [h.strip().strip('"') for h in header_line.strip("\r").split(sep)]
    if not any(header) or len(text.strip().splitlines()) < 2:
        raise ImportError_(["the CSV has no data rows"])
    report.notes.append(f"fields separated by {sep!r}")
    _check_row_lengths(text, sep, report)

    open_options = {"AUTODETECT_TYPE": "NO", "KEEP_GEOM_COLUMNS": "NO",
                    "SEPARATOR": "SEMICOLON" if sep == ";" else "COMMA"}
    x, y, wkt, srid = _coordinate_columns(header, options, report)
    if wkt:
        open_options.update(GEOM_POSSIBLE_NAMES=wkt)
    return ReadPlan(filename, "CSV", "CSV", ReadRequest(copy, open_options=open_options),
                    options, report, finish=partial(_finish, srid=srid, encoding=encoding, x=x,
                                                    y=y, report=report))


def _decode(raw: bytes, encoding: str | None) -> tuple[str, str]:
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
    return text.removeprefix("\ufeff"), encoding


def _pick(names: list[str], wanted: list[str]) -> str | None:
    lowered = {n.lower().strip(): n for n in names}
    for w in wanted:
        if w in lowered:
            return lowered[w]
    return None


def _coordinate_columns(header: list[str], options: ImportOptions, report: ImportReport):
    """(x, y, wkt, srid): the X/Y columns or the WKT column, and the CRS they are in."""
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
    else:
        raise ImportError_([f"no coordinate columns found among {', '.join(header)}: name the "
                            "X and Y (or lon/lat) columns, or give a WKT column"])
    return (x, y, None, srid) if x and y else (None, None, wkt, srid)


def _check_row_lengths(text: str, sep: str, report: ImportReport) -> None:
    """Rows with more or fewer values than the header has columns. GDAL would cut the extra
    values off (or leave missing ones empty) without a word: "20,63" unquoted in a comma-
    separated file becomes two values, and the coordinates would silently be wrong."""
    records = (r for r in csv.reader(io.StringIO(text), delimiter=sep) if r)
    columns = len(next(records))
    for n, record in enumerate(records, start=1):  # blank lines are no rows, for GDAL too
        if len(record) != columns:
            hint = (" (decimal commas in a comma-separated file? quote such values, or "
                    "separate the fields with ';')" if sep == "," and len(record) > columns
                    else "")
            report.error(n, "", sep.join(record)[:200],
                         f"{len(record)} values for {columns} columns{hint}")


def _finish(source: Source, *, srid: int | None, encoding: str, x: str | None, y: str | None,
            report: ImportReport) -> None:
    source.srid = srid
    source.detected_crs = None
    source.encoding = encoding
    source.text_columns = True
    if x and y:
        points_from_columns(source, x, y, report)


def points_from_columns(source: Source, x: str, y: str, report: ImportReport) -> None:
    """Point geometries from the X/Y (lon/lat) text columns, read with the number rules of the
    attributes (decimal comma or point, spaces between thousands); each unreadable or
    ambiguous coordinate is a row error naming the column and the value. GDAL's own X/Y
    reading would turn "1.234,5" or "7 473 914,7" into a wrong number without a word."""
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
