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

The upload is read and nothing else: upload_safety checks its content and unpacks zips within
limits, and GDAL reads a private copy in a child process that knows only the format's driver
and has no network (gdal_sandbox). The web process never loads GDAL for an import; pyproj is
imported where a CRS is checked. A city's own files (layers.city) take the same path.

The modules, in the order an import meets them:

    options      what the form or the API asks (ImportOptions), checked
    uploads      the upload's size limit (chunked bodies too), its file on disk, kept uploads
    readers      the file's format, content checks and GDAL's read (csv_reader for CSV text,
                 numbers for numbers written as text, source for what a read yields)
    mapping      columns onto the layer's fields, values converted to the field types
    staging      PostGIS staging, the geometry checks, the write, the batch and its record
    report       the report every step adds to
    pipeline     run_import: all of it in one call
"""

from layers.importing.options import ImportError_, ImportOptions, parse_crs
from layers.importing.pipeline import run_import
from layers.importing.report import ImportReport, RowError
from layers.importing.uploads import (
    check_upload_size,
    drop_upload,
    keep_upload,
    kept_upload,
    max_upload_bytes,
    pending_dir,
    stored_upload,
)

__all__ = ["ImportError_", "ImportOptions", "ImportReport", "RowError", "check_upload_size",
           "drop_upload", "keep_upload", "kept_upload", "max_upload_bytes", "parse_crs",
           "pending_dir", "run_import", "stored_upload"]
