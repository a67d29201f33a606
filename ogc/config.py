"""The pygeoapi configuration, generated from the layer registry instead of a YAML file.

One collection per public layer. The config is built once per registry state (see
`queries.registry_stamp`) and per process; it does not depend on the request, the base URL is
filled in by `ogc.service` for each host the site is reached under.
"""

import copy

from django.conf import settings

from layers.models import Layer
from ogc import queries

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

# Extents change only with a layer's features, which bump its version: keep them per
# (layer id, version) so a rebuilt config recomputes ST_Extent only for the layers that changed.
_extents: dict[tuple[int, int], list[float]] = {}


def _public_layers() -> list[Layer]:
    return list(Layer.objects.filter(visibility=Layer.Visibility.PUBLIC).order_by("slug"))


def _bboxes(layers: list[Layer]) -> dict[int, list[float]]:
    global _extents
    missing = [layer.id for layer in layers if (layer.id, layer.version) not in _extents]
    found = queries.layer_extents(missing)
    current = {}
    for layer in layers:
        key = (layer.id, layer.version)
        current[key] = _extents.get(key) or list(found.get(layer.id, WORLD))
    _extents = current  # drops the extents of versions gone by
    return {layer_id: bbox for (layer_id, _), bbox in current.items()}


def _collection(layer: Layer, bbox: list[float]) -> dict:
    links = []
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
    return {
        "type": "collection",
        "title": {"pl": layer.title_pl, "en": layer.title_en or layer.title_pl},
        "description": description,
        "keywords": list(layer.keywords),
        "extents": {"spatial": {"bbox": bbox, "crs": CRS84}},
        "links": links,
        "providers": [{
            "type": "feature",
            "name": PROVIDER,
            "data": layer.slug,
            "id_field": "id",
            "title_field": layer.name_field or None,
            "storage_crs": CRS84,
            "fields": {f["name"]: f.get("type", "string") for f in layer.fields},
        }],
    }


def build_config() -> dict:
    """The config for the registry as it is now, with relative links (see `with_base_url`)."""
    layers = _public_layers()
    bboxes = _bboxes(layers)
    metadata = copy.deepcopy(DEFAULT_METADATA)
    for key, value in getattr(settings, "OGC_METADATA", {}).items():
        metadata[key] = value
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
        },
        "logging": {"level": "ERROR"},
        "metadata": metadata,
        "resources": {layer.slug: _collection(layer, bboxes[layer.id]) for layer in layers},
    }


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
        for link in resource["links"]:
            link["href"] = absolute(link["href"])
    return config
