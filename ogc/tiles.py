"""OGC API – Tiles for the layer collections, describing the site's own vector tiles.

The tiles themselves are made by the `tiles` app at /tiles/<layer>/{z}/{x}/{y}.pbf (Mapbox
Vector Tiles in WebMercatorQuad); this module only publishes the OGC API documents that point at
them (tile matrix sets, tileset lists, tileset metadata with a URL template) and answers the OGC
tile path with a redirect to the same tile, so one landing page describes everything.
"""

import json
from functools import cache
from pathlib import Path

import pygeoapi

WEB_MERCATOR_QUAD = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
MVT = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 22
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]


@cache
def tile_matrix_set() -> dict:
    """The WebMercatorQuad definition (OGC 2DTMS 2.0 JSON) shipped with pygeoapi."""
    path = Path(pygeoapi.__file__).parent / "resources/definitions/tiles/WebMercatorQuad.json"
    return json.loads(path.read_text())


def tile_matrix_sets(base_url: str) -> dict:
    return {"tileMatrixSets": [{
        "id": WEB_MERCATOR_QUAD, "title": tile_matrix_set()["title"], "uri": TMS_URI,
        "links": [{"rel": "self", "type": "application/json",
                   "title": "WebMercatorQuad definition",
                   "href": f"{base_url}/tileMatrixSets/{WEB_MERCATOR_QUAD}"}],
    }]}


def _zooms(provider_def: dict) -> tuple[int, int]:
    return provider_def.get("tile_minzoom", 0), provider_def.get("tile_maxzoom", MAX_ZOOM)


def tile_url(site: str, slug: str) -> str:
    # OGC template variable names; the values go into our /tiles/ z/x/y path.
    return f"{site}/tiles/{slug}/{{tileMatrix}}/{{tileCol}}/{{tileRow}}.pbf"


def tilesets(base_url: str, slug: str, title: str, provider_def: dict) -> dict:
    href = f"{base_url}/collections/{slug}/tiles/{WEB_MERCATOR_QUAD}"
    return {
        "links": [{"rel": "self", "type": "application/json", "title": "tilesets",
                   "href": f"{base_url}/collections/{slug}/tiles"}],
        "tilesets": [{
            "title": title, "dataType": "vector", "crs": tile_matrix_set()["crs"],
            "tileMatrixSetURI": TMS_URI,
            "links": [
                {"rel": "self", "type": "application/json", "title": "tileset", "href": href},
                {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                 "type": "application/json", "title": "WebMercatorQuad",
                 "href": f"{base_url}/tileMatrixSets/{WEB_MERCATOR_QUAD}"},
                {"rel": "item", "type": MVT, "title": "tiles", "templated": True,
                 "href": tile_url(base_url.removesuffix("/ogc"), slug)},
            ],
        }],
    }


def tileset(base_url: str, slug: str, title: str, provider_def: dict, bbox) -> dict:
    minzoom, maxzoom = _zooms(provider_def)
    site = base_url.removesuffix("/ogc")
    fields = {name: ("number" if ftype in ("integer", "decimal") else
                     "boolean" if ftype == "boolean" else "string")
              for name, ftype in provider_def.get("fields", {}).items()}
    return {
        "title": title, "dataType": "vector", "crs": tile_matrix_set()["crs"],
        "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": [{"tileMatrix": str(z)} for z in range(minzoom, maxzoom + 1)],
        "boundingBox": {"lowerLeft": bbox[:2], "upperRight": bbox[2:4],
                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        "layers": [{"id": slug, "dataType": "vector", "minTileMatrix": str(minzoom),
                    "maxTileMatrix": str(maxzoom), "propertiesSchema": {
                        "type": "object", "properties": {k: {"type": v}
                                                         for k, v in fields.items()}}}],
        "links": [
            {"rel": "self", "type": "application/json", "title": "this tileset",
             "href": f"{base_url}/collections/{slug}/tiles/{WEB_MERCATOR_QUAD}"},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
             "type": "application/json", "title": "WebMercatorQuad",
             "href": f"{base_url}/tileMatrixSets/{WEB_MERCATOR_QUAD}"},
            {"rel": "item", "type": MVT, "title": "tiles", "templated": True,
             "href": tile_url(site, slug)},
            {"rel": "describedby", "type": "application/json", "title": "TileJSON",
             "href": f"{site}/tiles/{slug}.json"},
            {"rel": "collection", "type": "application/json", "title": title,
             "href": f"{base_url}/collections/{slug}"},
        ],
    }


def parse_tile(matrix: str, row: str, col: str) -> tuple[int, int, int]:
    """(z, x, y) of an OGC tile address; ValueError saying what is wrong."""
    try:
        z, y, x = int(matrix), int(row), int(col)
    except ValueError:
        raise ValueError(f"tileMatrix, tileRow and tileCol must be integers "
                         f"(got {matrix!r}, {row!r}, {col!r})") from None
    if not 0 <= z <= MAX_ZOOM:
        raise ValueError(f"tileMatrix must be between 0 and {MAX_ZOOM} (got {z})")
    size = 2 ** z
    if not (0 <= x < size and 0 <= y < size):
        raise ValueError(f"tileRow and tileCol must be between 0 and {size - 1} at tileMatrix "
                         f"{z} (got row {y}, col {x})")
    return z, x, y
