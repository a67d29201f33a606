"""Read-side queries over indicator values, shared by the API, the pages and the tiles.

Every read is on behalf of a user (None: anonymous) and shows only what indicators.access lets
them see: indicators computed from layers they may read, over areas layers they may read.
"""

from django.db.models import Max

from indicators import access, gaps, methods
from indicators.models import Discrepancy, Indicator, IndicatorValue
from layers import permissions
from layers.models import Feature, Layer


class NotFound(LookupError):
    pass


def visible_indicators(user=None):
    return access.visible(user, Indicator.objects.prefetch_related("area_layers"))


def get_indicator(code: str, user=None) -> Indicator:
    """The indicator, or NotFound whether it is unknown or hidden from `user`."""
    indicator = Indicator.objects.filter(code=code).first()
    if indicator is None or not access.can_view(user, indicator):
        raise NotFound(f"unknown indicator {code!r}")
    return indicator


def periods(indicator: Indicator) -> list[str]:
    return sorted(IndicatorValue.objects.filter(indicator=indicator)
                  .values_list("period", flat=True).distinct())


def city_layer_for(indicator: Indicator, user=None) -> Layer | None:
    """The city boundary layer the indicator is computed for as a whole, if any and if `user`
    may read it."""
    if not indicator.city_wide:
        return None
    city = Layer.objects.filter(role=Layer.Role.BOUNDARY).order_by("id").first()
    return city if city is not None and permissions.can_view(user, city) else None


def readable_area_layers(indicator: Indicator, user=None) -> list[Layer]:
    return access.area_layers(user, indicator)


def resolve(code: str, areas_slug: str | None, period: str | None, user=None
            ) -> tuple[Indicator, Layer, str | None]:
    """The indicator, its areas layer and period named by a request, or the defaults
    (first areas layer, latest period). The city boundary layer is accepted by name for
    city-wide values but never chosen by default. An indicator waiting for data (no values
    yet) resolves to period None: every channel then shows its areas as missing. Raises
    NotFound naming what is unknown (or hidden from `user`).

    Every channel that names an indicator (values, legend, tiles, TileJSON, the map's table)
    finds it here, so one rule decides who may see which indicator."""
    areas_slug, period = areas_slug or None, period or None  # empty query values = default
    indicator = get_indicator(code, user)
    layers = readable_area_layers(indicator, user)
    if areas_slug:
        city = city_layer_for(indicator, user)
        candidates = layers + ([city] if city else [])
        areas = next((la for la in candidates if la.slug == areas_slug), None)
        if areas is None:
            raise NotFound(f"indicator {code!r} is not computed for areas layer {areas_slug!r}")
    elif layers:
        # A public areas layer first, so that everyone's default (the map's tiles and legend,
        # cached for all) is the same.
        areas = min(layers, key=lambda la: (la.visibility != Layer.Visibility.PUBLIC, la.id))
    else:
        raise NotFound(f"indicator {code!r} has no areas layer to show")
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


def _readable(qs, user):
    """Rows (values or discrepancies) `user` may see: of visible indicators over readable
    areas layers."""
    qs = qs.filter(area__layer__in=permissions.visible_layers(user))
    hidden = access.hidden_ids(user)
    return qs.exclude(indicator_id__in=hidden) if hidden else qs


def value_rows(*, indicator: Indicator | None = None, areas: Layer | None = None,
               area_id: int | None = None, period: str | None = None,
               source: str | None = None, status: str | None = None,
               limit: int | None = None, user=None) -> list[dict]:
    """Values across indicators, every source, that `user` may see, filterable."""
    qs = (_readable(IndicatorValue.objects, user)
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
                  include_resolved: bool = False, user=None) -> list[dict]:
    """Discrepancies `user` may see, for the pages (next to the figure) and the API."""
    qs = (_readable(Discrepancy.objects, user)
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


def indicator_json(i: Indicator, *, detail: bool = False, user=None) -> dict:
    city = city_layer_for(i, user)
    data = {"code": i.code, "name": i.name_pl, "name_en": i.name_en, "unit": i.unit,
            "theme": i.theme, "polarity": i.polarity, "source": i.source, "licence": i.licence,
            "periods": periods(i),
            "area_layers": [la.slug for la in readable_area_layers(i, user)],
            "city_layer": city.slug if city else None}
    if detail:
        # (an indicator is only shown to those who may read its inputs: access.can_view)
        inputs = {la.slug: la for la in permissions.visible_layers(user).filter(
            slug__in=methods.input_layers(i.method))}
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
    """Whom a map of the indicator over `areas` must credit, as plain text: the input
    layers' attribution and licence (the indicator's own source and licence when it has no
    input layer, e.g. imported values), if any value is shown; and always the areas layer,
    whose geometry is drawn."""
    parts = []
    if IndicatorValue.objects.filter(indicator=indicator, area__layer=areas, period=period,
                                     value__isnull=False).exists():
        # Whoever sees the indicator may read every layer it reads (indicators.access).
        inputs = Layer.objects.filter(slug__in=methods.input_layers(indicator.method))
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
