"""Downloads at /data/<layer>.geojson | .csv | .gpkg, and /data/<layer>.licence.txt. The CSV
comes in two forms (layers.csvfile): plain, and with `?excel=1` the one for Excel in Polish.

GeoJSON and CSV stream as they are read. A GeoPackage is built to a file once per layer version;
a large layer's (over EXPORT_GPKG_SYNC_MAX_FEATURES) would take longer than a request may, so it
is built by a job instead, and until it is ready the answer is 503 with Retry-After.

Public layers for everybody; staff-only layers for staff (anyone else gets the same 404 as for
an unknown layer). The ETag is the layer version, so a client (or a cache) revalidates for free.
"""

from django.conf import settings
from django.http import FileResponse, HttpResponse, HttpResponseNotModified, StreamingHttpResponse
from django.views.decorators.http import require_safe

from layers import csvfile, exporting, permissions
from layers.models import Layer

TYPES = {"geojson": "application/geo+json", "csv": csvfile.CONTENT_TYPE,
         "gpkg": "application/geopackage+sqlite3", "licence.txt": "text/plain; charset=utf-8"}


def _tag(layer: Layer, fmt: str, request, form: csvfile.Form) -> str:
    # Each variant of a CSV (geometry as WKT or lon/lat, plain or for Excel) is its own file.
    variant = [fmt]
    if fmt == "csv":
        geometry = request.GET.get("geometry", "wkt")
        variant += ([geometry] if geometry != "wkt" else []) + \
            ([form.name] if form is not csvfile.PLAIN else [])
    return f'"{layer.slug}-{layer.version}-{"-".join(variant)}"'


def _headers(response, layer: Layer, fmt: str, request,
             form: csvfile.Form = csvfile.PLAIN) -> HttpResponse:
    response["ETag"] = _tag(layer, fmt, request, form)
    public = layer.visibility == Layer.Visibility.PUBLIC
    response["Cache-Control"] = "public, no-cache" if public else "private, no-cache"
    if fmt != "licence.txt":
        name = csvfile.filename(layer.slug, form) if fmt == "csv" else f"{layer.slug}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Link"] = (f'<{request.build_absolute_uri(f"/data/{layer.slug}.licence.txt")}>; '
                            'rel="license"')
    if layer.synthetic:
        response["X-Synthetic-Data"] = "true"
    return response


@require_safe
def download(request, slug: str, fmt: str):
    layer = permissions.get_visible_layer(permissions.request_user(request), slug)
    form = csvfile.PLAIN
    if fmt == "csv":
        try:
            form = csvfile.form_of(request.GET)
            exporting.check_csv_geometry(layer, request.GET.get("geometry", "wkt"))
        except csvfile.FormError as exc:
            return csvfile.error(exc)
        except exporting.ExportError as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    if request.headers.get("If-None-Match") == _tag(layer, fmt, request, form):
        return _headers(HttpResponseNotModified(), layer, fmt, request, form)
    if fmt == "geojson":
        response = StreamingHttpResponse(exporting.geojson_chunks(layer),
                                         content_type=TYPES[fmt])
    elif fmt == "csv":
        response = StreamingHttpResponse(
            exporting.csv_chunks(layer, request.GET.get("geometry", "wkt"), form),
            content_type=TYPES[fmt])
    elif fmt == "gpkg":
        if not exporting.gpkg_path(layer).exists():
            count = layer.features.count()
            if count > settings.EXPORT_GPKG_SYNC_MAX_FEATURES:
                return _being_prepared(layer, count)
        response = FileResponse(open(exporting.gpkg_file(layer), "rb"),  # noqa: SIM115
                                content_type=TYPES[fmt])
    else:
        response = HttpResponse(exporting.licence_text(layer), content_type=TYPES[fmt])
    return _headers(response, layer, fmt, request, form)


def _being_prepared(layer: Layer, count: int) -> HttpResponse:
    # Imported here: the job queue is not needed to serve every other download.
    from layers.tasks import prepare_gpkg_download

    prepare_gpkg_download(layer)
    response = HttpResponse(
        f"Plik GeoPackage warstwy {layer.slug} ({count} obiektów) jest przygotowywany; spróbuj "
        f"ponownie za minutę. Od razu: /data/{layer.slug}.geojson lub .csv.\n"
        f"The GeoPackage of layer {layer.slug} ({count} features) is being prepared; try again "
        f"in a minute. Right away: /data/{layer.slug}.geojson or .csv.\n",
        status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "30"
    response["Cache-Control"] = "no-store"
    return response
