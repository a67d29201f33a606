"""Class breaks and colours for choropleths (mapclassify; ColorBrewer palettes via palettable).

Classification: quantiles, equal intervals or natural breaks (mapclassify.FisherJenks, the
exact Jenks optimisation), with 3–9 classes. Colours: ColorBrewer 2.0 schemes (Cynthia Brewer,
Apache License 2.0). Without a scheme of its own, an indicator gets a colour-blind-safe
sequential scheme by polarity: what is good is blue-green, what is bad orange-red, neutral
figures purple. A diverging scheme (e.g. RdYlGn) is oriented by polarity too: its green end
marks the better values, whichever way "better" runs.

mapclassify (with scipy, scikit-learn and pandas) and palettable are imported on the first
classification, not with the module: the tile and API modules import this one, and a web
process that never draws a choropleth should not carry some 150 MB of them.
"""

import warnings
from functools import cache

from indicators.models import Discrepancy, Indicator, IndicatorValue
from layers.models import Layer

NO_DATA_COLOUR = "#d9d9d9"
SCHEME_BY_POLARITY = {"higher": "YlGnBu", "lower": "OrRd", "neutral": "BuPu"}
# Classification name -> mapclassify class name.
CLASSIFIERS = {
    "quantiles": "Quantiles",
    "equal_interval": "EqualInterval",
    "natural_breaks": "FisherJenks",
}
ALIASES = {"jenks": "natural_breaks", "fisher_jenks": "natural_breaks",
           "equal_intervals": "equal_interval", "quantile": "quantiles"}
MIN_CLASSES, MAX_CLASSES = 3, 9
# Diverging ColorBrewer schemes that run from a "bad" colour (red/brown) to a "good" one.
BAD_TO_GOOD = {"RdYlGn", "RdYlBu", "RdBu", "BrBG", "PuOr", "PiYG", "PRGn", "Spectral", "RdGy"}


class LegendError(ValueError):
    pass


@cache
def scheme_types() -> dict[str, str]:
    """ColorBrewer scheme name -> "sequential" or "diverging"."""
    from palettable.colorbrewer import COLOR_MAPS

    return {name: kind.lower() for kind, names in COLOR_MAPS.items()
            if kind in ("Sequential", "Diverging") for name in names}


def classification_name(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in CLASSIFIERS:
        raise LegendError(f"unknown classification {name!r}; one of {', '.join(CLASSIFIERS)}")
    return name


def palette(scheme: str, n: int, polarity: str = "higher") -> list[str]:
    """n colours (3–9) of a ColorBrewer scheme, light-to-dark (sequential) or oriented by
    polarity (diverging: the better end is the last colour)."""
    from palettable.colorbrewer import get_map

    kind = scheme_types().get(scheme)
    if kind is None:
        raise LegendError(f"unknown ColorBrewer scheme {scheme!r}")
    n = max(MIN_CLASSES, min(MAX_CLASSES, n))
    reverse = kind == "diverging" and scheme in BAD_TO_GOOD and polarity == "lower"
    return [c.lower() for c in get_map(scheme, kind, n, reverse=reverse).hex_colors]


def breaks_for(values: list[float], k: int, method: str = "quantiles") -> list[float]:
    """Ascending upper bounds of the classes. Few distinct values: one class per value."""
    distinct = sorted(set(values))
    if len(distinct) <= k:
        return distinct
    import mapclassify
    import numpy as np

    classifier = getattr(mapclassify, CLASSIFIERS.get(ALIASES.get(method, method), "Quantiles"))
    with warnings.catch_warnings():
        # Ties can leave fewer distinct quantiles than k; duplicates are dropped below.
        warnings.simplefilter("ignore", UserWarning)
        bins = classifier(np.array(values, dtype=float), k=k).bins
    return sorted(set(float(b) for b in bins))


def _without_float_noise(breaks: list[float]) -> list[float]:
    """Breaks that differ by rounding error only (99.99999999999794 and 100.00000000001843 for
    a share that is 100 % in several areas) made one, the larger kept: otherwise the legend
    shows a class "over 100 to 100"."""
    kept: list[float] = []
    for b in breaks:
        if kept and abs(b - kept[-1]) <= 1e-9 * max(1.0, abs(b)):
            kept[-1] = b
        else:
            kept.append(b)
    return kept


def class_of(value: float | None, breaks: list[float]) -> int | None:
    if value is None:
        return None
    for i, upper in enumerate(breaks):
        if value <= upper:
            return i
    return len(breaks) - 1


def legend(indicator: Indicator, areas: Layer, period: str, *, classification: str | None = None,
           k: int | None = None, scheme: str | None = None) -> dict:
    """Breaks and colours for one indicator, areas layer and period; the keyword arguments
    override the indicator's own settings (a map's classification switcher)."""
    shown = shown_values(indicator, areas, period)
    values = [v for v in shown.values() if v is not None]
    method = classification_name(classification or indicator.classification)
    k = max(MIN_CLASSES, min(MAX_CLASSES, k or indicator.classes))
    scheme = scheme or indicator.colour_scheme or SCHEME_BY_POLARITY.get(indicator.polarity,
                                                                         "BuPu")
    breaks = _without_float_noise(breaks_for(values, k, method)) if values else []
    colours = palette(scheme, max(MIN_CLASSES, len(breaks)), indicator.polarity)
    # Fewer classes than colours: spread them over the palette so contrast stays high.
    if len(breaks) < MIN_CLASSES:
        colours = [colours[0], colours[-1]][: len(breaks)] if len(breaks) == 2 else colours[-1:]
    unique = len(set(values)) <= k
    # Unique-value classes hold one value each; classified ones run from the previous break.
    lower = breaks if unique else ([min(values)] + breaks[:-1] if values else [])
    counts = [0] * len(breaks)
    for v in values:
        counts[class_of(v, breaks)] += 1
    return {
        "indicator": indicator.code,
        "areas": areas.slug,
        "period": period,
        "unit": indicator.unit,
        "polarity": indicator.polarity,
        "method": "unique values" if unique else method,
        "classification": method,
        "k": k,
        "scheme": scheme,
        "scheme_type": scheme_types()[scheme],
        "breaks": breaks,
        "classes": [
            {"class": i, "from": lo, "to": hi, "colour": colours[i], "count": counts[i]}
            for i, (lo, hi) in enumerate(zip(lower, breaks, strict=True))
        ],
        "no_data_colour": NO_DATA_COLOUR,
        # Every area of the layer without a value, stored as missing or not stored at all (the
        # tiles draw both as "no data").
        "no_data_count": areas.features.count() - len(values),
        # Areas whose sources disagree beyond the tolerance (open or explained): the map says
        # so under the legend, and each area's panel shows every source's figure.
        "disputed_count": Discrepancy.objects.filter(
            indicator=indicator, area__layer=areas, period=period).exclude(
            status=Discrepancy.Status.RESOLVED).count(),
    }


def shown_values(indicator: Indicator, areas: Layer, period: str) -> dict[int, float | None]:
    """The value each area shows on the map: the indicator's own source first, then the first
    source by name (the rule of the indicator tiles)."""
    shown: dict[int, float | None] = {}
    for area_id, source, value in (IndicatorValue.objects
                                   .filter(indicator=indicator, area__layer=areas, period=period)
                                   .order_by("area_id", "source")
                                   .values_list("area_id", "source", "value")):
        if area_id not in shown or source == indicator.source:
            shown[area_id] = value
    return shown
