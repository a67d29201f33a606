"""TileJSON 3.0.0 documents describing layer tiles (https://github.com/mapbox/tilejson-spec)."""

import math

from django.core.cache import cache
from django.utils.html import escape

from layers.models import Layer
from tiles import queries
from tiles.caching import tile_key
from tiles.options import NO_OPTIONS, Options
from tiles.params import MAX_ZOOM

WORLD = queries.Bounds(-180.0, -85.0511287798066, 180.0, 85.0511287798066)
# Zoom of the centre when the features are a single point (no extent to fit).
POINT_ZOOM = 15


def bounds(layers: list[Layer]) -> queries.Bounds | None:
    # ST_Extent reads every feature of the layers; the versions make the cached answer exact.
    key = tile_key("bounds", *(f"{la.id}@{la.version}" for la in layers))
    found = cache.get(key)
    if found is None:
        found = queries.layers_bounds([la.id for la in layers]) or "empty"
        cache.set(key, found, timeout=None)
    return None if found == "empty" else found


def fit_zoom(b: queries.Bounds) -> int:
    """The largest zoom at which the bounds fit in one 256-px tile's width and height."""
    width = b.east - b.west
    height = math.degrees(math.log(math.tan(math.radians(45 + b.north / 2)))
                          - math.log(math.tan(math.radians(45 + b.south / 2))))
    span = max(width, height)
    if span <= 0:
        return POINT_ZOOM
    return max(0, min(MAX_ZOOM, math.floor(math.log2(360 / span))))


def document(layers: list[Layer], tiles_url: str, options: Options = NO_OPTIONS) -> dict:
    """TileJSON for the layers. Each layer is in the tiles between its own min and max zoom;
    the document's range spans them all."""
    b = bounds(layers) or WORLD
    attributions = list(dict.fromkeys(la.attribution for la in layers if la.attribution))
    minzoom = min(la.tile_minzoom for la in layers)
    maxzoom = max(la.tile_maxzoom for la in layers)

    def fields(layer: Layer) -> dict:
        kept = None if options.keep is None else set(options.keep)
        return {f["name"]: f.get("type", "string") for f in layer.fields
                if kept is None or f["name"] in kept}

    return {
        "tilejson": "3.0.0",
        "name": " + ".join(la.title_pl or la.slug for la in layers),
        "description": "\n\n".join(la.description_pl for la in layers if la.description_pl),
        "attribution": "; ".join(attributions),
        "tiles": [tiles_url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": [b.west, b.south, b.east, b.north],
        "center": [(b.west + b.east) / 2, (b.south + b.north) / 2,
                   max(minzoom, min(maxzoom, fit_zoom(b)))],
        "vector_layers": [
            {
                "id": la.slug,
                "description": la.title_pl,
                "minzoom": la.tile_minzoom,
                "maxzoom": la.tile_maxzoom,
                "fields": fields(la),
            }
            for la in layers
        ],
    }


# The one layer of an indicator tile (tiles.queries._INDICATOR_TILE) and its attributes.
INDICATOR_LAYER = "indicator"
INDICATOR_FIELDS = {
    "id": "Number", "name": "String", "value": "Number", "class": "Number", "rank": "Number",
    "period": "String", "source": "String", "status": "String",
}


def indicator_document(indicator, areas: Layer, period: str | None, tiles_url: str,
                       attribution: list[str]) -> dict:
    """TileJSON for an indicator's choropleth tiles over one areas layer. `attribution` is
    plain text: TileJSON lets clients show it as HTML (MapLibre does), so it is escaped."""
    b = bounds([areas]) or WORLD
    unit = f" [{indicator.unit}]" if indicator.unit else ""
    when = f", {period}" if period else ""
    return {
        "tilejson": "3.0.0",
        "name": f"{indicator.name_pl}{unit} – {areas.title_pl or areas.slug}{when}",
        "description": indicator.description_pl or indicator.name_pl,
        "attribution": "; ".join(escape(part) for part in attribution),
        "tiles": [tiles_url],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": [b.west, b.south, b.east, b.north],
        "center": [(b.west + b.east) / 2, (b.south + b.north) / 2, fit_zoom(b)],
        "vector_layers": [{
            "id": INDICATOR_LAYER,
            "description": (f"{areas.title_pl or areas.slug}: value, class (0-based, from the "
                            "legend's breaks), rank (1 = best) and status (ok, stale, "
                            "disputed, missing) of each area; no value, class or rank where "
                            "there are no data"),
            "minzoom": 0,
            "maxzoom": MAX_ZOOM,
            "fields": dict(INDICATOR_FIELDS),
        }],
    }
