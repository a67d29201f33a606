"""Downloads at /data/<layer>.geojson | .csv | .gpkg, and /data/<layer>.licence.txt.

Public layers for everybody; staff-only layers for staff (anyone else gets the same 404 as for
an unknown layer). The ETag is the layer version, so a client (or a cache) revalidates for free.
"""

from django.http import FileResponse, HttpResponse, HttpResponseNotModified, StreamingHttpResponse
from django.views.decorators.http import require_safe

from layers import exporting, permissions
from layers.models import Layer

TYPES = {"geojson": "application/geo+json", "csv": "text/csv; charset=utf-8",
         "gpkg": "application/geopackage+sqlite3", "licence.txt": "text/plain; charset=utf-8"}


def _headers(response, layer: Layer, fmt: str, request) -> HttpResponse:
    response["ETag"] = f'"{layer.slug}-{layer.version}-{fmt}"'
    public = layer.visibility == Layer.Visibility.PUBLIC
    response["Cache-Control"] = "public, no-cache" if public else "private, no-cache"
    if fmt != "licence.txt":
        response["Content-Disposition"] = f'attachment; filename="{layer.slug}.{fmt}"'
        response["Link"] = (f'<{request.build_absolute_uri(f"/data/{layer.slug}.licence.txt")}>; '
                            'rel="license"')
    if layer.synthetic:
        response["X-Synthetic-Data"] = "true"
    return response


@require_safe
def download(request, slug: str, fmt: str):
    layer = permissions.get_visible_layer(permissions.request_user(request), slug)
    tag = f'"{layer.slug}-{layer.version}-{fmt}"'
    if request.headers.get("If-None-Match") == tag:
        return _headers(HttpResponseNotModified(), layer, fmt, request)
    if fmt == "geojson":
        response = StreamingHttpResponse(exporting.geojson_chunks(layer),
                                         content_type=TYPES[fmt])
    elif fmt == "csv":
        try:
            chunks = exporting.csv_chunks(layer, request.GET.get("geometry", "wkt"))
        except exporting.ExportError as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
        response = StreamingHttpResponse(chunks, content_type=TYPES[fmt])
    elif fmt == "gpkg":
        response = FileResponse(open(exporting.gpkg_file(layer), "rb"),  # noqa: SIM115
                                content_type=TYPES[fmt])
    else:
        response = HttpResponse(exporting.licence_text(layer), content_type=TYPES[fmt])
    return _headers(response, layer, fmt, request)
