"""Indicator API for the pages and for machines (JSON; values also as CSV, `&excel=1` for the
form Excel in Polish reads: layers.csvfile). Views are thin:
the work is in indicators.queries / computing / importing / discrepancies / gaps / quality /
inventory.

Reads show what indicators.access lets the asking user see (an indicator computed from a
staff-only layer does not exist for anyone else: 404, as an unknown code); answers that hold
more than everybody may see say `Cache-Control: private`. Writes need an authenticated user
(token or session) with the model permission: recompute → indicators.change_indicatorvalue,
import → indicators.add_indicatorvalue, review a discrepancy → indicators.change_discrepancy.
"""

import json
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from rest_framework import status
from rest_framework.exceptions import NotFound as HttpNotFound
from rest_framework.exceptions import ParseError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from indicators import (
    access,
    classify,
    computing,
    discrepancies,
    gaps,
    importing,
    inventory,
    quality,
    queries,
)
from indicators.methods import MethodError
from indicators.models import Discrepancy, Indicator, IndicatorValue
from layers import csvfile, permissions
from sdi.input_guard import FormParser, JSONParser, MultiPartParser

MAX_ROWS = 50_000


def _perm(codename: str):
    class HasPerm(BasePermission):
        message = f"needs the permission {codename}"

        def has_permission(self, request, view):
            return bool(request.user and request.user.has_perm(codename))
    return HasPerm


def _is_staff(request) -> bool:
    return permissions.is_staff(request.user)


def _personal(response, restricted: bool = True):
    """An answer that depends on who asks and holds what not everybody may see stays out of
    shared caches."""
    patch_vary_headers(response, ("Cookie", "Authorization"))
    if restricted:
        patch_cache_control(response, private=True, no_store=True)
    return response


def _resolve(request, code):
    try:
        return queries.resolve(code, request.query_params.get("areas"),
                               request.query_params.get("period"), user=request.user)
    except queries.NotFound as exc:
        raise HttpNotFound(str(exc)) from exc


def _indicator(code: str, request) -> Indicator:
    try:
        return queries.get_indicator(code, request.user)
    except queries.NotFound as exc:
        raise HttpNotFound(str(exc)) from exc


def _int_param(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ParseError(f"`{name}` must be an integer, not {raw!r}") from None


def _format(request) -> tuple[str, csvfile.Form]:
    """`f` (json or csv) and, for CSV, its form (`excel`)."""
    f = request.query_params.get("f") or "json"
    if f not in ("json", "csv"):
        raise ParseError(f"`f` must be json or csv, not {f!r}")
    try:
        form = csvfile.form_of(request.query_params)
    except csvfile.FormError as exc:
        raise ParseError(str(exc)) from None
    if form is not csvfile.PLAIN and f != "csv":
        raise ParseError(f"`{csvfile.EXCEL_PARAM}` applies to f=csv only")
    return f, form


def _csv(rows: list[dict], columns: list[str], name: str, form: csvfile.Form) -> HttpResponse:
    return csvfile.response(name, columns, ([r.get(c) for c in columns] for r in rows), form)


def _flatten_discrepancy(row: dict) -> dict:
    d = row.get("discrepancy")
    return {**row, "discrepancy_status": d["status"] if d else "",
            "discrepancy_values": json.dumps(d["values"], ensure_ascii=False) if d else "",
            "discrepancy_explanation": d["explanation"] if d else ""}


def _with_links(request, data: dict) -> dict:
    """The indicator's TileJSON per areas layer (its vector tiles for MapLibre, OpenLayers,
    QGIS: source-layer name, fields, bounds, attribution)."""
    path = reverse("tiles:indicator-tilejson", kwargs={"code": data["code"]})
    slugs = data["area_layers"] + ([data["city_layer"]] if data.get("city_layer") else [])
    return {**data, "tilejson": {slug: request.build_absolute_uri(
        f"{path}?{urlencode({'areas': slug})}") for slug in slugs}}


class IndicatorList(APIView):
    def get(self, request):
        shown = list(queries.visible_indicators(request.user))
        return _personal(Response([_with_links(request, queries.indicator_json(
            i, user=request.user)) for i in shown]),
            restricted=any(access.restricted(i) for i in shown))


class IndicatorDetail(APIView):
    def get(self, request, code):
        indicator = _indicator(code, request)
        return _personal(Response(_with_links(request, queries.indicator_json(
            indicator, detail=True, user=request.user))),
            restricted=access.restricted(indicator))


VALUE_COLUMNS = ["area_id", "area_name", "period", "value", "source", "status", "origin",
                 "note", "computed_at", "discrepancy_status", "discrepancy_values",
                 "discrepancy_explanation"]


class IndicatorValues(APIView):
    """?areas=<layer>&period=<p>&area=<feature id>&all_sources=1&f=csv"""

    def get(self, request, code):
        fmt, form = _format(request)
        area_id = _int_param(request, "area")
        indicator, areas, period = _resolve(request, code)
        rows = queries.values(indicator, areas, period, area_id=area_id,
                              all_sources=request.query_params.get("all_sources") in ("1",
                                                                                     "true"))
        if area_id is not None and not rows:
            raise HttpNotFound(f"no area {area_id} in {areas.slug}")
        restricted = access.restricted(indicator, [areas])
        if fmt == "csv":
            name = f"{code}-{areas.slug}" + (f"-{period}" if period else "")
            return _personal(_csv([_flatten_discrepancy(r) for r in rows], VALUE_COLUMNS, name,
                                  form), restricted)
        return _personal(Response(rows), restricted)


ALL_VALUE_COLUMNS = ["indicator", "unit", "areas", "area_id", "area_name", "period", "value",
                     "source", "status", "origin", "note", "computed_at"]


def _indicator_and_areas(request) -> tuple:
    """The optional ?indicator= and ?areas= filters; unknown (or hidden) ones are a 404."""
    q = request.query_params
    indicator = _indicator(q["indicator"], request) if q.get("indicator") else None
    areas = None
    if q.get("areas"):
        areas = permissions.visible_layers(request.user).filter(slug=q["areas"]).first()
        if areas is None:
            raise HttpNotFound(f"unknown areas layer {q['areas']!r}")
    return indicator, areas


class AllValues(APIView):
    """Every value, every source: ?indicator=&areas=&area=&period=&source=&status=&f=csv"""

    def get(self, request):
        fmt, form = _format(request)
        q = request.query_params
        indicator, areas = _indicator_and_areas(request)
        state = q.get("status") or None
        if state is not None and state not in IndicatorValue.Status.values:
            raise ParseError(f"`status` must be one of {', '.join(IndicatorValue.Status.values)}")
        rows = queries.value_rows(indicator=indicator, areas=areas,
                                  area_id=_int_param(request, "area"),
                                  period=q.get("period") or None, source=q.get("source") or None,
                                  status=state, limit=MAX_ROWS + 1, user=request.user)
        if len(rows) > MAX_ROWS:
            raise ParseError(f"more than {MAX_ROWS} values match; narrow the filter "
                             "(indicator, areas, period)")
        restricted = _staff_sees_more(request)
        if fmt == "csv":
            return _personal(_csv(rows, ALL_VALUE_COLUMNS, "indicator-values", form),
                             restricted)
        return _personal(Response(rows), restricted)


class IndicatorLegend(APIView):
    """?areas=&period=&classification=quantiles|equal_interval|natural_breaks&k=3..9&scheme="""

    def get(self, request, code):
        k = _int_param(request, "k")
        if k is not None and not classify.MIN_CLASSES <= k <= classify.MAX_CLASSES:
            raise ParseError(f"`k` must be between {classify.MIN_CLASSES} and "
                             f"{classify.MAX_CLASSES}")
        indicator, areas, period = _resolve(request, code)
        try:
            return _personal(Response(classify.legend(
                indicator, areas, period, k=k,
                classification=request.query_params.get("classification") or None,
                scheme=request.query_params.get("scheme") or None)),
                access.restricted(indicator, [areas]))
        except classify.LegendError as exc:
            raise ParseError(str(exc)) from exc


class IndicatorRecompute(APIView):
    permission_classes = [IsAuthenticated, _perm("indicators.change_indicatorvalue")]

    def post(self, request, code):
        indicator = _indicator(code, request)
        try:
            count = computing.compute_indicator(indicator)
        except MethodError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"indicator": code, "values": count})


class RecomputeAll(APIView):
    """POST ?stale=1: only the indicators with stale values."""

    permission_classes = [IsAuthenticated, _perm("indicators.change_indicatorvalue")]

    def post(self, request):
        try:
            counts = computing.compute_all(
                only_stale=request.query_params.get("stale") in ("1", "true"))
        except MethodError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"recomputed": counts})


class IndicatorImport(APIView):
    """POST multipart `file` (CSV: area_code, period, value, source) ?areas=<layer>
    [&code_field=<property>]. 201 with counts, or 400 with every row error."""

    permission_classes = [IsAuthenticated, _perm("indicators.add_indicatorvalue")]
    parser_classes = [MultiPartParser, FormParser]

    def post(self, request, code):
        indicator = _indicator(code, request)
        slug = request.query_params.get("areas") or request.data.get("areas")
        if not slug:
            raise ParseError("`areas` (the areas layer the codes refer to) is required")
        areas = permissions.visible_layers(request.user).filter(slug=slug).first()
        if areas is None:
            raise HttpNotFound(f"unknown areas layer {slug!r}")
        upload = request.FILES.get("file")
        if upload is None:
            raise ParseError("a CSV `file` is required")
        if upload.size > importing.MAX_BYTES:
            raise ParseError(f"file larger than {importing.MAX_BYTES // 2**20} MiB")
        code_field = request.query_params.get("code_field") or request.data.get("code_field", "")
        try:
            result = importing.import_values(indicator, areas, upload.read(),
                                             code_field=code_field, user=request.user)
        except importing.CSVImportError as exc:
            return Response({"detail": "nothing imported: the file has errors",
                             "errors": [e.as_dict() for e in exc.errors]},
                            status=status.HTTP_400_BAD_REQUEST)
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


class DiscrepancyList(APIView):
    """?indicator=&areas=&all=1 (with resolved ones)"""

    def get(self, request):
        q = request.query_params
        indicator, areas = _indicator_and_areas(request)
        return _personal(Response(queries.discrepancies(
            areas=areas, indicator=indicator, include_resolved=q.get("all") in ("1", "true"),
            user=request.user)), _staff_sees_more(request))


class DiscrepancyReview(APIView):
    """POST {"explanation": "..."}: staff explain why the sources differ."""

    permission_classes = [IsAuthenticated, _perm("indicators.change_discrepancy")]
    parser_classes = [JSONParser, FormParser]

    def post(self, request, pk):
        record = Discrepancy.objects.filter(pk=pk).first()
        if record is None or not (access.can_view(request.user, record.indicator)
                                  and permissions.can_view(request.user, record.area.layer)):
            raise HttpNotFound(f"no discrepancy {pk}")
        try:
            discrepancies.review(record, request.data.get("explanation", ""), request.user)
        except ValidationError as exc:
            return Response(exc.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response(queries.discrepancy_row(record))


class Inventory(APIView):
    def get(self, request):
        return _personal(Response(inventory.inventory(include_staff=_is_staff(request))),
                         _staff_sees_more(request))


class Quality(APIView):
    def get(self, request):
        return _personal(Response(quality.quality_report(include_staff=_is_staff(request))),
                         _staff_sees_more(request))


class Gaps(APIView):
    """?indicator=<code>"""

    def get(self, request):
        code = request.query_params.get("indicator")
        return _personal(Response(gaps.matrix(
            include_staff=_is_staff(request),
            indicator=_indicator(code, request) if code else None)), _staff_sees_more(request))


def _staff_sees_more(request) -> bool:
    # Staff see staff-only layers and what is computed from them; their answers are private.
    return _is_staff(request)
