"""Indicator API for the pages and for machines (JSON; values also as CSV)."""

import csv

from django.http import HttpResponse
from rest_framework.exceptions import NotFound as HttpNotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from indicators import classify, queries


def _resolve(request, code):
    try:
        return queries.resolve(code, request.query_params.get("areas"),
                               request.query_params.get("period"))
    except queries.NotFound as exc:
        raise HttpNotFound(str(exc)) from exc


class IndicatorList(APIView):
    def get(self, request):
        return Response([
            {"code": i.code, "name": i.name_pl, "name_en": i.name_en, "unit": i.unit,
             "theme": i.theme, "polarity": i.polarity, "source": i.source,
             "periods": queries.periods(i),
             "area_layers": [la.slug for la in i.area_layers.all()
                             if la.visibility == "public"]}
            for i in queries.public_indicators()
        ])


class IndicatorValues(APIView):
    def get(self, request, code):
        indicator, areas, period = _resolve(request, code)
        rows = queries.values(indicator, areas, period)
        if request.query_params.get("f") == "csv":
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{code}-{period}.csv"'
            writer = csv.DictWriter(response, fieldnames=list(rows[0]) if rows else ["area_id"])
            writer.writeheader()
            writer.writerows(rows)
            return response
        return Response(rows)


class IndicatorLegend(APIView):
    def get(self, request, code):
        indicator, areas, period = _resolve(request, code)
        return Response(classify.legend(indicator, areas, period))
