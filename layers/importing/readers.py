"""Reading an import's file: GeoJSON, GeoPackage, Shapefile (zipped; or by its .shp for a city's
own files) and CSV (layers.importing.csv_reader).

The file's content must be what its name says (layers.importing.upload_safety), and GDAL reads
a copy of it in the import's own folder with that format's driver alone, in a child process
without network (layers.importing.gdal_sandbox). A read is planned (checked, copied or
unpacked), then read, then finished (see layers.importing.source); `read_file` does all three
for one file, `read_plans` reads many with one child process per driver.
"""

import shutil
from functools import partial
from pathlib import Path

from layers.importing import gdal_sandbox, upload_safety
from layers.importing.csv_reader import plan_csv
from layers.importing.gdal_sandbox import ReadRequest
from layers.importing.options import ImportError_, ImportOptions
from layers.importing.report import ImportReport
from layers.importing.source import ReadPlan, Source, detect_encoding

FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage",
           ".zip": "Shapefile (zip)", ".csv": "CSV"}
# Files on the server (a city's own files) may also be a Shapefile named by its .shp, with its
# parts beside it; an upload is one file, so its Shapefile comes zipped.
LOCAL_FORMATS = {**FORMATS, ".shp": "Shapefile"}
# GDAL's driver for each format: the only one that may open a file of that format.
DRIVERS = {"GeoJSON": "GeoJSON", "GeoPackage": "GPKG", "Shapefile": "ESRI Shapefile",
           "CSV": "CSV"}
SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg")


def parse_srid(crs: str | None) -> int | None:
    """The EPSG code of a CRS as GDAL names it ("EPSG:2178", "OGC:CRS84"); None otherwise."""
    if not crs:
        return None
    auth, _, code = crs.partition(":")
    if auth.upper() == "OGC" and code.upper() == "CRS84":
        return 4326
    if auth.upper() == "EPSG" and code.isdigit():
        return int(code)
    return None


def read_file(path: Path, filename: str, options: ImportOptions, report: ImportReport,
              workdir: Path) -> Source:
    """What the upload at `path` (named `filename` by the client) holds. Its content must be
    what its name says (upload_safety), and GDAL reads it with that format's driver alone,
    from a copy in `workdir` that holds nothing else."""
    result = read_plans([plan_read(path, filename, options, report, workdir)])[0]
    if isinstance(result, ImportError_):
        raise result
    return result


def plan_read(path: Path, filename: str, options: ImportOptions, report: ImportReport,
              workdir: Path, *, stem: str = "data", formats: dict = FORMATS) -> ReadPlan:
    """Check the file at `path` and put what GDAL is to read into `workdir` as <stem>.<ext>."""
    ext = Path(filename).suffix.lower()
    fmt = formats.get(ext)
    if fmt is None:
        raise ImportError_([f"unsupported file type {ext or '(none)'}: upload .geojson, .gpkg, "
                            ".zip (a Shapefile with its .shx, .dbf and .prj) or .csv"])
    report.format = fmt
    if path.stat().st_size == 0:
        raise ImportError_(["the file is empty"])
    name = upload_safety.client_name(filename)
    try:
        upload_safety.check_content(path, fmt, name)
        if ext == ".csv":
            return plan_csv(path, filename, options, report, workdir / f"{stem}.csv")
        if ext == ".zip":
            parts = upload_safety.unpack_shapefile(path, name, workdir, options.source_layer,
                                                   as_stem=stem)
            return _plan_shapefile(parts, filename, options, report)
        if ext == ".shp":
            parts = _copy_shapefile(path, workdir, stem)
            return _plan_shapefile(parts, filename, options, report)
    except upload_safety.UploadRefused as exc:
        raise ImportError_([str(exc)]) from None
    gpkg = fmt == "GeoPackage"
    copy = workdir / (f"{stem}.gpkg" if gpkg else f"{stem}.geojson")
    shutil.copyfile(path, copy)
    request = ReadRequest(copy, layer=options.source_layer if gpkg else None,
                          list_layers=gpkg, encoding=options.encoding)
    return ReadPlan(filename, fmt, DRIVERS[fmt], request, options, report)


def _copy_shapefile(path: Path, folder: Path, stem: str) -> upload_safety.ShapefileParts:
    """A Shapefile on the server, with its parts, copied into `folder` as <stem>.shp, ..."""
    shutil.copyfile(path, folder / f"{stem}.shp")
    for ext in SHAPEFILE_PARTS:
        part = next((p for p in (path.with_suffix(ext), path.with_suffix(ext.upper()))
                     if p.exists()), None)
        if part is not None:
            shutil.copyfile(part, folder / f"{stem}{ext}")
        elif ext in (".shx", ".dbf"):
            raise upload_safety.UploadRefused(f"{path.stem}{ext} is missing beside {path.name}")
    return upload_safety.ShapefileParts(
        shp=folder / f"{stem}.shp", stem=path.stem, has_prj=(folder / f"{stem}.prj").exists(),
        has_cpg=(folder / f"{stem}.cpg").exists())


def _plan_shapefile(parts: upload_safety.ShapefileParts, filename: str,
                    options: ImportOptions, report: ImportReport) -> ReadPlan:
    if not parts.has_prj and options.srid is None:
        raise ImportError_([f"{parts.stem}.prj is missing, so the CRS is unknown: choose "
                            "it (e.g. EPSG:2178 for PL-2000 zone 7, EPSG:2180 for PUWG 1992)"])
    encoding = options.encoding
    if encoding is None and not parts.has_cpg:
        # No .cpg: look at the attribute bytes themselves (Polish DBFs are often CP1250).
        dbf = parts.shp.with_suffix(".dbf").read_bytes()
        header_len = int.from_bytes(dbf[8:10], "little") if len(dbf) > 10 else 0
        encoding = detect_encoding([dbf[header_len:]])
    return ReadPlan(filename, "Shapefile", DRIVERS["Shapefile"],
                    ReadRequest(parts.shp, encoding=encoding), options, report,
                    finish=partial(_name_encoding, encoding=encoding or "from .cpg",
                                   report=report))


def _name_encoding(source: Source, *, encoding: str, report: ImportReport) -> None:
    source.encoding = encoding
    report.encoding = encoding


def read_plans(plans: list[ReadPlan]) -> list[Source | ImportError_]:
    """Read every planned file, one GDAL child process per driver (the files share their
    folder); per plan, its finished Source, or the ImportError_ that says why there is none."""
    reads: dict[int, object] = {}
    for driver in sorted({p.driver for p in plans}):
        batch = [i for i, p in enumerate(plans) if p.driver == driver]
        try:
            results = gdal_sandbox.read_vectors([plans[i].request for i in batch], driver)
        except gdal_sandbox.ReadError as exc:  # the child stopped: no file of it was read
            results = [exc] * len(batch)
        reads.update(zip(batch, results, strict=True))
    sources = []
    for i, plan in enumerate(plans):
        try:
            sources.append(_finish(plan, reads[i]))
        except ImportError_ as exc:
            sources.append(exc)
    return sources


def _finish(plan: ReadPlan, read) -> Source:
    if isinstance(read, gdal_sandbox.ReadError):
        name = upload_safety.client_name(plan.filename)
        message = upload_safety.scrub(str(read), plan.request.path, name)
        if "not recognized as being in a supported file format" in message:
            # GDAL's words when the one driver allowed finds nothing it can read.
            message = f"{name} is not valid {plan.format}"
        raise ImportError_([f"GDAL could not read the file as {plan.format}: {message}"])
    if plan.request.list_layers and read.layer is None:
        names, layer = read.layers or [], plan.request.layer
        if layer:
            raise ImportError_([f"no layer {layer!r} in the file; it has {', '.join(names)}"])
        if names:
            raise ImportError_([f"the file holds {len(names)} layers ({', '.join(names)}): "
                                "choose one"])
        raise ImportError_(["the file holds no layers"])
    source = Source(format=plan.format, srid=parse_srid(read.crs) if read.crs else None,
                    detected_crs=read.crs, names=read.names,
                    types=[gdal_sandbox.schema_type(t) for t in read.dtypes],
                    columns=read.columns, wkb=read.wkb, layer_name=read.layer)
    if plan.finish:
        plan.finish(source)
    return _checked(source, plan.options, plan.report)


def _checked(source: Source, options: ImportOptions, report: ImportReport) -> Source:
    """The source with the CRS chosen in the options, if any; refused without a known CRS or
    without features."""
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
