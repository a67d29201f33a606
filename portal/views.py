"""Resident-facing pages. Data comes from indicators.queries and the layer registry."""

from django.conf import settings
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from indicators import queries
from layers.city import read_config
from layers.models import Layer


def _localized(obj, field: str) -> str:
    lang = get_language() or "pl"
    return getattr(obj, f"{field}_{lang[:2]}", "") or getattr(obj, f"{field}_pl")


def map_page(request):
    indicators = list(queries.public_indicators())
    areas = {la.slug: la for i in indicators for la in i.area_layers.all()
             if la.visibility == Layer.Visibility.PUBLIC}
    city = read_config("kielce")[0]["city"]
    config = {
        "indicators": [
            {"code": i.code, "name": _localized(i, "name"), "unit": i.unit,
             "decimals": i.decimals, "source": i.source, "periods": queries.periods(i),
             "areas": [la.slug for la in i.area_layers.all() if la.slug in areas]}
            for i in indicators
        ],
        "areas": [{"slug": la.slug, "title": _localized(la, "title"),
                   "count": la.features.count()} for la in areas.values()],
        "tileUrl": "/tiles/indicators/{code}/{z}/{x}/{y}.pbf?areas={areas}&period={period}",
        "legendUrl": "/api/indicators/{code}/legend/?areas={areas}&period={period}",
        "basemap": {"url": settings.BASEMAP_URL, "attribution": settings.BASEMAP_ATTRIBUTION},
        "fillOpacity": 0.85,
        "center": city["center"],
        "zoom": city["zoom"],
        "strings": {
            "noData": _("no data"),
            "rank": _("rank"),
            "of": _("of"),
            "source": _("Source"),
            "period": _("Period"),
        },
    }
    return render(request, "portal/map.html", {"config": config, "city": city["name"]})
