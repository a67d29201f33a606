"""Read-side queries over indicator values, shared by the API, the pages and the tiles.

Only public areas layers are ever read here: values of a staff-only layer are invisible on
every public channel, as its features are.
"""

from django.db.models import Max

from indicators import gaps, methods
from indicators.models import Discrepancy, Indicator, IndicatorValue
from layers.models import Feature, Layer

PUBLIC = Layer.Visibility.PUBLIC


class NotFound(LookupError):
    pass


def public_indicators():
    return Indicator.objects.prefetch_related("area_layers")


def periods(indicator: Indicator) -> list[str]:
    return sorted(IndicatorValue.objects.filter(indicator=indicator)
                  .values_list("period", flat=True).distinct())


def city_layer_for(indicator: Indicator) -> Layer | None:
    """The public city boundary layer the indicator is computed for as a whole, if any."""
    if not indicator.city_wide:
        return None
    return Layer.objects.filter(role=Layer.Role.BOUNDARY, visibility=PUBLIC).order_by("id").first()


def public_area_layers(indicator: Indicator) -> list[Layer]:
    return [la for la in sorted(indicator.area_layers.all(), key=lambda la: la.id)
            if la.visibility == PUBLIC]


def resolve(code: str, areas_slug: str | None, period: str | None
            ) -> tuple[Indicator, Layer, str | None]:
    """The indicator, its areas layer and period named by a request, or the defaults
    (first areas layer, latest period). The city boundary layer is accepted by name for
    city-wide values but never chosen by default. An indicator waiting for data (no values
    yet) resolves to period None: every channel then shows its areas as missing. Raises
    NotFound naming what is unknown.

    Every channel that names an indicator (values, legend, tiles, TileJSON, the map's table)
    finds it here, so one rule decides who may see which indicator."""
    areas_slug, period = areas_slug or None, period or None  # empty query values = default
    indicator = Indicator.objects.filter(code=code).first()
    if indicator is None:
        raise NotFound(f"unknown indicator {code!r}")
    layers = public_area_layers(indicator)
    if areas_slug:
        city = city_layer_for(indicator)
        candidates = layers + ([city] if city else [])
        areas = next((la for la in candidates if la.slug == areas_slug), None)
        if areas is None:
            raise NotFound(f"indicator {code!r} is not computed for areas layer {areas_slug!r}")
    elif layers:
        areas = layers[0]
    else:
        raise NotFound(f"indicator {code!r} has no public areas layer")
    known = periods(indicator)
    if period is None:
        period = known[-1] if known else None
    elif period not in known:
        raise NotFound(f"indicator {code!r} has no values for period {period!r}")
    return indicator, areas, period


def _discrepancy_json(d: Discrepancy) -> dict:
    values = dict(sorted(d.values.items()))
    return {"id": d.id, "status": d.status, "values": values, "sources": list(values),
            "difference": d.spread, "allowed": d.allowed, "explanation": d.explanation,
            "reviewed": d.status == Discrepancy.Status.REVIEWED,
            "reviewed_at": d.reviewed_at.isoformat() if d.reviewed_at else None}


def _row(v: IndicatorValue, areas: Layer, discrepancy: Discrepancy | None) -> dict:
    return {"area_id": v.area_id,
            "area_name": str(v.area.properties.get(areas.name_field, v.area_id)),
            "period": v.period, "value": v.value, "source": v.source, "status": v.status,
            "origin": v.origin, "note": v.note,
            "computed_at": v.computed_at.isoformat() if v.computed_at else None,
            "discrepancy": _discrepancy_json(discrepancy) if discrepancy else None}


def _preferred(rows: list[IndicatorValue], indicator: Indicator) -> IndicatorValue:
    # As the indicator tiles do: the indicator's own source, then the first by name.
    return sorted(rows, key=lambda v: (v.source != indicator.source, v.source))[0]


def _missing_row(area_id: int, name: str, indicator: Indicator, period: str | None,
                 reason: str, fill_with: list[str]) -> dict:
    return {"area_id": area_id, "area_name": name, "period": period, "value": None,
            "source": indicator.source, "status": IndicatorValue.Status.MISSING,
            "origin": None, "note": reason, "computed_at": None, "discrepancy": None,
            "fill_with": fill_with}


def values(indicator: Indicator, areas: Layer, period: str | None, *,
           area_id: int | None = None, all_sources: bool = False) -> list[dict]:
    """One row per area of the layer (the preferred source), or with `all_sources` one per
    area and source; each row carries its open or reviewed discrepancy, if any. An area
    without a stored value is a `missing` row (value None) with the reason and the wanted
    datasets that would fill it (`fill_with`), as in the gap matrix: the contract says values
    carry status missing, so absence is never left for a client to guess."""
    rows = (IndicatorValue.objects
            .filter(indicator=indicator, area__layer=areas, period=period)
            .select_related("area").order_by("area_id", "source"))
    members = Feature.objects.filter(layer=areas).order_by("id")
    if area_id is not None:
        rows = rows.filter(area_id=area_id)
        members = members.filter(id=area_id)
    disputes = {d.area_id: d for d in Discrepancy.objects.filter(
        indicator=indicator, period=period, area__layer=areas).exclude(
        status=Discrepancy.Status.RESOLVED)}
    by_area: dict[int, list[IndicatorValue]] = {}
    for v in rows:
        by_area.setdefault(v.area_id, []).append(v)
    reason = None
    out = []
    for member_id, props in members.values_list("id", "properties"):
        stored = by_area.get(member_id)
        if reason is None and (not stored or all(v.value is None for v in stored)):
            reason = gaps.missing_reason(indicator)
        if not stored:
            out.append(_missing_row(member_id, str(props.get(areas.name_field, member_id)),
                                    indicator, period, *reason))
            continue
        chosen = stored if all_sources else [_preferred(stored, indicator)]
        for v in chosen:
            row = _row(v, areas, disputes.get(member_id))
            row["fill_with"] = reason[1] if v.value is None else []
            out.append(row)
    return out


def value_rows(*, indicator: Indicator | None = None, areas: Layer | None = None,
               area_id: int | None = None, period: str | None = None,
               source: str | None = None, status: str | None = None,
               limit: int | None = None) -> list[dict]:
    """Values across indicators, every source, for public areas layers, filterable."""
    qs = (IndicatorValue.objects.filter(area__layer__visibility=PUBLIC)
          .select_related("indicator", "area", "area__layer")
          .order_by("indicator__order", "indicator__code", "area__layer__slug", "area_id",
                    "period", "source"))
    for name, value in (("indicator", indicator), ("area__layer", areas), ("area_id", area_id),
                        ("period", period), ("source", source), ("status", status)):
        if value is not None:
            qs = qs.filter(**{name: value})
    if limit is not None:
        qs = qs[:limit]
    return [{"indicator": v.indicator.code, "unit": v.indicator.unit,
             "areas": v.area.layer.slug, "area_id": v.area_id,
             "area_name": str(v.area.properties.get(v.area.layer.name_field, v.area_id)),
             "period": v.period, "value": v.value, "source": v.source, "status": v.status,
             "origin": v.origin, "note": v.note,
             "computed_at": v.computed_at.isoformat() if v.computed_at else None}
            for v in qs]


def discrepancies(*, areas: Layer | None = None, indicator: Indicator | None = None,
                  include_resolved: bool = False) -> list[dict]:
    """Discrepancies on public layers, for the pages (next to the figure) and the API."""
    qs = (Discrepancy.objects.filter(area__layer__visibility=PUBLIC)
          .select_related("indicator", "area", "area__layer").order_by("indicator__order",
                                                                      "area_id", "period"))
    if areas is not None:
        qs = qs.filter(area__layer=areas)
    if indicator is not None:
        qs = qs.filter(indicator=indicator)
    if not include_resolved:
        qs = qs.exclude(status=Discrepancy.Status.RESOLVED)
    return [discrepancy_row(d) for d in qs]


def discrepancy_row(d: Discrepancy) -> dict:
    return {"indicator_id": d.indicator_id, "indicator": d.indicator.code,
            "areas": d.area.layer.slug, "area_id": d.area_id,
            "area_name": str(d.area.properties.get(d.area.layer.name_field, d.area_id)),
            "period": d.period, **_discrepancy_json(d)}


def indicator_json(i: Indicator, *, detail: bool = False) -> dict:
    city = city_layer_for(i)
    data = {"code": i.code, "name": i.name_pl, "name_en": i.name_en, "unit": i.unit,
            "theme": i.theme, "polarity": i.polarity, "source": i.source, "licence": i.licence,
            "periods": periods(i),
            "area_layers": [la.slug for la in public_area_layers(i)],
            "city_layer": city.slug if city else None}
    if detail:
        inputs = {la.slug: la for la in Layer.objects.filter(
            slug__in=methods.input_layers(i.method), visibility=PUBLIC)}
        data.update({
            "description_pl": i.description_pl, "description_en": i.description_en,
            "iso_reference": i.iso_reference, "eurostat_reference": i.eurostat_reference,
            "methodology": i.methodology, "method": i.method, "decimals": i.decimals,
            "classification": i.classification, "classes": i.classes,
            "colour_scheme": i.colour_scheme, "tolerance": i.tolerance,
            "tolerance_relative": i.tolerance_relative,
            "inputs": [{"layer": s, "exists": s in inputs,
                        "licence": inputs[s].licence if s in inputs else None,
                        "attribution": inputs[s].attribution if s in inputs else None}
                       for s in methods.input_layers(i.method)],
            "wanted_datasets": [w.code for w in i.wanted_datasets.all()],
        })
    return data


def attribution(indicator: Indicator, areas: Layer, period: str | None) -> list[str]:
    """Whom a map of the indicator over `areas` must credit, as plain text: the public input
    layers' attribution and licence (the indicator's own source and licence when it has no
    input layer, e.g. imported values), if any value is shown; and always the areas layer,
    whose geometry is drawn."""
    parts = []
    if IndicatorValue.objects.filter(indicator=indicator, area__layer=areas, period=period,
                                     value__isnull=False).exists():
        inputs = Layer.objects.filter(slug__in=methods.input_layers(indicator.method),
                                      visibility=PUBLIC)
        credits = [(la.attribution or la.title_pl, la.licence) for la in inputs] or \
            [(indicator.source, indicator.licence)]
        parts += [f"{who} ({licence})" if licence else who for who, licence in credits if who]
    if areas.attribution:
        parts.append(areas.attribution)
    return list(dict.fromkeys(parts))


def values_stamp(indicator: Indicator, period: str) -> str:
    latest = IndicatorValue.objects.filter(indicator=indicator, period=period).aggregate(
        m=Max("computed_at"))["m"]
    return latest.isoformat() if latest else "none"
