"""The information-gap matrix: indicators × areas × periods, each cell ok, missing, stale or
disputed, and for the gaps which missing dataset would fill them.

Periods of an indicator are those it has values for plus those its definition expects; an
indicator with neither (its input does not exist yet, so nothing says which period) gets one
column with period None: every area is missing there.

Cell status: no value row at all or only rows without a value → missing (with the note saying
why); any stale value → stale; any value in an unresolved discrepancy → disputed; else ok.
A missing cell names the wanted datasets that would fill it: those declared for the indicator,
those that would become its input layer, and for per-resident indicators those that would fill
the population indicator.
"""

from collections import defaultdict

from django.utils import timezone

from indicators import access, methods
from indicators.computing import layers_for
from indicators.models import Indicator, IndicatorValue, WantedDataset
from layers.models import Feature, Layer

Status = IndicatorValue.Status
STATUSES = ("ok", "missing", "stale", "disputed")


def _fillers(indicator: Indicator, wanted: list[WantedDataset]) -> list[str]:
    inputs = set(methods.input_layers(indicator.method))
    related = {indicator.code}
    if indicator.method.get("population"):
        related.add(indicator.method["population"])
    return [w.code for w in wanted
            if (w.layer_slug and w.layer_slug in inputs)
            or any(i.code in related for i in w.indicators.all())]


def missing_reason(indicator: Indicator) -> tuple[str, list[str]]:
    """(why, wanted dataset codes) for an area with no value and no stored row saying why, in
    the words of the computation (indicators.methods) and the gap matrix. Only public input
    layers are named: for everyone else a staff-only layer does not exist."""
    reasons = []
    for slug in methods.input_layers(indicator.method):
        layer = Layer.objects.filter(slug=slug).first()
        if layer is None:
            reasons.append(f"input layer {slug!r} does not exist")
        elif layer.visibility == Layer.Visibility.PUBLIC and not layer.features.exists():
            reasons.append(f"input layer {slug!r} has no features")
    fillers = _fillers(indicator, list(WantedDataset.objects.prefetch_related("indicators")))
    return "; ".join(reasons) or "no value", fillers


def _cell(rows: list[tuple]) -> dict:
    """rows: (value, status, note) of every source for one area and period."""
    if not rows or all(value is None for value, _, _ in rows):
        notes = sorted({note for _, _, note in rows if note})
        return {"status": "missing", "note": "; ".join(notes) or "no value"}
    statuses = {status for _, status, _ in rows}
    if Status.STALE in statuses:
        return {"status": "stale", "note": "an input changed since the value was computed"}
    if Status.DISPUTED in statuses:
        return {"status": "disputed", "note": "sources disagree beyond the tolerance"}
    return {"status": "ok"}


def matrix(*, include_staff: bool = False, indicator: Indicator | None = None) -> dict:
    wanted = list(WantedDataset.objects.prefetch_related("indicators"))
    # Without staff rights: neither staff-only areas layers nor indicators computed from
    # staff-only layers (indicators.access).
    hidden = access.hidden_ids(staff=include_staff)
    indicators = [indicator] if indicator else list(Indicator.objects.prefetch_related(
        "area_layers").exclude(id__in=hidden))
    totals = dict.fromkeys(STATUSES, 0)
    fills: dict[str, int] = defaultdict(int)
    out = []
    for ind in indicators:
        layers = [la for la in layers_for(ind)
                  if include_staff or la.visibility == Layer.Visibility.PUBLIC]
        cells: dict[tuple[int, str], list[tuple]] = defaultdict(list)
        for area_id, period, value, status, note in (
                IndicatorValue.objects.filter(indicator=ind, area__layer__in=layers)
                .values_list("area_id", "period", "value", "status", "note")):
            cells[(area_id, period)].append((value, status, note))
        periods = sorted({p for _, p in cells} | set(methods.fixed_periods(ind.method))) \
            or [None]
        fillers = _fillers(ind, wanted)
        summary = dict.fromkeys(STATUSES, 0)
        layer_rows = []
        for la in layers:
            areas = []
            for area_id, props in (Feature.objects.filter(layer=la).order_by("id")
                                   .values_list("id", "properties")):
                row = {"area_id": area_id,
                       "name": str(props.get(la.name_field, area_id)) if la.name_field
                       else str(area_id), "cells": {}}
                for p in periods:
                    cell = _cell(cells.get((area_id, p), []))
                    if cell["status"] == "missing" and fillers:
                        cell["fill_with"] = fillers
                    summary[cell["status"]] += 1
                    row["cells"][p if p is not None else ""] = cell
                areas.append(row)
            layer_rows.append({"slug": la.slug, "title_pl": la.title_pl,
                               "title_en": la.title_en, "role": la.role, "areas": areas})
        for status, n in summary.items():
            totals[status] += n
        for code in fillers:
            fills[code] += summary["missing"]
        out.append({"code": ind.code, "name_pl": ind.name_pl, "name_en": ind.name_en,
                    "theme": ind.theme, "periods": periods, "summary": summary,
                    "fill_with": fillers, "layers": layer_rows})
    return {
        "generated_at": timezone.now().isoformat(),
        "statuses": list(STATUSES),
        "totals": totals,
        "wanted_datasets": [
            {"code": w.code, "title_pl": w.title_pl, "title_en": w.title_en,
             "owner": w.owner, "where_to_get": w.where_to_get, "layer": w.layer_slug or None,
             "indicators": [i.code for i in w.indicators.all() if i.id not in hidden],
             "missing_cells_it_would_fill": fills.get(w.code, 0)}
            for w in wanted],
        "indicators": out,
    }
