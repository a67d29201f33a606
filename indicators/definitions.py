"""Indicator definitions from a city's version-controlled file (fixtures/<city>/indicators.yaml).

Loading is an upsert by code: a definition changed in the file updates the registry; one edited
in the admin and absent from the file is left alone.
"""

import yaml

from indicators.methods import KINDS, MethodError
from indicators.models import Indicator
from layers.city import find_city_dir
from layers.models import Layer

ISO_37120_THEMES = (
    "Economy", "Education", "Energy", "Environment and climate change", "Finance",
    "Governance", "Health", "Housing", "Population and social conditions", "Recreation",
    "Safety", "Solid waste", "Sport and culture", "Telecommunication", "Transportation",
    "Urban/local agriculture and food security", "Urban planning", "Wastewater", "Water",
)
FIELDS = ("name_pl", "name_en", "description_pl", "description_en", "unit", "theme",
          "iso_reference", "polarity", "methodology", "method", "source", "decimals",
          "classes", "classification")


def load_definitions(city: str) -> list[Indicator]:
    path = find_city_dir(city) / "indicators.yaml"
    if not path.exists():
        return []
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["indicators"]
    loaded = []
    for order, entry in enumerate(entries):
        if entry.get("theme") not in ISO_37120_THEMES:
            raise MethodError(f"{entry['code']}: theme {entry.get('theme')!r} is not an "
                              "ISO 37120:2018 theme")
        if entry["method"].get("kind") not in KINDS:
            raise MethodError(f"{entry['code']}: unknown method kind")
        indicator, _ = Indicator.objects.update_or_create(
            code=entry["code"],
            defaults={**{f: entry[f] for f in FIELDS if f in entry}, "order": order},
        )
        areas = list(Layer.objects.filter(slug__in=entry["area_layers"], role="areas"))
        if len(areas) != len(entry["area_layers"]):
            raise MethodError(f"{entry['code']}: area_layers must be existing areas layers")
        indicator.area_layers.set(areas)
        loaded.append(indicator)
    return loaded
