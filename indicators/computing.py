"""Computing indicator values and storing them with their source and input layer versions."""

from django.db import transaction

from indicators import methods
from indicators.models import Indicator, IndicatorValue
from layers.models import Layer


@transaction.atomic
def compute_indicator(indicator: Indicator) -> int:
    """(Re)compute every value of `indicator` for each of its areas layers; returns the count."""
    inputs = methods.input_layers(indicator.method)
    stored = 0
    for areas in indicator.area_layers.all():
        versions = dict(Layer.objects.filter(slug__in=[*inputs, areas.slug])
                        .values_list("slug", "version"))
        rows = methods.compute(indicator.method, areas)
        IndicatorValue.objects.filter(indicator=indicator, area__layer=areas,
                                      source=indicator.source).delete()
        IndicatorValue.objects.bulk_create([
            IndicatorValue(indicator=indicator, area_id=r.area_id, period=r.period,
                           source=indicator.source, value=r.value,
                           status=IndicatorValue.Status.OK if r.value is not None
                           else IndicatorValue.Status.MISSING,
                           input_versions=versions)
            for r in rows
        ])
        stored += len(rows)
    return stored


def compute_all() -> dict[str, int]:
    return {ind.code: compute_indicator(ind) for ind in Indicator.objects.all()}
