"""Layer work run by the job queue (jobs): exports to files, and the daily upkeep.

Exports (`POST /api/layers/<slug>/exports/`, layers.export_api) write the layer as it is when the
job runs into media storage (`job-exports/<job>/`), under a temporary name until complete; the
job's result links the download, which checks the same rights as the layer itself. Files go
after EXPORT_KEEP_DAYS.
"""

import datetime
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from jobs import JobError, submit, task
from jobs.models import Job
from layers import csvfile, exporting
from layers.lifecycle import purge_deleted_layers
from layers.models import Layer

EXPORT_KIND = "layers.export"
EXPORT_FOLDER = "job-exports"
FORMATS = ("gpkg", "geojson", "csv")


def export_filename(slug: str, fmt: str, excel: bool = False) -> str:
    if fmt == "csv":
        return csvfile.filename(slug, csvfile.EXCEL if excel else csvfile.PLAIN)
    return f"{slug}.{fmt}"


def export_name(job_id: int, filename: str) -> str:
    return f"{EXPORT_FOLDER}/{job_id}/{filename}"


@task(EXPORT_KIND, errors=(exporting.ExportError,))
def export_layer(job, progress):
    options = job.payload
    layer = Layer.objects.filter(pk=options["layer"]).first()
    if layer is None:
        raise JobError(f"layer {options['slug']!r} was deleted before its export ran")
    fmt = options["format"]
    total = layer.features.count()
    progress.update("features", 0, total, force=True)

    def on_rows(n):
        progress.advance("features", n)

    filename = export_filename(layer.slug, fmt, options.get("excel", False))
    folder = exporting.export_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".job-{job.pk}-"))
    try:
        path = tmp / filename
        if fmt == "gpkg":
            exporting.write_gpkg(layer, path, on_rows=on_rows)
        else:
            chunks = (exporting.geojson_chunks(layer, on_rows=on_rows) if fmt == "geojson" else
                      exporting.csv_chunks(layer, options.get("geometry", "wkt"),
                                           csvfile.EXCEL if options.get("excel")
                                           else csvfile.PLAIN, on_rows=on_rows))
            with open(path, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        size = path.stat().st_size
        with open(path, "rb") as f:
            stored = default_storage.save(export_name(job.pk, filename), File(f))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    progress.update("features", total, total, force=True)
    expires = timezone.now() + datetime.timedelta(days=settings.EXPORT_KEEP_DAYS)
    return {"layer": layer.slug, "version": layer.version, "format": fmt,
            "features": total, "bytes": size, "filename": stored.rsplit("/", 1)[-1],
            "expires_at": expires.isoformat(),
            "links": {"download": f"/api/layers/{layer.slug}/exports/{job.pk}/file",
                      "layer": f"/api/layers/{layer.slug}/",
                      "licence": f"/data/{layer.slug}.licence.txt"}}


GPKG_DOWNLOAD_KIND = "layers.gpkg_download"


def prepare_gpkg_download(layer: Layer) -> None:
    """Queue the build of /data/<layer>.gpkg for the layer's current version, unless one is
    already queued or running."""
    waiting = Job.objects.filter(kind=GPKG_DOWNLOAD_KIND, state__in=Job.UNFINISHED,
                                 payload__layer=layer.pk, payload__version=layer.version)
    if not waiting.exists():
        submit(GPKG_DOWNLOAD_KIND, {"layer": layer.pk, "slug": layer.slug,
                                    "version": layer.version}, concerns=layer, label=layer.slug)


@task(GPKG_DOWNLOAD_KIND)
def build_gpkg_download(job, progress):
    layer = Layer.objects.filter(pk=job.payload["layer"]).first()
    if layer is None:
        raise JobError(f"layer {job.payload['slug']!r} was deleted before its GeoPackage was "
                       "built")
    total = layer.features.count()
    progress.update("features", 0, total, force=True)
    exporting.gpkg_file(layer, on_rows=lambda n: progress.advance("features", n))
    return {"layer": layer.slug, "version": layer.version, "features": total,
            "links": {"download": f"/data/{layer.slug}.gpkg"}}


@task("layers.purge_exports", periodic="20 3 * * *")
def purge_old_exports(job, progress):
    """Daily: export files older than EXPORT_KEEP_DAYS."""
    cutoff = timezone.now() - datetime.timedelta(days=settings.EXPORT_KEEP_DAYS)
    removed = 0
    try:
        folders = default_storage.listdir(EXPORT_FOLDER)[0]
    except FileNotFoundError:
        folders = []
    for folder in folders:
        for name in default_storage.listdir(f"{EXPORT_FOLDER}/{folder}")[1]:
            path = f"{EXPORT_FOLDER}/{folder}/{name}"
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)
                removed += 1
    return {"removed": removed, "older_than": cutoff.isoformat()}


@task("layers.purge_deleted", periodic="10 3 * * *")
def purge_deleted(job, progress):
    """Daily, as the README asks: layers deleted more than LAYER_RETENTION_DAYS ago go for good
    (what `manage.py purge_deleted_layers` does)."""
    return {"purged": purge_deleted_layers()}
