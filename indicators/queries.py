"""Read-side queries over indicator values, shared by the API, the pages and the tiles."""

from django.db.models import Max

from indicators.models import Indicator, IndicatorValue
from layers.models import Layer


class NotFound(LookupError):
    pass


def public_indicators():
    return Indicator.objects.prefetch_related("area_layers")


def periods(indicator: Indicator) -> list[str]:
    return sorted(IndicatorValue.objects.filter(indicator=indicator)
                  .values_list("period", flat=True).distinct())


def resolve(code: str, areas_slug: str | None, period: str | None
            ) -> tuple[Indicator, Layer, str]:
    """The indicator, its areas layer and period named by a request, or the defaults
    (first areas layer, latest period). Raises NotFound naming what is unknown."""
    areas_slug, period = areas_slug or None, period or None  # empty query values = default
    indicator = Indicator.objects.filter(code=code).first()
    if indicator is None:
        raise NotFound(f"unknown indicator {code!r}")
    layers = list(indicator.area_layers.filter(visibility=Layer.Visibility.PUBLIC)
                  .order_by("id"))
    if areas_slug:
        areas = next((la for la in layers if la.slug == areas_slug), None)
        if areas is None:
            raise NotFound(f"indicator {code!r} is not computed for areas layer {areas_slug!r}")
    elif layers:
        areas = layers[0]
    else:
        raise NotFound(f"indicator {code!r} has no public areas layer")
    known = periods(indicator)
    if period is None:
        if not known:
            raise NotFound(f"indicator {code!r} has no values yet")
        period = known[-1]
    elif period not in known:
        raise NotFound(f"indicator {code!r} has no values for period {period!r}")
    return indicator, areas, period


def values(indicator: Indicator, areas: Layer, period: str) -> list[dict]:
    rows = (IndicatorValue.objects
            .filter(indicator=indicator, area__layer=areas, period=period)
            .select_related("area").order_by("area_id"))
    return [{"area_id": v.area_id,
             "area_name": str(v.area.properties.get(areas.name_field, v.area_id)),
             "period": v.period, "value": v.value, "source": v.source, "status": v.status}
            for v in rows]


def values_stamp(indicator: Indicator, period: str) -> str:
    latest = IndicatorValue.objects.filter(indicator=indicator, period=period).aggregate(
        m=Max("computed_at"))["m"]
    return latest.isoformat() if latest else "none"
