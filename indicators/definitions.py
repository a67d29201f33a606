"""Indicator definitions from a city's version-controlled files:
fixtures/<city>/indicators.yaml (the indicators, and the property that codes each areas layer's
features for CSV imports) and fixtures/<city>/wanted_datasets.yaml (data the city lacks).

Loading is an upsert by code: a definition changed in the file updates the registry; one edited
in the admin and absent from the file is left alone. Everything is checked before anything is
written, and a definition error names the indicator and the problem.
"""

import yaml
from django.conf import settings
from django.db import transaction

from indicators.methods import MethodError, input_layers, validate
from indicators.models import ISO_37120_THEMES, Indicator, WantedDataset
from layers.city import find_city_dir
from layers.models import Layer

FIELDS = ("name_pl", "name_en", "description_pl", "description_en", "unit", "theme",
          "iso_reference", "eurostat_reference", "polarity", "methodology", "method", "source",
          "source_en", "licence", "decimals", "classes", "classification", "colour_scheme",
          "tolerance", "tolerance_relative", "city_wide")
REQUIRED = ("code", "name_pl", "name_en", "theme", "polarity", "method", "source", "licence",
            "area_layers")
WANTED_FIELDS = ("title_pl", "title_en", "description_pl", "description_en", "owner",
                 "where_to_get")
# Codes that would shadow fixed API paths under /api/indicators/.
RESERVED_CODES = {"values", "discrepancies", "recompute"}

__all__ = ["ISO_37120_THEMES", "area_code_fields", "load_definitions"]


def _read(city: str, name: str) -> dict:
    path = find_city_dir(city) / name
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def area_code_fields(city: str | None = None) -> dict[str, str]:
    """{areas layer slug: property holding each area's code} from the city's indicators.yaml."""
    try:
        return dict(_read(city or getattr(settings, "CITY", "kielce"),
                          "indicators.yaml").get("area_codes") or {})
    except FileNotFoundError:
        return {}


def _check(entry: dict, wanted_layers: set[str], layers: dict[str, Layer]) -> list[str]:
    code = entry.get("code", "?")
    problems = [f"missing `{f}`" for f in REQUIRED if entry.get(f) in (None, "", [])]
    if code in RESERVED_CODES:
        problems.append("this code is reserved")
    if entry.get("theme") and entry["theme"] not in ISO_37120_THEMES:
        problems.append(f"theme {entry['theme']!r} is not an ISO 37120:2018 theme")
    if entry.get("polarity") and entry["polarity"] not in Indicator.Polarity.values:
        problems.append(f"polarity must be one of {', '.join(Indicator.Polarity.values)}")
    if entry.get("classification") and \
            entry["classification"] not in Indicator.Classification.values:
        problems.append(f"classification must be one of "
                        f"{', '.join(Indicator.Classification.values)}")
    unknown = set(entry) - set(FIELDS) - set(REQUIRED) - {"wanted"}
    if unknown:
        problems.append(f"unknown field(s) {', '.join(sorted(unknown))}")
    method = entry.get("method") or {}
    problems += validate(method)
    for slug in input_layers(method) if isinstance(method, dict) else []:
        if slug not in layers and slug not in wanted_layers:
            problems.append(f"input layer {slug!r} neither exists nor is a wanted dataset")
    for slug in entry.get("area_layers") or []:
        if slug not in layers or layers[slug].role != Layer.Role.AREAS:
            problems.append(f"area layer {slug!r} is not an existing areas layer")
    return [f"{code}: {p}" for p in problems]


@transaction.atomic
def load_definitions(city: str) -> list[Indicator]:
    entries = _read(city, "indicators.yaml").get("indicators") or []
    wanted = _read(city, "wanted_datasets.yaml").get("wanted_datasets") or []
    layers = {la.slug: la for la in Layer.objects.all()}
    wanted_layers = {w["layer"] for w in wanted if w.get("layer")}
    problems = [p for e in entries for p in _check(e, wanted_layers, layers)]
    codes = [e.get("code") for e in entries]
    problems += [f"{c}: defined twice" for c in set(codes) if codes.count(c) > 1]
    if problems:
        raise MethodError("; ".join(problems))

    loaded = []
    for order, entry in enumerate(entries):
        indicator, _ = Indicator.objects.update_or_create(
            code=entry["code"],
            defaults={**{f: entry[f] for f in FIELDS if f in entry}, "order": order},
        )
        indicator.area_layers.set([layers[s] for s in entry["area_layers"]])
        loaded.append(indicator)

    known = {i.code: i for i in Indicator.objects.all()}
    for order, w in enumerate(wanted):
        missing = [c for c in w.get("indicators", []) if c not in known]
        if missing:
            raise MethodError(f"wanted dataset {w.get('code')}: unknown indicator(s) "
                              f"{', '.join(missing)}")
        record, _ = WantedDataset.objects.update_or_create(
            code=w["code"],
            defaults={**{f: w.get(f, "") for f in WANTED_FIELDS},
                      "layer_slug": w.get("layer", ""), "order": order})
        record.indicators.set([known[c] for c in w.get("indicators", [])])
    return loaded
