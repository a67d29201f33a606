"""Indicator API for the pages and for machines (JSON; values also as CSV). Views are thin:
the work is in indicators.queries / computing / importing / discrepancies / gaps / quality /
inventory.

Reads are public and only ever show public areas layers. Writes need an authenticated user
(token or session) with the model permission: recompute → indicators.change_indicatorvalue,
import → indicators.add_indicatorvalue, review a discrepancy → indicators.change_discrepancy.
"""

import csv
import json

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from rest_framework import status
from rest_framework.exceptions import NotFound as HttpNotFound
from rest_framework.exceptions import ParseError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from indicators import (
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
from layers.models import Layer
from sdi.input_guard import FormParser, JSONParser, MultiPartParser

MAX_ROWS = 50_000


def _perm(codename: str):
    class HasPerm(BasePermission):
        message = f"needs the permission {codename}"

        def has_permission(self, request, view):
            return bool(request.user and request.user.has_perm(codename))
    return HasPerm


def _is_staff(request) -> bool:
    return bool(request.user and request.user.is_authenticated and request.user.is_staff)


def _resolve(request, code):
    try:
        return queries.resolve(code, request.query_params.get("areas"),
                               request.query_params.get("period"))
    except queries.NotFound as exc:
        raise HttpNotFound(str(exc)) from exc


def _indicator(code: str) -> Indicator:
    indicator = Indicator.objects.filter(code=code).first()
    if indicator is None:
        raise HttpNotFound(f"unknown indicator {code!r}")
    return indicator


def _int_param(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ParseError(f"`{name}` must be an integer, not {raw!r}") from None


def _format(request) -> str:
    f = request.query_params.get("f") or "json"
    if f not in ("json", "csv"):
        raise ParseError(f"`f` must be json or csv, not {f!r}")
    return f


def _csv(rows: list[dict], columns: list[str], filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.DictWriter(response, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return response


def _flatten_discrepancy(row: dict) -> dict:
    d = row.get("discrepancy")
    return {**row, "discrepancy_status": d["status"] if d else "",
            "discrepancy_values": json.dumps(d["values"], ensure_ascii=False) if d else "",
            "discrepancy_explanation": d["explanation"] if d else ""}


class IndicatorList(APIView):
    def get(self, request):
        return Response([queries.indicator_json(i) for i in queries.public_indicators()])


class IndicatorDetail(APIView):
    def get(self, request, code):
        return Response(queries.indicator_json(_indicator(code), detail=True))


VALUE_COLUMNS = ["area_id", "area_name", "period", "value", "source", "status", "origin",
                 "note", "computed_at", "discrepancy_status", "discrepancy_values",
                 "discrepancy_explanation"]


class IndicatorValues(APIView):
    """?areas=<layer>&period=<p>&area=<feature id>&all_sources=1&f=csv"""

    def get(self, request, code):
        fmt = _format(request)
        area_id = _int_param(request, "area")
        indicator, areas, period = _resolve(request, code)
        rows = queries.values(indicator, areas, period, area_id=area_id,
                              all_sources=request.query_params.get("all_sources") in ("1",
                                                                                     "true"))
        if area_id is not None and not rows:
            raise HttpNotFound(f"no area {area_id} in {areas.slug} with a value for {period}")
        if fmt == "csv":
            return _csv([_flatten_discrepancy(r) for r in rows], VALUE_COLUMNS,
                        f"{code}-{areas.slug}-{period}.csv")
        return Response(rows)


ALL_VALUE_COLUMNS = ["indicator", "unit", "areas", "area_id", "area_name", "period", "value",
                     "source", "status", "origin", "note", "computed_at"]


def _indicator_and_areas(q) -> tuple:
    """The optional ?indicator= and ?areas= filters; unknown ones are a 404."""
    indicator = _indicator(q["indicator"]) if q.get("indicator") else None
    areas = None
    if q.get("areas"):
        areas = Layer.objects.filter(slug=q["areas"], visibility=Layer.Visibility.PUBLIC).first()
        if areas is None:
            raise HttpNotFound(f"unknown areas layer {q['areas']!r}")
    return indicator, areas


class AllValues(APIView):
    """Every value, every source: ?indicator=&areas=&area=&period=&source=&status=&f=csv"""

    def get(self, request):
        fmt = _format(request)
        q = request.query_params
        indicator, areas = _indicator_and_areas(q)
        state = q.get("status") or None
        if state is not None and state not in IndicatorValue.Status.values:
            raise ParseError(f"`status` must be one of {', '.join(IndicatorValue.Status.values)}")
        rows = queries.value_rows(indicator=indicator, areas=areas,
                                  area_id=_int_param(request, "area"),
                                  period=q.get("period") or None, source=q.get("source") or None,
                                  status=state, limit=MAX_ROWS + 1)
        if len(rows) > MAX_ROWS:
            raise ParseError(f"more than {MAX_ROWS} values match; narrow the filter "
                             "(indicator, areas, period)")
        if fmt == "csv":
            return _csv(rows, ALL_VALUE_COLUMNS, "indicator-values.csv")
        return Response(rows)


class IndicatorLegend(APIView):
    """?areas=&period=&classification=quantiles|equal_interval|natural_breaks&k=3..9&scheme="""

    def get(self, request, code):
        k = _int_param(request, "k")
        if k is not None and not classify.MIN_CLASSES <= k <= classify.MAX_CLASSES:
            raise ParseError(f"`k` must be between {classify.MIN_CLASSES} and "
                             f"{classify.MAX_CLASSES}")
        indicator, areas, period = _resolve(request, code)
        try:
            return Response(classify.legend(
                indicator, areas, period, k=k,
                classification=request.query_params.get("classification") or None,
                scheme=request.query_params.get("scheme") or None))
        except classify.LegendError as exc:
            raise ParseError(str(exc)) from exc


class IndicatorRecompute(APIView):
    permission_classes = [IsAuthenticated, _perm("indicators.change_indicatorvalue")]

    def post(self, request, code):
        indicator = _indicator(code)
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
        indicator = _indicator(code)
        slug = request.query_params.get("areas") or request.data.get("areas")
        if not slug:
            raise ParseError("`areas` (the areas layer the codes refer to) is required")
        areas = Layer.objects.filter(slug=slug).first()
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
        indicator, areas = _indicator_and_areas(q)
        return Response(queries.discrepancies(areas=areas, indicator=indicator,
                                              include_resolved=q.get("all") in ("1", "true")))


class DiscrepancyReview(APIView):
    """POST {"explanation": "..."}: staff explain why the sources differ."""

    permission_classes = [IsAuthenticated, _perm("indicators.change_discrepancy")]
    parser_classes = [JSONParser, FormParser]

    def post(self, request, pk):
        record = Discrepancy.objects.filter(pk=pk).first()
        if record is None:
            raise HttpNotFound(f"no discrepancy {pk}")
        try:
            discrepancies.review(record, request.data.get("explanation", ""), request.user)
        except ValidationError as exc:
            return Response(exc.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response(queries.discrepancy_row(record))


class Inventory(APIView):
    def get(self, request):
        return Response(inventory.inventory(include_staff=_is_staff(request)))


class Quality(APIView):
    def get(self, request):
        return Response(quality.quality_report(include_staff=_is_staff(request)))


class Gaps(APIView):
    """?indicator=<code>"""

    def get(self, request):
        code = request.query_params.get("indicator")
        return Response(gaps.matrix(include_staff=_is_staff(request),
                                    indicator=_indicator(code) if code else None))
