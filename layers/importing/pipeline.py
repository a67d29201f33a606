"""An import as one call: read the file, map its columns onto the layer, convert every value,
stage and check it in PostGIS, and write it (see the package's docstring)."""

import shutil
import tempfile
from pathlib import Path

from layers.importing.mapping import build_properties, map_fields
from layers.importing.options import ImportError_, ImportOptions
from layers.importing.readers import read_file
from layers.importing.report import ImportReport
from layers.importing.staging import no_progress, stage_and_write
from layers.models import Layer


def run_import(layer: Layer, path: Path, options: ImportOptions, *, user=None,
               filename: str | None = None, progress=no_progress) -> ImportReport:
    """Read, check and (unless options.dry_run, and only without problems) write.

    `progress(stage, done, total)` is called at the end of each stage: ("read", n, n) once the
    file is read, ("validated", n, n) once every row is checked, ("written", n, n) once they
    are written (not for a dry run or a refused file). It may raise to stop the import: nothing
    is written then."""
    filename = filename or path.name
    report = ImportReport(filename=filename, layer=layer.slug, dry_run=options.dry_run,
                          mode=options.mode, invalid=options.invalid)
    workdir = Path(tempfile.mkdtemp(prefix="sdi-import-"))
    try:
        try:
            source = read_file(path, filename, options, report, workdir)
            progress("read", len(source), len(source))
            plan, added = map_fields(layer.fields, source, options, report)
        except ImportError_ as exc:
            report.fatal = "; ".join(exc.errors)
            return report
        rows = build_properties(source, plan, report)
        stage_and_write(layer, [(source, rows)], options, report, filename=filename, user=user,
                        added=added, progress=progress)
        return report
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
