"""The pygeoapi configuration, generated from the layer registry instead of a YAML file.

One collection per public layer. The config is built once per registry state (see
`queries.registry_stamp`) and per process; it does not depend on the request, the base URL is
filled in by `ogc.service` for each host the site is reached under.
"""

import copy
import datetime
from pathlib import Path

from django.conf import settings

from layers import permissions
from layers.models import Layer
from ogc import crs, queries

# Service metadata until the city config carries it; a deployment overrides any key with the
# OGC_METADATA setting (same structure as pygeoapi's `metadata`).
DEFAULT_METADATA = {
    "identification": {
        "title": "City SDI – Kielce",
        "description": {
            "pl": "Otwarte dane przestrzenne miasta Kielce: warstwy, obiekty i ich atrybuty.",
            "en": "Open spatial data of the City of Kielce: layers, features and attributes.",
        },
        "keywords": {
            "pl": ["Kielce", "dane przestrzenne", "otwarte dane", "SDI"],
            "en": ["Kielce", "spatial data", "open data", "SDI"],
        },
        "keywords_type": "theme",
        "terms_of_service": {
            "pl": "Warunki ponownego wykorzystania podaje każda kolekcja (odnośnik 'license').",
            "en": "Re-use terms are given per collection (its 'license' link).",
        },
        "url": "/",
    },
    "license": {
        "name": "Licences differ per dataset; see each collection",
        "url": "/data/",
    },
    "provider": {"name": "Urząd Miasta Kielce", "url": "https://www.kielce.eu"},
    "contact": {
        "name": "Urząd Miasta Kielce",
        "position": "GIS",
        "address": "Rynek 1",
        "city": "Kielce",
        "postalcode": "25-303",
        "country": "Poland",
        "url": "https://www.kielce.eu",
        "role": "pointOfContact",
    },
}

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
WORLD = [-180.0, -90.0, 180.0, 90.0]
MAX_ITEMS = 10000
DEFAULT_ITEMS = 10
PROVIDER = "ogc.provider.LayerProvider"
TEMPLATES = Path(__file__).resolve().parent / "templates" / "pygeoapi"
TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
# Marks the resource of a layer without features (whose extent in the config is a placeholder).
EMPTY = "empty"

# Collections other apps add to the OGC API (e.g. indicator values per area): callables taking
# nothing and returning {collection id: pygeoapi resource definition}, called on every config
# rebuild. One line in the app's AppConfig.ready(): `ogc.config.register_collections(fn)`.
# Their items are served by pygeoapi's own handlers through their provider plugin; a change in
# their data should bump something in the registry stamp (or use resources that need no rebuild).
# Each of their provider definitions is told whom the config is for (`"staff": true` in the
# staff config), so a provider can leave out what is computed from staff-only layers.
_extra_collections: list = []


def register_collections(provider) -> None:
    if provider not in _extra_collections:
        _extra_collections.append(provider)


# Extents change only with a layer's features, which bump its version: keep them per
# (layer id, version) so a rebuilt config recomputes ST_Extent only for the layers that changed.
_extents: dict[tuple[int, int], tuple[list[float] | None, list | None]] = {}


def _layers(staff: bool) -> list[Layer]:
    # What an anonymous user (public, not deleted) or a staff member (also staff-only) may see,
    # by the one rule of layers.permissions.
    return list(permissions.layers_for_audience(staff=staff).order_by("slug"))


def time_field(layer: Layer) -> str | None:
    """The property that dates a layer's features: its first date field (OGC API `datetime`
    filters on it, and the collection's temporal extent spans it)."""
    return next((f["name"] for f in layer.fields if f.get("type") == "date"), None)


def extents_of(layers: list[Layer]) -> dict[int, tuple[list[float] | None, list | None]]:
    """(bbox, [first, last] date) of each layer; a layer without features has neither (None):
    it covers no place, not the whole world."""
    global _extents
    missing = [layer for layer in layers if (layer.id, layer.version) not in _extents]
    boxes = queries.layer_extents([layer.id for layer in missing])
    times = queries.layer_time_extents(
        [(layer.id, time_field(layer)) for layer in missing if time_field(layer)])
    current = {}
    for layer in layers:
        key = (layer.id, layer.version)
        if key in _extents:
            current[key] = _extents[key]
        else:
            box = boxes.get(layer.id)
            current[key] = (list(box) if box else None, times.get(layer.id))
    _extents = current  # drops the extents of versions gone by
    return {layer_id: extent for (layer_id, _), extent in current.items()}


def _temporal(interval) -> dict:
    first, last = interval
    return {"begin": datetime.datetime.fromisoformat(first).replace(tzinfo=datetime.UTC),
            "end": datetime.datetime.fromisoformat(last).replace(
                hour=23, minute=59, second=59, tzinfo=datetime.UTC),
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}


def _collection(layer: Layer, extent) -> dict:
    bbox, interval = extent
    links = [{"type": "application/json", "rel": TILESETS_VECTOR,
              "title": "Vector tiles (OGC API – Tiles, WebMercatorQuad)",
              "href": f"/ogc/collections/{layer.slug}/tiles"},
             {"type": "application/vnd.mapbox-vector-tile", "rel": "alternate",
              "title": "Mapbox Vector Tiles {z}/{x}/{y}",
              "href": f"/tiles/{layer.slug}.json"}]
    if layer.licence:
        links.append({"type": "text/html", "rel": "license", "title": layer.licence,
                      "href": f"/data/#{layer.slug}"})
    if layer.source_url:
        links.append({"type": "text/html", "rel": "via",
                      "title": layer.source or layer.publisher or layer.source_url,
                      "href": layer.source_url})
    description = {"pl": layer.description_pl or layer.title_pl,
                   "en": layer.description_en or layer.description_pl or layer.title_pl}
    if layer.attribution:
        description = {k: f"{v} {layer.attribution}" for k, v in description.items()}
    # pygeoapi describes every collection with a bbox: an empty layer gets the world's here, and
    # `ogc.views.collections` takes that extent out of what it answers (EMPTY marks the layer).
    extents = {"spatial": {"bbox": bbox or WORLD, "crs": CRS84}}
    if interval:
        extents["temporal"] = _temporal(interval)
    return {
        "type": "collection",
        "title": {"pl": layer.title_pl, "en": layer.title_en or layer.title_pl},
        "description": description,
        "keywords": list(layer.keywords),
        "extents": extents,
        EMPTY: bbox is None,
        "links": links,
        "providers": [{
            "type": "feature",
            "name": PROVIDER,
            "data": layer.slug,
            "version": layer.version,
            "id_field": "id",
            "title_field": layer.name_field or None,
            "time_field": time_field(layer),
            "storage_crs": CRS84,
            "crs": list(crs.SUPPORTED_URIS),
            "editable": True,  # Part 4, for the layer's editors (checked per request)
            # Served only while the layer still has it (checked in every query).
            "visibility": layer.visibility,
            "fields": {f["name"]: f.get("type", "string") for f in layer.fields},
        }],
    }


def catalogue_metadata() -> dict:
    """The service's metadata (title, provider, contact...): DEFAULT_METADATA with the keys the
    OGC_METADATA setting overrides."""
    metadata = copy.deepcopy(DEFAULT_METADATA)
    for key, value in getattr(settings, "OGC_METADATA", {}).items():
        metadata[key] = value
    return metadata


def build_config(staff: bool = False) -> dict:
    """The config for the registry as it is now, with relative links (see `with_base_url`):
    the public layers, and with `staff` the staff-only layers too."""
    layers = _layers(staff)
    extents = extents_of(layers)
    metadata = catalogue_metadata()
    return {
        "server": {
            "url": "/ogc",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "gzip": False,
            # Polish first: the default of the site. Both work with pygeoapi 0.24 (babel).
            "languages": ["pl", "en"],
            "pretty_print": False,
            "admin": False,
            # on_exceed "error": a client asking for more than max_items gets a 400 rather than
            # a silently shorter page it might mistake for the whole layer.
            "limits": {"default_items": DEFAULT_ITEMS, "max_items": MAX_ITEMS,
                       "on_exceed": "error"},
            "map": {"url": settings.BASEMAP_URL, "attribution": settings.BASEMAP_ATTRIBUTION},
            # Our copies of pygeoapi's templates load CSS/JS from these (no CDN).
            "templates": {"path": str(TEMPLATES)},
            "static_url": f"{settings.STATIC_URL}ogc/",
            "leaflet_url": f"{settings.STATIC_URL}leaflet/",
        },
        "logging": {"level": "ERROR"},
        "metadata": metadata,
        "resources": _resources(layers, extents, staff),
    }


def _resources(layers, extents, staff: bool = False) -> dict:
    from ogc import records  # subclasses pygeoapi's provider: loaded with the first OGC config

    resources = {layer.slug: _collection(layer, extents[layer.id]) for layer in layers}
    resources[records.CATALOGUE] = records.catalogue_resource(layers, extents)
    for provider in _extra_collections:
        for key, resource in provider().items():
            resource = copy.deepcopy(resource)
            for definition in resource.get("providers", []):
                definition["staff"] = staff
            # A layer slug wins: the registry is the source of truth for its names.
            resources.setdefault(key, resource)
    return resources


def with_base_url(config: dict, base_url: str) -> dict:
    """A deep copy of `config` whose server URL and site-relative links are absolute."""
    config = copy.deepcopy(config)
    site = base_url.removesuffix("/ogc")
    config["server"]["url"] = base_url

    def absolute(href: str) -> str:
        return site + href if href.startswith("/") else href

    ident = config["metadata"]["identification"]
    ident["url"] = absolute(ident["url"])
    config["metadata"]["license"]["url"] = absolute(config["metadata"]["license"]["url"])
    for resource in config["resources"].values():
        for link in resource.get("links", []):
            link["href"] = absolute(link["href"])
        for provider in resource.get("providers", []):
            for rec in provider.get("records", []):
                for link in rec["links"]:
                    link["href"] = absolute(link["href"])
    return config
