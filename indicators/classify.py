"""Class breaks and colours for choropleths (mapclassify; ColorBrewer palettes).

Palettes are ColorBrewer 2.0 (Cynthia Brewer, Apache License 2.0), colour-blind safe sequential
schemes chosen by polarity: what is good is blue-green, what is bad is orange-red, neutral
figures purple.
"""

import warnings

import mapclassify
import numpy as np

from indicators.models import Indicator, IndicatorValue
from layers.models import Layer

PALETTES = {
    "YlGnBu": {
        3: ["#edf8b1", "#7fcdbb", "#2c7fb8"],
        4: ["#ffffcc", "#a1dab4", "#41b6c4", "#225ea8"],
        5: ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"],
        6: ["#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494"],
        7: ["#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#0c2c84"],
    },
    "OrRd": {
        3: ["#fee8c8", "#fdbb84", "#e34a33"],
        4: ["#fef0d9", "#fdcc8a", "#fc8d59", "#d7301f"],
        5: ["#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000"],
        6: ["#fef0d9", "#fdd49e", "#fdbb84", "#fc8d59", "#e34a33", "#b30000"],
        7: ["#fef0d9", "#fdd49e", "#fdbb84", "#fc8d59", "#ef6548", "#d7301f", "#990000"],
    },
    "BuPu": {
        3: ["#e0ecf4", "#9ebcda", "#8856a7"],
        4: ["#edf8fb", "#b3cde3", "#8c96c6", "#88419d"],
        5: ["#edf8fb", "#b3cde3", "#8c96c6", "#8856a7", "#810f7c"],
        6: ["#edf8fb", "#bfd3e6", "#9ebcda", "#8c96c6", "#8856a7", "#810f7c"],
        7: ["#edf8fb", "#bfd3e6", "#9ebcda", "#8c96c6", "#8c6bb1", "#88419d", "#6e016b"],
    },
}
NO_DATA_COLOUR = "#d9d9d9"
SCHEME_BY_POLARITY = {"higher": "YlGnBu", "lower": "OrRd", "neutral": "BuPu"}
CLASSIFIERS = {
    "quantiles": mapclassify.Quantiles,
    "equal_interval": mapclassify.EqualInterval,
    "natural_breaks": mapclassify.FisherJenks,
}


def breaks_for(values: list[float], k: int, method: str = "quantiles") -> list[float]:
    """Ascending upper bounds of the classes. Few distinct values: one class per value."""
    distinct = sorted(set(values))
    if len(distinct) <= k:
        return distinct
    classifier = CLASSIFIERS.get(method, mapclassify.Quantiles)
    with warnings.catch_warnings():
        # Ties can leave fewer distinct quantiles than k; duplicates are dropped below.
        warnings.simplefilter("ignore", UserWarning)
        bins = classifier(np.array(values, dtype=float), k=k).bins
    return sorted(set(float(b) for b in bins))


def class_of(value: float | None, breaks: list[float]) -> int | None:
    if value is None:
        return None
    for i, upper in enumerate(breaks):
        if value <= upper:
            return i
    return len(breaks) - 1


def legend(indicator: Indicator, areas: Layer, period: str) -> dict:
    values = list(IndicatorValue.objects.filter(
        indicator=indicator, area__layer=areas, period=period, value__isnull=False,
    ).values_list("value", flat=True))
    k = max(3, min(7, indicator.classes))
    breaks = breaks_for(values, k, indicator.classification) if values else []
    scheme = SCHEME_BY_POLARITY.get(indicator.polarity, "BuPu")
    palette = PALETTES[scheme][max(3, len(breaks))]
    # Fewer classes than colours: spread them over the palette so contrast stays high.
    if len(breaks) < 3:
        palette = [palette[0], palette[-1]][: len(breaks)] if len(breaks) == 2 else palette[-1:]
    unique = len(set(values)) <= k
    # Unique-value classes hold one value each; classified ones run from the previous break.
    lower = breaks if unique else ([min(values)] + breaks[:-1] if values else [])
    return {
        "indicator": indicator.code,
        "areas": areas.slug,
        "period": period,
        "unit": indicator.unit,
        "method": "unique values" if unique else indicator.classification,
        "scheme": scheme,
        "breaks": breaks,
        "classes": [
            {"class": i, "from": lo, "to": hi, "colour": palette[i]}
            for i, (lo, hi) in enumerate(zip(lower, breaks, strict=True))
        ],
        "no_data_colour": NO_DATA_COLOUR,
    }
