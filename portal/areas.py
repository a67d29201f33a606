"""The areas residents look at (districts, precincts): their names and their page addresses.

An area is a feature of a public layer with role "areas". Its slug (the /districts/<slug>/
address) and its display names come from the city's fixtures/<city>/portal.yaml templates,
filled from the feature's properties, e.g. "obwod-{OBWOD}" -> "obwod-12". Without a template
the layer's name_field names the area and the slug is made from that name, diacritics folded.
Slugs stay stable while the source data keep their numbering: they do not depend on row ids.
"""

import re
import string
from dataclasses import dataclass
from functools import lru_cache

import yaml
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection
from django.db.models import Count
from django.utils.text import slugify

from layers.city import find_city_dir
from layers.models import Feature, Layer
from layers.schema import display_type, field_label
from portal.text import display_value, fold
from sdi.language import lang


@dataclass(frozen=True)
class Area:
    id: int
    slug: str
    layer: str
    name_pl: str
    name_en: str
    detail: str

    def name(self, lang: str) -> str:
        return self.name_en if lang.startswith("en") and self.name_en else self.name_pl


def city_name() -> str:
    return getattr(settings, "CITY", "kielce")


@lru_cache(maxsize=4)
def _portal_config(city: str) -> dict:
    try:
        path = find_city_dir(city) / "portal.yaml"
    except FileNotFoundError:
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}


def layer_config(layer_slug: str) -> dict:
    return (_portal_config(city_name()).get("areas") or {}).get(layer_slug) or {}


class _Blank(dict):
    def __missing__(self, key):
        return ""


def _fill(template: str, properties: dict) -> str:
    """The template with the feature's properties; missing or null properties leave no
    trace ("{ULICA} {NUMER}" without a street gives "" rather than "None None")."""
    values = _Blank({k: "" if v is None else v for k, v in properties.items()})
    text = string.Formatter().vformat(template, (), values)
    return re.sub(r"\s+", " ", text).strip(" ,;")


def _slug(text: str) -> str:
    return slugify(fold(text))


def areas_layers() -> list[Layer]:
    return list(Layer.objects.filter(role=Layer.Role.AREAS, visibility=Layer.Visibility.PUBLIC)
                .order_by("id"))


def default_first(layer_slugs: list[str]) -> list[str]:
    """Areas layers in the order the map offers them: the city's choice first
    (portal.yaml `map: default_areas`), then the coarsest (fewest areas: the council districts
    before the 94 precincts), so that a first visit shows areas residents know."""
    wanted = (_portal_config(city_name()).get("map") or {}).get("default_areas")
    counts = {row["layer__slug"]: row["n"] for row in Feature.objects.filter(
        layer__slug__in=layer_slugs).values("layer__slug").annotate(n=Count("id"))}
    return sorted(layer_slugs, key=lambda s: (s != wanted, counts.get(s, 0), s))


def areas_of(layer: Layer) -> list[Area]:
    """The layer's areas, ordered by name (numbers in numeric order: 2 before 10)."""
    cfg = layer_config(layer.slug)
    found = []
    for fid, props in Feature.objects.filter(layer=layer).values_list("id", "properties"):
        raw = props.get(layer.name_field) if layer.name_field else None
        base = str(raw) if raw not in (None, "") else f"#{fid}"
        name_pl = _fill(cfg["name_pl"], props) if cfg.get("name_pl") else base
        name_en = _fill(cfg["name_en"], props) if cfg.get("name_en") else name_pl
        slug = _slug(_fill(cfg["slug"], props)) if cfg.get("slug") else _slug(base)
        if not re.search(r"[a-z]", slug):
            # A bare number ("12") would be ambiguous between layers.
            slug = f"{layer.slug}-{slug or fid}"
        detail = _fill(cfg["detail"], props) if cfg.get("detail") else ""
        found.append(Area(fid, slug, layer.slug, name_pl, name_en, detail))
    return sorted(found, key=lambda a: _natural(a.name_pl))


def _natural(text: str) -> list:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text)]


def all_areas() -> dict[str, list[Area]]:
    """Areas by layer slug, over every public areas layer. Slugs are unique: should two areas
    produce the same slug, the later one gets its feature id appended."""
    seen: set[str] = set()
    result = {}
    for layer in areas_layers():
        unique = []
        for area in areas_of(layer):
            if area.slug in seen:
                area = Area(area.id, f"{area.slug}-{area.id}", area.layer, area.name_pl,
                            area.name_en, area.detail)
            seen.add(area.slug)
            unique.append(area)
        result[layer.slug] = unique
    return result


def find(slug: str) -> tuple[Area, Layer] | None:
    for layer_slug, areas in all_areas().items():
        for area in areas:
            if area.slug == slug:
                return area, Layer.objects.get(slug=layer_slug)
    return None


def at_point(layer: Layer, lon: float, lat: float) -> Area | None:
    """The area of `layer` containing the point (the first by id if areas overlap)."""
    fid = (Feature.objects.filter(layer=layer, geom__intersects=Point(lon, lat, srid=4326))
           .order_by("id").values_list("id", flat=True).first())
    if fid is None:
        return None
    return next((a for a in all_areas().get(layer.slug, []) if a.id == fid), None)


def outline(area_id: int, tolerance: float = 0.00005) -> str:
    """The area's geometry as GeoJSON, simplified (about 5 m) for drawing on a page."""
    geom = Feature.objects.only("geom").get(pk=area_id).geom
    return geom.simplify(tolerance, preserve_topology=True).geojson


def attributes(area: Area, layer: Layer) -> list[dict]:
    """The area's own attributes for its profile, under their labels in the visitor's language
    and shown as their display type says (layers/schema.py); empty ones left out."""
    props = Feature.objects.values_list("properties", flat=True).get(pk=area.id) or {}
    shown = []
    for field in layer.fields:
        value = props.get(field["name"])
        if value is None or value == "":
            continue
        kind = display_type(field)
        shown.append({"label": field_label(field, lang()), "name": field["name"],
                      "display": kind, "value": display_value(value, kind)})
    return shown


def inside_point(area_id: int) -> list[float]:
    """[lat, lon] of a point PostGIS guarantees to lie inside the area (ST_PointOnSurface)."""
    with connection.cursor() as cur:
        cur.execute("SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_PointOnSurface(geom) p "
                    f"FROM {Feature._meta.db_table} WHERE id = %s) x", [area_id])
        lat, lon = cur.fetchone()
    return [round(lat, 6), round(lon, 6)]
