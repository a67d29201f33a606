"""Computing indicator values and storing them with their source and input layer versions.

Values are replaced per (indicator, areas layer) in one transaction: a reader sees the old set
or the new one. Imported values (another source, uploaded as CSV) are never touched here; after
every computation the sources are compared (indicators.discrepancies).
"""

import time

from django.db import transaction

from indicators import discrepancies, methods
from indicators.models import Indicator, IndicatorValue
from layers.models import Feature, Layer

Status, Origin = IndicatorValue.Status, IndicatorValue.Origin


def city_layer() -> Layer | None:
    """The whole city as an areas layer: the boundary layer (one polygon). Every indicator with
    `city_wide` is computed for it by the same method as for the districts."""
    return Layer.objects.filter(role=Layer.Role.BOUNDARY).order_by("id").first()


def layers_for(indicator: Indicator) -> list[Layer]:
    layers = list(indicator.area_layers.order_by("id"))
    city = city_layer() if indicator.city_wide else None
    if city is not None and city not in layers:
        layers.append(city)
    return layers


def _placeholders(indicator: Indicator, areas: Layer) -> list[IndicatorValue]:
    """'No data' rows for the periods an imported indicator expects, where no source has a
    value: the gap shows on the map and in the API instead of the indicator vanishing."""
    periods = methods.fixed_periods(indicator.method)
    have = set(IndicatorValue.objects.filter(indicator=indicator, area__layer=areas,
                                             value__isnull=False)
               .values_list("area_id", "period"))
    note = "no imported values yet"
    return [IndicatorValue(indicator=indicator, area_id=area_id, period=p,
                           source=indicator.source, value=None, status=Status.MISSING,
                           origin=Origin.COMPUTED, note=note)
            for area_id in Feature.objects.filter(layer=areas).order_by("id")
            .values_list("id", flat=True)
            for p in periods if (area_id, p) not in have]


@transaction.atomic
def compute_indicator(indicator: Indicator, timings: dict | None = None) -> int:
    """(Re)compute every value of `indicator` for each of its areas layers (and the whole
    city); returns the number of values stored."""
    started = time.perf_counter()
    stored = 0
    for areas in layers_for(indicator):
        computed = IndicatorValue.objects.filter(indicator=indicator, area__layer=areas,
                                                 origin=Origin.COMPUTED)
        if indicator.method.get("kind") == "imported":
            computed.filter(value__isnull=True).delete()
            rows = _placeholders(indicator, areas)
        else:
            plan = methods.compile_method(indicator.method, areas)
            results = methods.run(plan)
            # Every computed value of this layer goes, whatever source it was stored under
            # (the definition's source may have been edited): a leftover would pose as a
            # second source and raise a false discrepancy.
            computed.delete()
            rows = [IndicatorValue(indicator=indicator, area_id=r.area_id, period=r.period,
                                   source=indicator.source, value=r.value,
                                   status=Status.OK if r.value is not None else Status.MISSING,
                                   origin=Origin.COMPUTED, note=r.note[:300],
                                   input_versions=plan.inputs)
                    for r in results]
        IndicatorValue.objects.bulk_create(rows)
        stored += len(rows)
    discrepancies.detect(indicator)
    if timings is not None:
        timings[indicator.code] = time.perf_counter() - started
    return stored


def _dependency_order(indicators: list[Indicator]) -> list[Indicator]:
    # Per-resident indicators read the population values: compute (or import) those first.
    return sorted(indicators, key=lambda i: i.method.get("kind") == "per_1000")


def compute_all(only_stale: bool = False, timings: dict | None = None) -> dict[str, int]:
    """Compute every indicator, or with `only_stale` those with a value that is out of date."""
    from indicators import stale
    indicators = list(Indicator.objects.all())
    if only_stale:
        stale.refresh_marks()
        codes = stale.indicators_to_recompute()
        indicators = [i for i in indicators if i.code in codes]
    return {ind.code: compute_indicator(ind, timings)
            for ind in _dependency_order(indicators)}
