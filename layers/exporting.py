"""Exporting a layer as GeoJSON, CSV or GeoPackage without holding it in memory.

Rows come from a server-side cursor a chunk at a time and PostGIS does the geometry encoding
(ST_AsGeoJSON / ST_AsText / ST_AsBinary), so Python only glues text together: memory stays flat
whatever the layer's size. The GeoPackage, a SQLite file, cannot be streamed as it is built; it
is written to disk in batches and cached per layer version, then streamed from there.

Every format carries the layer's licence and attribution: GeoJSON as members of the
FeatureCollection, GeoPackage in its metadata (gpkg_metadata and the layer description), CSV in
a sidecar text (`licence_text`) that the download links to.

numpy and GDAL (pyogrio) are imported by the GeoPackage writer alone: GeoJSON and CSV downloads,
and every process that merely loads this module, do without them.
"""

import datetime
import json
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection

from layers import csvfile
from layers.models import Feature, Layer
from layers.schema import INTEGER_MAX, INTEGER_MIN

FEATURES = Feature._meta.db_table
CHUNK = 5000
GPKG_BATCH = 20000
DECIMALS = 7
BUFFER = 1 << 16


class ExportError(ValueError):
    pass


def metadata(layer: Layer) -> dict:
    """What travels with every download: where the data come from and on what terms."""
    return {
        "title": layer.title_pl, "title_en": layer.title_en, "layer": layer.slug,
        "publisher": layer.publisher, "source": layer.source, "source_url": layer.source_url,
        "licence": layer.licence, "attribution": layer.attribution,
        "data_date": layer.data_date.isoformat() if layer.data_date else None,
        "last_updated": layer.last_updated.isoformat() if layer.last_updated else None,
        "version": layer.version, "synthetic": layer.synthetic,
    }


def licence_text(layer: Layer) -> str:
    meta = metadata(layer)
    lines = [f"{layer.title_pl} ({layer.slug})"]
    if layer.synthetic:
        lines.append("SYNTHETIC DATA: generated for tests or benchmarks, not real "
                     "(dane syntetyczne, nie rzeczywiste).")
    labels = [("attribution", "Attribution / Źródło"), ("licence", "Licence / Licencja"),
              ("publisher", "Publisher / Wydawca"), ("source", "Source / Pochodzenie"),
              ("source_url", "Source URL"), ("data_date", "Data date / Stan na"),
              ("last_updated", "Last updated / Aktualizacja"), ("version", "Layer version")]
    for key, label in labels:
        if meta.get(key) not in (None, ""):
            lines.append(f"{label}: {meta[key]}")
    return "\n".join(lines) + "\n"


def _rows(sql: str, params: list, chunk: int = CHUNK, on_rows=None):
    """Rows of `sql` from a server-side cursor, `chunk` at a time; `on_rows(n)` is told how many
    each batch held (an export job's progress)."""
    with connection.chunked_cursor() as cur:
        cur.itersize = chunk
        cur.execute(sql, params)
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                return
            if on_rows is not None:
                on_rows(len(rows))
            yield rows


def _buffered(pieces, size: int = BUFFER):
    out, length = [], 0
    for piece in pieces:
        out.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(out).encode()
            out, length = [], 0
    if out:
        yield "".join(out).encode()


def geojson_chunks(layer: Layer, on_rows=None):
    """The layer as one GeoJSON FeatureCollection, in byte chunks."""
    def pieces():
        head = {"type": "FeatureCollection", "name": layer.slug, **{
            k: v for k, v in metadata(layer).items() if v not in (None, "")}}
        yield json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [\n'
        first = True
        for rows in _rows(f"SELECT id, ST_AsGeoJSON(geom, {DECIMALS}), properties::text "
                          f"FROM {FEATURES} WHERE layer_id = %s ORDER BY id", [layer.pk],
                          on_rows=on_rows):
            for fid, geom, props in rows:
                sep = "" if first else ",\n"
                first = False
                yield (f'{sep}{{"type": "Feature", "id": {fid}, "geometry": {geom}, '
                       f'"properties": {props}}}')
        yield "\n]}\n"
    return _buffered(pieces())


def csv_columns(layer: Layer, geometry: str) -> list[str]:
    geo = ["lon", "lat"] if geometry == "lonlat" else ["wkt"]
    return ["id", *layer.field_names(), *geo]


def check_csv_geometry(layer: Layer, geometry: str) -> None:
    if geometry not in ("wkt", "lonlat"):
        raise ExportError(f"geometry: expected wkt or lonlat, got {geometry!r}")
    if geometry == "lonlat" and layer.geometry_type != Layer.GeometryType.POINT:
        raise ExportError(f"geometry=lonlat is for point layers; {layer.slug} holds "
                          f"{layer.geometry_type}: use geometry=wkt")


def csv_chunks(layer: Layer, geometry: str = "wkt", form: csvfile.Form = csvfile.PLAIN,
               on_rows=None):
    """The layer as CSV in `form` (layers.csvfile): id, one column per schema field, then WKT
    (or lon/lat for points)."""
    check_csv_geometry(layer, geometry)
    names = layer.field_names()
    props = ", ".join(["properties ->> %s"] * len(names))
    geo = (f"round(ST_X(geom)::numeric, {DECIMALS}), round(ST_Y(geom)::numeric, {DECIMALS})"
           if geometry == "lonlat" else f"ST_AsText(geom, {DECIMALS})")
    sql = (f"SELECT id{', ' + props if names else ''}, {geo} FROM {FEATURES} "
           "WHERE layer_id = %s ORDER BY id")
    # Decimal properties come as text; their column numbers tell the writer they are figures.
    numeric = [1 + i for i, f in enumerate(layer.fields) if f.get("type") == "decimal"]
    return _buffered(csvfile.lines(csv_columns(layer, geometry),
                                   _rows(sql, [*names, layer.pk], on_rows=on_rows), form, numeric))


# --- GeoPackage -----------------------------------------------------------------------------

def _column(ftype: str, values: list) -> tuple:
    """A numpy column of the field's type and its null mask or None (GDAL fields are typed)."""
    import numpy as np

    mask = np.array([v is None for v in values], dtype=bool)

    def convert(cast, empty):
        out = []
        for i, v in enumerate(values):
            if v is None:
                out.append(empty)
                continue
            try:
                out.append(cast(v))
            except (TypeError, ValueError, OverflowError):
                out.append(empty)
                mask[i] = True
        return out
    if ftype == "integer":
        return np.array(convert(_int64, 0), dtype=np.int64), mask
    if ftype == "decimal":
        return np.array(convert(float, np.nan), dtype=np.float64), mask
    if ftype == "boolean":
        return np.array(convert(lambda v: v in ("true", True), False), dtype=bool), mask
    if ftype == "date":
        return np.array(convert(lambda v: np.datetime64(datetime.date.fromisoformat(v[:10])),
                                np.datetime64("NaT", "D")), dtype="datetime64[D]"), mask
    return np.array(values, dtype=object), None


def _int64(value) -> int:
    # The text of the JSON number, read exactly: through float, integers past 2**53 would be
    # rounded. Writes refuse values outside int64 (layers.schema); one stored before that rule
    # is written as null rather than failing the whole download.
    try:
        number = int(value)
    except ValueError:
        number = int(float(value))  # "12.0", "1e3"
    if not INTEGER_MIN <= number <= INTEGER_MAX:
        raise OverflowError(number)
    return number


def write_gpkg(layer: Layer, path: Path, on_rows=None) -> int:
    """Write the layer to a new GeoPackage at `path`, in batches; returns the feature count."""
    import numpy as np
    import pyogrio.raw

    fields = layer.fields
    names = [f["name"] for f in fields]
    props = ", ".join(["properties ->> %s"] * len(names))
    sql = (f"SELECT id, ST_AsBinary(geom){', ' + props if names else ''} FROM {FEATURES} "
           "WHERE layer_id = %s ORDER BY id")
    meta = {k.upper(): str(v) for k, v in metadata(layer).items() if v not in (None, "")}
    description = licence_text(layer).replace("\n", " | ").strip(" |")
    count = 0
    geometry_type = "Unknown" if layer.geometry_type == "Geometry" else layer.geometry_type
    for rows in _rows(sql, [*names, layer.pk], chunk=GPKG_BATCH, on_rows=on_rows):
        columns = list(zip(*rows, strict=True))
        ids = np.array(columns[0], dtype=np.int64)
        geoms = np.array([bytes(g) for g in columns[1]], dtype=object)
        data, masks = [ids], [None]
        for f, values in zip(fields, columns[2:], strict=True):
            array, mask = _column(f["type"], list(values))
            data.append(array)
            masks.append(mask)
        first = count == 0
        pyogrio.raw.write(
            str(path), geoms, data, ["feature_id", *names], field_mask=masks,
            layer=layer.slug, driver="GPKG", geometry_type=geometry_type, crs="EPSG:4326",
            encoding="UTF-8", append=not first, promote_to_multi=False,
            **({"layer_options": {"IDENTIFIER": layer.title_pl[:255] or layer.slug,
                                  "DESCRIPTION": description},
                "dataset_metadata": meta, "layer_metadata": meta} if first else {}))
        count += len(rows)
    if count == 0:
        # An empty layer still downloads: a GeoPackage with the table and its metadata.
        pyogrio.raw.write(
            str(path), np.array([], dtype=object),
            [np.array([], dtype=np.int64)] + [_column(f["type"], [])[0] for f in fields],
            ["feature_id", *names], layer=layer.slug, driver="GPKG",
            geometry_type=geometry_type, crs="EPSG:4326", encoding="UTF-8",
            layer_options={"IDENTIFIER": layer.title_pl[:255] or layer.slug,
                           "DESCRIPTION": description},
            dataset_metadata=meta, layer_metadata=meta)
    return count


def export_dir() -> Path:
    return Path(getattr(settings, "EXPORT_CACHE_DIR", None)
                or Path(settings.MEDIA_ROOT) / "exports")


def gpkg_path(layer: Layer) -> Path:
    """Where the GeoPackage of the layer's current version is cached (it may not be yet)."""
    return export_dir() / f"{layer.slug}-{layer.pk}-v{layer.version}.gpkg"


def gpkg_file(layer: Layer, on_rows=None) -> Path:
    """The layer's GeoPackage for its current version, built once and reused until the layer
    changes (its version is in the name)."""
    folder = export_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = gpkg_path(layer)
    if path.exists():
        return path
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{layer.slug}-", suffix=".gpkg")
    os.close(fd)
    os.unlink(tmp)  # GDAL creates the file itself
    try:
        write_gpkg(layer, Path(tmp), on_rows=on_rows)
        os.replace(tmp, path)  # atomic: a concurrent download sees the old or the whole file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for old in folder.glob(f"{layer.slug}-{layer.pk}-v*.gpkg"):
        if old != path:
            old.unlink(missing_ok=True)
    return path
