"""REST API for layers and features (GeoJSON), with optimistic locking, history and import.

Thin views: permissions come from layers.permissions, every feature write goes through
layers.editing, history and reverts through layers.history, schema changes through
layers.schema_changes, imports through layers.importing. A layer the user may not see is
answered 404 like an unknown one; a visible layer the user may not edit, 403.

Concurrency: every feature response carries `ETag: "<id>-<version>"`. PUT, PATCH and DELETE
must send it back in `If-Match` (428 without it); a stale one gets 412 and changes nothing.
"""

import json
import uuid

from django.contrib.gis.db.models.functions import AsGeoJSON
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, Polygon
from django.db import transaction
from django.db.models import Count
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotAuthenticated, ParseError, PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_gis.pagination import GeoJsonPagination

from layers import editing, history, importing, lifecycle, permissions
from layers.models import Feature, FeatureHistory, ImportRun, Layer
from layers.schema import CoercionError, coerce, validate_schema
from layers.schema_changes import SchemaChangeError, change_schema
from sdi.input_guard import FormParser, JSONParser, MultiPartParser

GEOJSON_DECIMALS = 7
RESERVED_PARAMS = {"page", "page_size", "in_bbox", "format"}


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "the feature changed since you read it"
    default_code = "precondition_failed"


class PreconditionRequired(APIException):
    status_code = 428
    default_detail = ("If-Match is required: GET the feature and send its ETag back, so that "
                      "a concurrent edit cannot be overwritten silently")
    default_code = "precondition_required"


def _bad_request(errors: list[str]) -> Response:
    return Response({"detail": "; ".join(errors), "errors": errors},
                    status=status.HTTP_400_BAD_REQUEST)


def _layer_for_read(request, slug: str) -> Layer:
    return permissions.get_visible_layer(request.user, slug)


def _layer_for_write(request, slug: str) -> Layer:
    layer = _layer_for_read(request, slug)
    if not request.user.is_authenticated:
        raise NotAuthenticated()
    if not permissions.can_edit(request.user, layer):
        raise PermissionDenied(f"you are not in an editor group of layer {slug!r}")
    return layer


class LayerAPIView(APIView):
    # Rights are checked in the views (layers.permissions): a hidden layer must be 404 before
    # anything says 401 or 403.
    permission_classes = [AllowAny]


# --- layers ---------------------------------------------------------------------------------

class LayerSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="title_pl", max_length=200)
    description = serializers.CharField(source="description_pl", required=False,
                                        allow_blank=True)
    editor_groups = serializers.SlugRelatedField(
        many=True, slug_field="name", required=False,
        queryset=Layer.editor_groups.field.related_model.objects.all())
    feature_count = serializers.IntegerField(read_only=True, source="n_features", default=None)
    links = serializers.SerializerMethodField()
    schema_renames = serializers.DictField(child=serializers.CharField(), write_only=True,
                                           required=False,
                                           help_text="Fields renamed by this update: "
                                                     "{old: new}; values move along.")
    schema_allow_drop = serializers.BooleanField(
        write_only=True, required=False, default=False,
        help_text="Allow removing fields whose values would be lost.")

    class Meta:
        model = Layer
        fields = ("slug", "title", "title_en", "description", "description_en", "geometry_type",
                  "visibility", "role", "name_field", "schema", "editor_groups", "publisher",
                  "publisher_type", "source", "source_url", "licence", "attribution",
                  "update_frequency", "data_date", "issued", "last_updated", "quality_notes",
                  "quality_notes_en", "keywords", "theme",
                  "native_crs", "synthetic", "tile_minzoom", "tile_maxzoom",
                  "tile_feature_limit", "version", "feature_count", "links",
                  "schema_renames", "schema_allow_drop")
        read_only_fields = ("version", "last_updated")

    def validate(self, attrs):
        def current(name):
            return attrs.get(name, getattr(self.instance, name, None) if self.instance
                             else Layer._meta.get_field(name).get_default())
        low, high = current("tile_minzoom"), current("tile_maxzoom")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"tile_minzoom": [f"must not exceed tile_maxzoom ({high}), got {low}"]})
        return attrs

    def get_links(self, layer) -> dict:
        request = self.context.get("request")

        def url(path):
            return request.build_absolute_uri(path) if request else path
        return {"self": url(f"/api/layers/{layer.slug}/"),
                "features": url(f"/api/layers/{layer.slug}/features/"),
                "geojson": url(f"/data/{layer.slug}.geojson"),
                "csv": url(f"/data/{layer.slug}.csv"),
                "csv_excel": url(f"/data/{layer.slug}.csv?excel=1"),
                "gpkg": url(f"/data/{layer.slug}.gpkg")}

    def validate_schema(self, value):
        if not isinstance(value, dict) or not isinstance(value.get("fields", []), list):
            raise serializers.ValidationError('expected {"fields": [{"name", "type", ...}]}')
        errors = validate_schema(value)
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate_slug(self, value):
        if self.instance is None and Layer.all_objects.filter(slug=value).exists():
            raise serializers.ValidationError(
                f"slug {value!r} is taken (possibly by a deleted layer awaiting purge)")
        if self.instance is not None and value != self.instance.slug:
            raise serializers.ValidationError("the slug of a layer cannot change (URLs and "
                                              "downloads depend on it)")
        return value

    def create(self, validated):
        validated.pop("schema_renames", None)
        validated.pop("schema_allow_drop", None)
        return super().create(validated)

    def update(self, layer, validated):
        renames = validated.pop("schema_renames", None)
        allow_drop = validated.pop("schema_allow_drop", False)
        new_schema = validated.pop("schema", None)
        with transaction.atomic():
            layer = super().update(layer, validated)
            if new_schema is not None and (new_schema != layer.schema or renames):
                change_schema(layer, new_schema, renames=renames, allow_drop=allow_drop,
                              user=self.context["request"].user, channel="api")
        return layer


def _check_fields(request, layer: Layer | None) -> None:
    """The one rule for what a client may send to create (`layer` None) or update a layer:
    a field the API does not know, or one the server sets (read-only), is a 400 naming it;
    a registry field (layers.permissions.REGISTRY_FIELDS: visibility, editor groups, tile
    settings) set to anything but its current value (its default, on creation) needs
    layers.change_layer, else 403 naming it. Sending back what was read is allowed, so a
    GET, edit, PUT round trip works."""
    serializer = LayerSerializer(layer, context={"request": request})
    fields = serializer.fields
    sent = request.data
    unknown = sorted(k for k in sent if k not in fields)
    if unknown:
        writable = ", ".join(sorted(k for k, f in fields.items() if not f.read_only))
        raise serializers.ValidationError({k: [f"unknown field; a client may set: {writable}"]
                                           for k in unknown})
    current = serializer.data if layer is not None else {}
    read_only = sorted(k for k in sent if fields[k].read_only
                       and (layer is None or sent[k] != current.get(k)))
    if read_only:
        raise serializers.ValidationError({k: ["read-only: the server sets it"]
                                           for k in read_only})
    if permissions.can_manage(request.user, "change"):
        return
    changed = [k for k in permissions.REGISTRY_FIELDS
               if k in sent and not _unchanged(fields[k], sent[k], layer)]
    if changed:
        raise PermissionDenied(f"{', '.join(changed)}: set only by users with the "
                               "layers.change_layer permission")


def _unchanged(field, sent, layer: Layer | None) -> bool:
    try:
        value = field.run_validation(sent)
    except serializers.ValidationError:
        return False  # not even valid: certainly not the current value
    if field.field_name == "editor_groups":
        before = set(layer.editor_groups.values_list("pk", flat=True)) if layer else set()
        return {g.pk for g in value} == before
    before = getattr(layer, field.source) if layer is not None \
        else Layer._meta.get_field(field.source).get_default()
    return value == before


def _layers_qs(user):
    return permissions.visible_layers(user).annotate(n_features=Count("features")).prefetch_related(
        "editor_groups")


class LayerList(LayerAPIView):

    @extend_schema(responses=LayerSerializer(many=True))
    def get(self, request):
        layers = _layers_qs(request.user)
        return Response(LayerSerializer(layers, many=True, context={"request": request}).data)

    @extend_schema(request=LayerSerializer, responses={201: LayerSerializer})
    def post(self, request):
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        if not permissions.can_manage(request.user, "add"):
            raise PermissionDenied("creating layers needs the layers.add_layer permission")
        _check_fields(request, None)
        serializer = LayerSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        layer = serializer.save()
        return Response(LayerSerializer(layer, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class LayerDetail(LayerAPIView):

    def _get(self, request, slug):
        return permissions.get_visible_layer(request.user, slug, _layers_qs(request.user))

    @extend_schema(responses=LayerSerializer)
    def get(self, request, slug):
        return Response(LayerSerializer(self._get(request, slug),
                                        context={"request": request}).data)

    def _update(self, request, slug, partial):
        if permissions.can_manage(request.user, "change"):
            layer = _layer_for_read(request, slug)
        else:
            layer = _layer_for_write(request, slug)
        data = request.data
        if not isinstance(data, dict):
            raise ParseError("the body must be a JSON object: the layer's fields")
        _check_fields(request, self._get(request, slug))
        serializer = LayerSerializer(layer, data=data, partial=partial,
                                     context={"request": request})
        serializer.is_valid(raise_exception=True)
        try:
            layer = serializer.save()
        except SchemaChangeError as exc:
            return _bad_request([f"schema: {e}" for e in exc.errors])
        return Response(LayerSerializer(self._get(request, layer.slug),
                                        context={"request": request}).data)

    @extend_schema(request=LayerSerializer, responses=LayerSerializer)
    def put(self, request, slug):
        return self._update(request, slug, partial=False)

    @extend_schema(request=LayerSerializer, responses=LayerSerializer)
    def patch(self, request, slug):
        return self._update(request, slug, partial=True)

    @extend_schema(responses={204: None})
    def delete(self, request, slug):
        layer = _layer_for_read(request, slug)
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        if not permissions.can_manage(request.user, "delete"):
            raise PermissionDenied("deleting layers needs the layers.delete_layer permission")
        lifecycle.delete_layer(layer, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LayerRestore(LayerAPIView):
    """Undo the deletion of a layer (possible for 30 days)."""

    @extend_schema(request=None, responses=LayerSerializer)
    def post(self, request, slug):
        if not permissions.can_manage(request.user, "delete"):
            raise Http404(f"no deleted layer {slug!r}")
        layer = Layer.all_objects.filter(slug=slug, deleted_at__isnull=False).first()
        if layer is None:
            raise Http404(f"no deleted layer {slug!r}")
        lifecycle.restore_layer(layer)
        return Response(LayerSerializer(layer, context={"request": request}).data)


# --- features -------------------------------------------------------------------------------

class FeatureDoc(serializers.Serializer):
    """A GeoJSON Feature; `properties` follow the layer schema; `version` is the lock counter."""

    type = serializers.ChoiceField(choices=["Feature"])
    id = serializers.IntegerField(read_only=True)
    geometry = serializers.JSONField(help_text="GeoJSON geometry in EPSG:4326 (lon, lat)")
    properties = serializers.DictField()
    version = serializers.IntegerField(read_only=True)


def _features(layer: Layer):
    return (Feature.objects.filter(layer=layer)
            .annotate(geojson=AsGeoJSON("geom", precision=GEOJSON_DECIMALS))
            .only("id", "properties", "version").order_by("id"))


def feature_json(feature: Feature) -> dict:
    geojson = getattr(feature, "geojson", None) or feature.geom.json
    return {"type": "Feature", "id": feature.pk, "geometry": json.loads(geojson),
            "properties": feature.properties, "version": feature.version}


def _parse_bbox(text: str) -> Polygon:
    try:
        xmin, ymin, xmax, ymax = (float(n) for n in text.split(","))
    except ValueError:
        raise ParseError("in_bbox: expected min_lon,min_lat,max_lon,max_lat") from None
    if not (xmin <= xmax and ymin <= ymax):
        raise ParseError("in_bbox: min must not exceed max")
    bbox = Polygon.from_bbox((xmin, ymin, xmax, ymax))
    bbox.srid = 4326
    return bbox


def filter_features(layer: Layer, qs, params) -> object:
    """Narrow `qs` by `in_bbox` and `<field>=<value>` filters on declared properties. Values
    are converted to the field's type and matched with JSONB containment (the GIN index), so a
    property named like an SQL keyword is just a key."""
    if params.get("in_bbox"):
        qs = qs.filter(geom__bboverlaps=_parse_bbox(params["in_bbox"]))
    fields = {f["name"]: f for f in layer.fields}
    for name in params:
        if name in RESERVED_PARAMS:
            continue
        if name not in fields:
            raise ParseError(f"unknown filter {name!r}: filter on a property of layer "
                             f"{layer.slug} ({', '.join(fields) or 'none'}) or on in_bbox")
        try:
            value = coerce(fields[name]["type"], params[name])
        except CoercionError as exc:
            raise ParseError(f"{name}: {exc} (got {params[name]!r})") from None
        qs = qs.filter(properties__contains={name: value})
    return qs


class FeaturePagination(GeoJsonPagination):
    page_size = 100
    max_page_size = 1000


def _parse_geometry(value) -> GEOSGeometry:
    if not isinstance(value, dict):
        raise editing.EditError(["geometry: a GeoJSON geometry object is required"])
    try:
        geom = GEOSGeometry(json.dumps(value))
    except (GEOSException, GDALException, ValueError, TypeError) as exc:
        raise editing.EditError([f"geometry: not a valid GeoJSON geometry ({exc})"]) from None
    geom.srid = 4326
    return geom


def _parse_feature(data, *, partial: bool) -> tuple[GEOSGeometry | None, dict | None]:
    if not isinstance(data, dict):
        raise editing.EditError(["body: a GeoJSON Feature object is required"])
    if data.get("type", "Feature") != "Feature":
        raise editing.EditError([f"type: expected 'Feature', got {data.get('type')!r}"])
    geom = props = None
    if "geometry" in data or not partial:
        geom = _parse_geometry(data.get("geometry"))
    if "properties" in data or not partial:
        props = data.get("properties")
        if props is None and not partial:
            props = {}
        if not isinstance(props, dict):
            raise editing.EditError(["properties: an object is required"])
    return geom, props


def _with_etag(response: Response, feature: Feature) -> Response:
    response.content_type = "application/geo+json"
    response["ETag"] = editing.etag(feature)
    return response


def expected_version(request, feature: Feature) -> int | None:
    """The version `If-Match` allows writing over: None for `*`; PreconditionFailed when no
    listed tag is the feature's current one."""
    header = request.headers.get("If-Match")
    if header is None:
        raise PreconditionRequired()
    tags = [t.strip() for t in header.split(",") if t.strip()]
    if "*" in tags:
        return None
    if editing.etag(feature) in tags:
        return feature.version
    raise PreconditionFailed({"detail": f"If-Match {header} does not match the current "
                                        f"{editing.etag(feature)}: the feature changed since "
                                        "you read it; GET it again and reapply your change",
                              "current_etag": editing.etag(feature)})


def _feature_or_404(layer: Layer, feature_id: int) -> Feature:
    feature = _features(layer).filter(pk=feature_id).first()
    if feature is None:
        raise Http404(f"no feature {feature_id} in layer {layer.slug!r}")
    return feature


class FeatureList(LayerAPIView):
    parser_classes = [JSONParser]

    @extend_schema(responses=FeatureDoc(many=True), parameters=[
        OpenApiParameter("in_bbox", str, description="min_lon,min_lat,max_lon,max_lat"),
        OpenApiParameter("page", int), OpenApiParameter("page_size", int),
    ], description="Features as a GeoJSON FeatureCollection, paginated. Any other query "
                   "parameter filters on the property of that name (value converted to the "
                   "field's type).")
    def get(self, request, slug):
        layer = _layer_for_read(request, slug)
        qs = filter_features(layer, _features(layer), request.query_params)
        paginator = FeaturePagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        response = paginator.get_paginated_response(
            {"features": [feature_json(f) for f in page]})
        response.content_type = "application/geo+json"
        return response

    @extend_schema(request=FeatureDoc, responses={201: FeatureDoc})
    def post(self, request, slug):
        layer = _layer_for_write(request, slug)
        try:
            geom, props = _parse_feature(request.data, partial=False)
            feature = editing.create_feature(layer, geom, props, user=request.user,
                                             channel="api")
        except editing.EditError as exc:
            return _bad_request(exc.errors)
        feature = _feature_or_404(layer, feature.pk)
        response = Response(feature_json(feature), status=status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(
            f"/api/layers/{layer.slug}/features/{feature.pk}/")
        return _with_etag(response, feature)


IF_MATCH = OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, required=True,
                            description="The ETag of the feature as last read")


class FeatureDetail(LayerAPIView):
    parser_classes = [JSONParser]

    @extend_schema(responses=FeatureDoc)
    def get(self, request, slug, feature_id):
        feature = _feature_or_404(_layer_for_read(request, slug), feature_id)
        if request.headers.get("If-None-Match") == editing.etag(feature):
            return _with_etag(Response(status=status.HTTP_304_NOT_MODIFIED), feature)
        return _with_etag(Response(feature_json(feature)), feature)

    def _write(self, request, slug, feature_id, partial):
        layer = _layer_for_write(request, slug)
        feature = _feature_or_404(layer, feature_id)
        version = expected_version(request, feature)
        try:
            geom, props = _parse_feature(request.data, partial=partial)
            editing.update_feature(feature.pk, geom=geom, properties=props,
                                   replace=not partial, expected_version=version,
                                   user=request.user, channel="api")
        except editing.EditError as exc:
            return _bad_request(exc.errors)
        except editing.VersionConflict as exc:
            raise PreconditionFailed({"detail": str(exc),
                                      "current_etag": editing.etag(exc.feature)}) from None
        feature = _feature_or_404(layer, feature_id)
        return _with_etag(Response(feature_json(feature)), feature)

    @extend_schema(request=FeatureDoc, responses=FeatureDoc, parameters=[IF_MATCH])
    def put(self, request, slug, feature_id):
        return self._write(request, slug, feature_id, partial=False)

    @extend_schema(request=FeatureDoc, responses=FeatureDoc, parameters=[IF_MATCH],
                   description="Merge: properties given replace those of the feature, a null "
                               "removes one; geometry only if given.")
    def patch(self, request, slug, feature_id):
        return self._write(request, slug, feature_id, partial=True)

    @extend_schema(responses={204: None}, parameters=[IF_MATCH])
    def delete(self, request, slug, feature_id):
        layer = _layer_for_write(request, slug)
        feature = _feature_or_404(layer, feature_id)
        version = expected_version(request, feature)
        try:
            editing.delete_feature(feature.pk, expected_version=version, user=request.user,
                                   channel="api")
        except editing.VersionConflict as exc:
            raise PreconditionFailed({"detail": str(exc),
                                      "current_etag": editing.etag(exc.feature)}) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- history and revert ---------------------------------------------------------------------

class HistoryDoc(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = FeatureHistory
        fields = ("id", "feature_id", "action", "version", "user", "channel", "batch", "at",
                  "before", "after")


def _layer_for_history(request, slug) -> Layer:
    """History names who changed what: staff and the layer's editors see it."""
    layer = _layer_for_read(request, slug)
    if not request.user.is_authenticated:
        raise NotAuthenticated()
    if not (permissions.is_staff(request.user) or permissions.can_edit(request.user, layer)):
        raise PermissionDenied("history is shown to staff and the layer's editors")
    return layer


class HistoryPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class LayerHistory(LayerAPIView):
    @extend_schema(responses=HistoryDoc(many=True), parameters=[
        OpenApiParameter("batch", OpenApiTypes.UUID), OpenApiParameter("page", int)])
    def get(self, request, slug):
        layer = _layer_for_history(request, slug)
        qs = history.layer_history(layer)
        if request.query_params.get("batch"):
            try:
                qs = qs.filter(batch=uuid.UUID(request.query_params["batch"]))
            except ValueError:
                raise ParseError("batch: not a UUID") from None
        paginator = HistoryPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(HistoryDoc(page, many=True).data)


class FeatureHistoryView(LayerAPIView):
    @extend_schema(responses=HistoryDoc(many=True))
    def get(self, request, slug, feature_id):
        layer = _layer_for_history(request, slug)
        entries = history.feature_history(layer, feature_id)
        if not entries.exists():
            raise Http404(f"no history of feature {feature_id} in layer {slug!r}")
        return Response(HistoryDoc(entries, many=True).data)


class FeatureRevert(LayerAPIView):
    @extend_schema(request=inline_serializer("RevertRequest", {
        "version": serializers.IntegerField()}), responses=FeatureDoc,
        description="Bring the feature back to how it was at `version` (re-created if it "
                    "was deleted since). Send If-Match to make sure nobody edited it meanwhile.")
    def post(self, request, slug, feature_id):
        layer = _layer_for_write(request, slug)
        version = request.data.get("version") if isinstance(request.data, dict) else None
        if not isinstance(version, int) or isinstance(version, bool):
            return _bad_request(["version: an integer is required"])
        current = Feature.objects.filter(pk=feature_id, layer=layer).first()
        expected = None
        if current is not None and request.headers.get("If-Match"):
            expected = expected_version(request, current)
        try:
            feature = history.revert_feature(layer, feature_id, version, user=request.user,
                                             expected_version=expected)
        except history.RevertError as exc:
            return _bad_request(exc.errors)
        except editing.EditError as exc:
            return _bad_request([f"version {version} no longer fits the layer: {e}"
                                 for e in exc.errors])
        except editing.VersionConflict as exc:
            raise PreconditionFailed({"detail": str(exc),
                                      "current_etag": editing.etag(exc.feature)}) from None
        if feature is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        feature = _feature_or_404(layer, feature_id)
        return _with_etag(Response(feature_json(feature)), feature)


# --- import ---------------------------------------------------------------------------------

class ImportDoc(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ImportRun
        fields = ("batch", "filename", "mode", "features", "user", "at", "reverted_at",
                  "report")


class LayerImports(LayerAPIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=ImportDoc(many=True))
    def get(self, request, slug):
        layer = _layer_for_history(request, slug)
        return Response(ImportDoc(layer.imports.select_related("user"), many=True).data)

    @extend_schema(
        request={"multipart/form-data": inline_serializer("ImportRequest", {
            "file": serializers.FileField(),
            "dry_run": serializers.BooleanField(default=True),
            "mode": serializers.ChoiceField(choices=["append", "replace"], default="append"),
            "crs": serializers.CharField(required=False, help_text="e.g. EPSG:2178"),
            "x": serializers.CharField(required=False), "y": serializers.CharField(required=False),
            "encoding": serializers.CharField(required=False),
            "invalid": serializers.ChoiceField(choices=["repair", "reject"], default="reject"),
            "mapping": serializers.JSONField(required=False),
            "add_fields": serializers.BooleanField(default=False)})},
        responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT,
                   400: OpenApiTypes.OBJECT, 413: OpenApiTypes.OBJECT},
        description="Upload a GeoJSON, GeoPackage, zipped Shapefile or CSV. With dry_run (the "
                    "default) nothing is written and the report lists the feature count, the "
                    "CRS, the field mapping and every row error; without it the rows are "
                    "written all or none.")
    def post(self, request, slug):
        layer = _layer_for_write(request, slug)
        refused = importing.check_upload_size(request)
        if refused:
            code, message = refused
            return Response({"detail": message, "errors": [message]}, status=code)
        upload = request.FILES.get("file")
        if upload is None:
            return _bad_request(["file: upload a file in the `file` field"])
        try:
            options = importing.ImportOptions.from_form(request.data)
        except importing.ImportError_ as exc:
            return _bad_request(exc.errors)
        with importing.stored_upload(upload) as path:
            report = importing.run_import(layer, path, options, user=request.user,
                                          filename=upload.name)
        body = report.as_dict()
        if report.errors or report.fatal:
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(body, status=status.HTTP_200_OK if options.dry_run
                        else status.HTTP_201_CREATED)


class ImportRevert(LayerAPIView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, slug, batch):
        layer = _layer_for_write(request, slug)
        try:
            result = history.revert_batch(layer, batch, user=request.user)
        except history.RevertError as exc:
            return Response({"detail": "; ".join(exc.errors), "errors": exc.errors},
                            status=status.HTTP_409_CONFLICT)
        return Response(result)
