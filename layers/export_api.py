"""Exports as jobs: `POST /api/layers/<slug>/exports/` queues the layer's export to a file and
answers 202 with the job's address (`/api/jobs/<id>/`, which links the file when it is ready);
`GET /api/layers/<slug>/exports/<job>/file` downloads it.

For large layers, where a download could outlast the web server's timeout, or to keep a copy of
the layer as it is now. The streamed `/data/<layer>.<format>` downloads stay as they are.

Rights: the layer's (a hidden layer is 404, before anything says 401), and exporting needs an
account, since it spends the server's time; the file is for whoever may read the job (who asked,
and staff) and may still read the layer: a layer made staff-only later is no longer
downloadable by others.
"""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.response import Response

import jobs
from jobs.api import JobSerializer, visible_jobs
from jobs.models import Job
from layers import csvfile, exporting, permissions
from layers.api import LayerAPIView, _bad_request
from layers.downloads import TYPES
from layers.models import Layer
from layers.tasks import EXPORT_KIND, FORMATS, export_filename, export_name
from sdi.input_guard import FormParser, JSONParser, MultiPartParser

OPTIONS = {"format", "geometry", "excel"}


def _options(layer: Layer, data) -> dict:
    """The export's options from the request body, each checked; ValueError lists problems."""
    errors = [f"{name}: unknown option (known: {', '.join(sorted(OPTIONS))})"
              for name in data if name not in OPTIONS]
    fmt = str(data.get("format", "")).strip().lower()
    if fmt not in FORMATS:
        errors.append(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    options = {"layer": layer.pk, "slug": layer.slug, "format": fmt}
    if fmt == "csv":
        geometry = str(data.get("geometry", "wkt"))
        try:
            exporting.check_csv_geometry(layer, geometry)
            excel = csvfile.form_of({"excel": str(data.get("excel", ""))}) is csvfile.EXCEL
        except (exporting.ExportError, csvfile.FormError) as exc:
            errors.append(str(exc))
        else:
            options.update(geometry=geometry, excel=excel)
    elif fmt in FORMATS:
        errors += [f"{name}: only for format csv" for name in ("geometry", "excel")
                   if name in data]
    if errors:
        raise ValueError(errors)
    return options


class LayerExports(LayerAPIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=inline_serializer("ExportRequest", {
            "format": serializers.ChoiceField(choices=list(FORMATS)),
            "geometry": serializers.ChoiceField(choices=["wkt", "lonlat"], default="wkt",
                                                help_text="csv only; lonlat for point layers"),
            "excel": serializers.BooleanField(default=False,
                                              help_text="csv only: the form for Excel set to "
                                                        "Polish")}),
        responses={202: JobSerializer, 400: OpenApiResponse(description="bad option, named"),
                   401: OpenApiResponse(description="not authenticated"),
                   404: OpenApiResponse(description="no such layer (or hidden)")},
        description="Queue an export of the layer to a file (GeoPackage, GeoJSON or CSV) as a "
                    "job; answers 202 with the job (Location: its address). Poll the job: "
                    "when it has succeeded, `links.download` is the file. The same export "
                    "already queued or running for you is answered with that job.")
    def post(self, request, slug):
        layer = permissions.get_visible_layer(request.user, slug)
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        if not hasattr(request.data, "get"):
            return _bad_request(["the body must be an object with the export's options"])
        try:
            options = _options(layer, request.data)
        except ValueError as exc:
            return _bad_request(exc.args[0])
        job = Job.objects.filter(kind=EXPORT_KIND, user=request.user, payload=options,
                                 state__in=(Job.State.QUEUED, Job.State.RUNNING)).first()
        if job is None:
            job = jobs.submit(EXPORT_KIND, options, user=request.user, concerns=layer,
                              label=layer.slug)
        body = JobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": body["links"]["self"]})


class LayerExportFile(LayerAPIView):
    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiResponse(description="the file"),
                   404: OpenApiResponse(description="no such export for you, or not ready"),
                   410: OpenApiResponse(description="the file has expired")},
        description="The file an export job made (see links.download of the job).")
    def get(self, request, slug, job_id):
        layer = permissions.get_visible_layer(request.user, slug)
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        job = visible_jobs(request.user).filter(
            pk=job_id, kind=EXPORT_KIND, state=Job.State.SUCCEEDED,
            payload__layer=layer.pk).first()
        if job is None:
            raise Http404(f"no finished export {job_id} of layer {slug!r}")
        options = job.payload
        filename = export_filename(layer.slug, options["format"], options.get("excel", False))
        name = export_name(job.pk, (job.result or {}).get("filename") or filename)
        if not default_storage.exists(name):
            return Response({"detail": f"the file of export {job.pk} has expired; export the "
                                       "layer again"}, status=status.HTTP_410_GONE)
        response = FileResponse(default_storage.open(name, "rb"),
                                content_type=TYPES[options["format"]], as_attachment=True,
                                filename=filename)
        response["Cache-Control"] = "private, no-cache"
        response["Link"] = (f'<{request.build_absolute_uri(f"/data/{layer.slug}.licence.txt")}>;'
                            ' rel="license"')
        return response
