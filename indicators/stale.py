"""Stale values: a value records the versions of what it was computed from (input layers, the
areas layer, a raster file, the population figures); when any of them moves on, it is stale
until recomputed.

Two ways in: `layers.signals.layer_changed` (sent by layers.editing on every committed edit)
marks the dependants of that layer at once; `refresh_marks()` compares every value with the
current versions, which also catches changes made without the signal (a bulk reload of a
layer from its source file) and is run before every `compute_indicators --stale`.
"""

from django.db import connection

from indicators import methods
from indicators.models import Indicator, IndicatorValue
from layers.models import Layer

Status, Origin = IndicatorValue.Status, IndicatorValue.Origin
VALUES = IndicatorValue._meta.db_table


def _depends_on(indicator: Indicator, layer: Layer) -> str | None:
    """'all' if every value of the indicator reads the layer, 'areas' if only the values of
    that areas layer do, None if it is unrelated."""
    if layer.slug in methods.input_layers(indicator.method):
        return "all"
    if layer.role == Layer.Role.BOUNDARY and indicator.city_wide:
        return "areas"
    if any(la.pk == layer.pk for la in indicator.area_layers.all()):
        return "areas"
    return None


def mark_stale(layer: Layer) -> int:
    """Mark stale every computed value that read an older version of `layer` (or was computed
    while it did not exist). Returns how many values were marked."""
    marked = 0
    for indicator in Indicator.objects.prefetch_related("area_layers"):
        scope = _depends_on(indicator, layer)
        if scope is None:
            continue
        values = IndicatorValue.objects.filter(indicator=indicator, origin=Origin.COMPUTED)
        if scope == "areas":
            values = values.filter(area__layer=layer)
        marked += (values.exclude(status=Status.STALE)
                   .exclude(input_versions__contains={layer.slug: layer.version})
                   .update(status=Status.STALE))
    return marked


def mark_dependants_of(indicator: Indicator) -> int:
    """Per-resident values read the population indicator's values: new figures make them stale."""
    return (IndicatorValue.objects
            .filter(indicator__method__population=indicator.code, origin=Origin.COMPUTED)
            .exclude(status=Status.STALE).update(status=Status.STALE))


def refresh_marks() -> int:
    """Compare every computed value with the current versions of what it read."""
    with connection.cursor() as cur:
        # A layer recorded at another version than its current one.
        cur.execute(f"""
            UPDATE {VALUES} v SET status = %s
            FROM {Layer._meta.db_table} l
            WHERE v.origin = %s AND v.status <> %s AND v.input_versions ? l.slug
              AND (v.input_versions ->> l.slug) <> l.version::text""",
                    [Status.STALE, Origin.COMPUTED, Status.STALE])
        marked = cur.rowcount
    from indicators import rasters
    existing = set(Layer.objects.values_list("slug", flat=True))
    for indicator in Indicator.objects.all():
        method = indicator.method
        values = IndicatorValue.objects.filter(indicator=indicator, origin=Origin.COMPUTED) \
            .exclude(status=Status.STALE)
        for slug in methods.input_layers(method):
            # Computed while the input layer did not exist: it may exist now.
            if slug in existing:
                marked += values.exclude(input_versions__has_key=slug).update(status=Status.STALE)
        if method.get("kind") == "raster":
            key = f"raster:{method.get('raster')}"
            try:
                current = rasters.stamp(rasters.resolve(method["raster"]))
            except (methods.MethodError, OSError):
                current = None
            marked += values.exclude(input_versions__contains={key: current}).update(
                status=Status.STALE)
    return marked


def indicators_to_recompute() -> set[str]:
    return set(IndicatorValue.objects.filter(status=Status.STALE)
               .values_list("indicator__code", flat=True))


def on_layer_changed(sender, layer: Layer, **kwargs) -> None:
    mark_stale(layer)
