"""Read-side data for the resident pages: indicator values per area with ranks, trends, city
values and sources. Views turn these into pages; nothing here knows about HTTP.

Ranks follow the indicator tiles (tiles.queries): rank 1 is the best area by the indicator's
polarity (the highest value, or the lowest for "lower is better"), ties share a rank
(1, 2, 2, 4), areas without a value have no rank. When an area has values from several sources
the indicator's own source wins, then the first by name: one value per area, as on the map.
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from django.utils import timezone

from indicators import models as indicator_models
from indicators import queries as iq
from indicators.methods import input_layers
from indicators.models import Indicator, IndicatorValue
from layers import licences
from layers.models import Layer
from portal import areas as area_lib
from portal import text
from sdi.language import lang, localized


@dataclass
class Cell:
    """One area's figure for one indicator and period."""

    value: float | None
    source: str = ""
    status: str = IndicatorValue.Status.MISSING
    rank: int | None = None
    ranked: int = 0  # how many areas of the layer have a value (the "of N")
    city: float | None = None
    median: float | None = None  # of the layer's areas that have a value
    discrepancies: list = field(default_factory=list)
    note: str = ""  # why a value is missing, where the indicators app says


def _direction(indicator: Indicator) -> int:
    return -1 if indicator.polarity == Indicator.Polarity.LOWER_IS_BETTER else 1


def _pick(rows: list[dict], preferred: str) -> dict:
    return sorted(rows, key=lambda r: (r["source"] != preferred, r["source"]))[0]


def _rank(values: dict[int, float | None], direction: int) -> dict[int, int]:
    scored = sorted((v * direction for v in values.values() if v is not None), reverse=True)
    ranks = {}
    for area_id, v in values.items():
        if v is not None:
            # Competition ranking: one more than the number of strictly better areas.
            ranks[area_id] = 1 + sum(1 for s in scored if s > v * direction)
    return ranks


def layer_table(layer: Layer, indicators: list[Indicator] | None = None, user=None
                ) -> dict[tuple[int, str], dict[int, Cell]]:
    """{(indicator id, period): {area id: Cell}} for every indicator computed for the layer
    that `user` may see (or for `indicators`), ranks filled in, in one query."""
    indicators = indicators if indicators is not None else indicators_for(layer, user)
    by_id = {i.id: i for i in indicators}
    raw: dict[tuple[int, str, int], list[dict]] = defaultdict(list)
    columns = ["indicator_id", "period", "area_id", "value", "source", "status"]
    if _has_field(IndicatorValue, "note"):
        columns.append("note")
    for row in (IndicatorValue.objects
                .filter(indicator_id__in=list(by_id), area__layer=layer).values(*columns)):
        raw[(row["indicator_id"], row["period"], row["area_id"])].append(row)
    table: dict[tuple[int, str], dict[int, Cell]] = defaultdict(dict)
    for (ind_id, period, area_id), rows in raw.items():
        r = _pick(rows, by_id[ind_id].source)
        table[(ind_id, period)][area_id] = Cell(r["value"], r["source"], r["status"],
                                                note=r.get("note") or "")
    city = city_values(indicators)
    for (ind_id, period), cells in table.items():
        ranks = _rank({a: c.value for a, c in cells.items()}, _direction(by_id[ind_id]))
        counted = len(ranks)
        present = [c.value for c in cells.values() if c.value is not None]
        middle = statistics.median(present) if present else None
        for area_id, cell in cells.items():
            cell.rank, cell.ranked = ranks.get(area_id), counted
            cell.city = city.get((ind_id, period))
            cell.median = middle
    _attach_discrepancies(table, layer)
    return table


def indicators_for(layer: Layer, user=None) -> list[Indicator]:
    """The indicators computed for the layer that `user` may see (indicators.access)."""
    return list(iq.visible_indicators(user).filter(area_layers=layer))


def city_values(indicators: list[Indicator]) -> dict[tuple[int, str], float | None]:
    """City-wide values: an indicator's values for the city boundary (a layer with role
    "boundary") where the indicators app computes them; none otherwise."""
    found: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for row in (IndicatorValue.objects
                .filter(indicator__in=indicators, area__layer__in=Layer.objects.filter(
                    role=Layer.Role.BOUNDARY, visibility=Layer.Visibility.PUBLIC))
                .values("indicator_id", "period", "value", "source")):
        found[(row["indicator_id"], row["period"])].append(row)
    sources = {i.id: i.source for i in indicators}
    return {key: _pick(rows, sources[key[0]])["value"] for key, rows in found.items()}


def _has_field(model, name: str) -> bool:
    return any(f.name == name for f in model._meta.get_fields())


def _attach_discrepancies(table, layer: Layer) -> None:
    """Sources that disagree beyond the indicator's tolerance, as the indicators app records
    them (open ones without an explanation yet, reviewed ones with it); resolved ones no
    longer matter to a resident."""
    model = getattr(indicator_models, "Discrepancy", None)
    if model is None:
        return
    keys = {ind_id for ind_id, _ in table}
    rows = (model.objects.filter(indicator_id__in=keys, area__layer=layer)
            .exclude(status="resolved")
            .values("indicator_id", "area_id", "period", "values", "status", "explanation",
                    "spread", "allowed", "reviewed_at"))
    for row in rows:
        cell = table.get((row["indicator_id"], row["period"]), {}).get(row["area_id"])
        if cell is not None:
            cell.discrepancies.append(row)


def sources_of(indicator: Indicator, areas: Layer) -> list[dict]:
    """The layers an indicator is computed from (and the areas layer), with their licence and
    attribution: what a resident must cite when reusing the figure."""
    slugs = [*input_layers(indicator.method or {}), areas.slug]
    layers = {la.slug: la for la in Layer.objects.filter(
        slug__in=slugs, visibility=Layer.Visibility.PUBLIC)}
    seen, result = set(), []
    for slug in slugs:
        la = layers.get(slug)
        if la is None or slug in seen:
            continue
        seen.add(slug)
        result.append({"slug": slug, "title": localized(la, "title"), "licence": la.licence,
                       "attribution": la.attribution})
    return result


def licences_of(indicator: Indicator, sources: list[dict]) -> list[dict]:
    """The licences a figure is under, named in the visitor's language and linked: those of
    its input layers, else (no input data yet) the indicator's own."""
    texts = list(dict.fromkeys(s["licence"] for s in sources if s["licence"]))
    if not texts and indicator.licence:
        texts = [indicator.licence]
    return [licences.describe(t, lang()) for t in texts]


def indicator_info(indicator: Indicator) -> dict:
    return {"code": indicator.code, "name": localized(indicator, "name"),
            "description": localized(indicator, "description"),
            "unit": text.unit(indicator.unit), "unit_forms": text.unit_forms(indicator.unit),
            "decimals": indicator.decimals,
            "polarity": indicator.polarity, "theme": text.theme(indicator.theme),
            "source": own_source(indicator), "methodology": indicator.methodology,
            "rank_note": text.rank_note(indicator.polarity),
            "licence": getattr(indicator, "licence", "") or ""}


def source_label(indicator: Indicator, source: str) -> str:
    """A value's source as residents read it: the indicator's own source in their language;
    any other source (an imported one) by its name."""
    return own_source(indicator) if source == indicator.source else source


def own_source(indicator: Indicator) -> str:
    """The indicator's source in the visitor's language (`source` is the Polish one)."""
    return (indicator.source_en if lang() == "en" and getattr(indicator, "source_en", "")
            else indicator.source)


def _cell_json(cell: Cell | None, indicator: Indicator | None = None) -> dict:
    if cell is None:
        return {"value": None, "rank": None, "of": 0, "status": "missing",
                "status_label": text.status("missing"), "source": "", "source_label": "",
                "city": None, "median": None, "note": "", "discrepancies": []}
    return {"value": cell.value, "rank": cell.rank, "of": cell.ranked,
            "status": cell.status, "status_label": text.status(cell.status),
            "source": cell.source,
            "source_label": source_label(indicator, cell.source) if indicator else cell.source,
            "city": cell.city, "median": cell.median, "note": text.note(cell.note),
            "discrepancies": [_discrepancy_json(d, cell.source, indicator)
                              for d in cell.discrepancies]}


def _discrepancy_json(row: dict, shown_source: str = "",
                      indicator: Indicator | None = None) -> dict:
    """What a resident needs to read a disagreement: every source with its figure (the one the
    page shows first), how far apart they are against the tolerance, and staff's explanation
    once reviewed. An open record may still hold the explanation of an earlier review (the
    figures changed since, which reopened it): it is not shown until staff confirm it."""
    values = row.get("values") or {}
    reviewed = row.get("status") == "reviewed"
    at = row.get("reviewed_at")
    return {"values": values,
            "figures": [{"source": s, "label": source_label(indicator, s) if indicator else s,
                         "value": values[s], "shown": s == shown_source}
                        for s in sorted(values, key=lambda s: (s != shown_source, s))],
            "difference": row.get("spread"), "allowed": row.get("allowed"),
            "reviewed": reviewed,
            "explanation": (row.get("explanation") or "") if reviewed else "",
            "reviewed_on": timezone.localdate(at).isoformat() if reviewed and at else None}


def area_profile(area: area_lib.Area, layer: Layer, user=None) -> list[dict]:
    """Every indicator computed for the area's layer that `user` may see: per period the
    area's value, rank, city value, status and source; newest period last."""
    indicators = indicators_for(layer, user)
    table = layer_table(layer, indicators)
    rows = []
    for ind in indicators:
        periods = sorted(p for (i, p) in table if i == ind.id)
        series = [{"period": p, **_cell_json(table[(ind.id, p)].get(area.id), ind)}
                  for p in periods]
        sources = sources_of(ind, layer)
        rows.append({**indicator_info(ind), "periods": series,
                     "latest": series[-1] if series else {"period": None, **_cell_json(None)},
                     "sources": sources, "licences": licences_of(ind, sources)})
    return rows


def ranking(indicator: Indicator, layer: Layer, period: str) -> list[dict]:
    """Every area of the layer with its value and rank for one indicator and period, best
    first, areas without a value last: the table equivalent of the choropleth."""
    cells = layer_table(layer, [indicator]).get((indicator.id, period), {})
    rows = []
    for area in area_lib.all_areas().get(layer.slug, []):
        rows.append({"id": area.id, "slug": area.slug, "name": area.name(lang()),
                     "detail": area.detail, **_cell_json(cells.get(area.id), indicator)})
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0,
                                       area_lib._natural(r["name"])))


def compare(selected: list[area_lib.Area], user=None) -> list[dict]:
    """Indicators side by side for areas (possibly of different layers): the newest period
    each indicator (that `user` may see) has, ranks within each area's own layer."""
    by_layer: dict[str, list[area_lib.Area]] = defaultdict(list)
    for a in selected:
        by_layer[a.layer].append(a)
    layers = {la.slug: la for la in Layer.objects.filter(slug__in=list(by_layer))}
    tables = {slug: layer_table(layers[slug], user=user) for slug in by_layer}
    indicators: dict[int, Indicator] = {}
    for slug in by_layer:
        for ind in indicators_for(layers[slug], user):
            indicators.setdefault(ind.id, ind)
    rows = []
    for ind in sorted(indicators.values(), key=lambda i: (i.order, i.code)):
        periods = sorted({p for t in tables.values() for (i, p) in t if i == ind.id})
        if not periods:
            continue
        period = periods[-1]
        cells = [_cell_json(tables[a.layer].get((ind.id, period), {}).get(a.id), ind)
                 for a in selected]
        rows.append({**indicator_info(ind), "period": period, "cells": cells})
    return rows
