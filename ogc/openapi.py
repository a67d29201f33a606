"""The OpenAPI 3.0 document at /ogc/openapi: pygeoapi's, made self-contained and true to what
the views serve.

pygeoapi's document refers to schemas.opengis.net and GitHub for shared responses and
parameters; a validator or a client following those would need the network (and the site must
work offline), so every remote `$ref` is replaced by a local component. Then the operations this
site adds are described: CQL2 filter parameters and datetime on layer items, Part 4 writes,
OGC API - Tiles and the DCAT-AP catalogue.
"""

import copy

from ogc import crs as crsmod

JSON = {"application/json": {"schema": {"type": "object"}}}
EXCEPTION = {"type": "object", "required": ["code"], "properties": {
    "code": {"type": "string"}, "type": {"type": "string"}, "description": {"type": "string"}}}
LINK = {"type": "object", "required": ["href"], "properties": {
    "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
    "title": {"type": "string"}, "templated": {"type": "boolean"}}}


def _error(description):
    return {"description": description, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/exception"}},
        "text/html": {"schema": {"type": "string"}}}}


RESPONSES = {
    "LandingPage": {"description": "The landing page", "content": JSON},
    "Collection": {"description": "A collection", "content": JSON},
    "Features": {"description": "A page of features (GeoJSON FeatureCollection)", "content": {
        "application/geo+json": {"schema": {"type": "object"}},
        "application/ld+json": {"schema": {"type": "object"}},
        "text/html": {"schema": {"type": "string"}}}},
    "Feature": {"description": "A feature (GeoJSON Feature)", "content": {
        "application/geo+json": {"schema": {"type": "object"}},
        "application/ld+json": {"schema": {"type": "object"}},
        "text/html": {"schema": {"type": "string"}}}},
    "InvalidParameter": _error("A query parameter has an invalid value (OGC exception)"),
    "NotFound": _error("Not found (OGC exception)"),
    "ServerError": _error("Server error (OGC exception)"),
}
PARAMETERS = {
    "q": {"name": "q", "in": "query", "required": False, "style": "form", "explode": False,
          "description": "Free-text search terms (comma-separated: any of them)",
          "schema": {"type": "array", "items": {"type": "string"}}},
    "sortby": {"name": "sortby", "in": "query", "required": False, "style": "form",
               "explode": False, "description": "Properties to sort by, `-` for descending",
               "schema": {"type": "array", "minItems": 1, "items": {
                   "type": "string", "pattern": "[+|-]?[A-Za-z_].*"}}},
    "datetime": {"name": "datetime", "in": "query", "required": False, "style": "form",
                 "explode": False, "schema": {"type": "string"},
                 "description": "A date, date-time or interval (`start/end`, `..` open); "
                                "selects on the layer's first date property"},
    "featureId": {"name": "featureId", "in": "path", "required": True,
                  "description": "Feature id", "schema": {"type": "string"}},
    "filter": {"name": "filter", "in": "query", "required": False,
               "description": "CQL2 filter (text or JSON, see filter-lang)",
               "schema": {"type": "string"}},
    "filter-lang": {"name": "filter-lang", "in": "query", "required": False,
                    "schema": {"type": "string", "enum": ["cql2-text", "cql2-json"],
                               "default": "cql2-text"}},
    "filter-crs": {"name": "filter-crs", "in": "query", "required": False,
                   "description": "CRS of geometries in the filter (axis order of the CRS)",
                   "schema": {"type": "string", "format": "uri",
                              "enum": list(crsmod.SUPPORTED_URIS)}},
    "resulttype": {"name": "resulttype", "in": "query", "required": False,
                   "schema": {"type": "string", "enum": ["results", "hits"]}},
    "If-Match": {"name": "If-Match", "in": "header", "required": True,
                 "description": "ETag of the feature as read (or * for any version); without "
                                "it 428, a stale one gives 412",
                 "schema": {"type": "string"}},
    "Content-Crs": {"name": "Content-Crs", "in": "header", "required": False,
                    "description": "CRS of the body's geometry, e.g. "
                                   "<http://www.opengis.net/def/crs/EPSG/0/2180>",
                    "schema": {"type": "string"}},
}
REMOTE_PARAMETER_NAMES = {"q.yaml": "q", "sortby.yaml": "sortby", "/datetime": "datetime",
                          "/featureId": "featureId"}


def _local_ref(ref: str) -> str | None:
    if ref.startswith("#"):
        return None
    if "/responses/" in ref:
        return f"#/components/responses/{ref.rsplit('/', 1)[1]}"
    for ending, name in REMOTE_PARAMETER_NAMES.items():
        if ref.endswith(ending):
            return f"#/components/parameters/{name}"
    if ref.endswith("/link"):
        return "#/components/schemas/link"
    return "#/components/schemas/exception"


def _localize(node):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            local = _local_ref(ref)
            if local:
                node["$ref"] = local
        for value in node.values():
            _localize(value)
    elif isinstance(node, list):
        for value in node:
            _localize(value)


def _write_responses(*codes) -> dict:
    texts = {200: "Features (a CQL2-JSON query)", 201: "Created (Location, ETag)",
             204: "Done (ETag of the new version)", 400: "Invalid feature or request",
             401: "Authentication needed (Authorization: Token <key>)",
             403: "Not an editor of this layer", 404: "No such collection or feature",
             412: "If-Match is stale", 413: "Body too large",
             428: "If-Match is required"}
    return {str(code): ({"description": texts[code]} if code < 300 else
                        _error(texts[code])) for code in codes}


def complete(document: dict, config: dict, layer_ids: list[str]) -> dict:
    document = copy.deepcopy(document)
    components = document.setdefault("components", {})
    components.setdefault("responses", {}).update(RESPONSES)
    components.setdefault("parameters", {}).update(PARAMETERS)
    components.setdefault("schemas", {}).update({"exception": EXCEPTION, "link": LINK})
    _localize(document)
    paths = document["paths"]
    feature_body = {"required": True, "content": {
        "application/geo+json": {"schema": {"type": "object", "required": ["type", "geometry"],
                                            "properties": {"type": {"enum": ["Feature"]},
                                                           "geometry": {"type": "object"},
                                                           "properties": {"type": "object"}}}}}}
    token = [{"token": []}]
    components.setdefault("securitySchemes", {})["token"] = {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "`Token <key>` (python manage.py drf_create_token <user>)"}
    for slug in layer_ids:
        items_path = f"/collections/{slug}/items"
        item_path = f"{items_path}/{{featureId}}"
        if items_path not in paths:
            continue
        get = paths[items_path]["get"]
        names = {p.get("$ref", p.get("name")) for p in get["parameters"]}
        for name in ("filter", "filter-lang", "filter-crs", "datetime", "resulttype", "q"):
            ref = f"#/components/parameters/{name}"
            if ref not in names and name not in names:
                get["parameters"].append({"$ref": ref})
        paths[items_path]["post"] = {
            "summary": f"Add a feature to {slug} (Part 4), or query with a CQL2-JSON body",
            "tags": get.get("tags", []), "operationId": f"create{slug}Features",
            "security": token,
            "parameters": [{"$ref": "#/components/parameters/Content-Crs"}],
            "requestBody": {"required": True, "content": {
                **feature_body["content"],
                "application/query-cql-json": {"schema": {"type": "object"}}}},
            "responses": _write_responses(200, 201, 400, 401, 403, 404, 413),
        }
        if item_path in paths:
            for method, summary in (("put", "Replace"), ("patch", "Update (JSON merge patch)"),
                                    ("delete", "Delete")):
                operation = {
                    "summary": f"{summary} a feature of {slug} (Part 4)",
                    "tags": get.get("tags", []), "operationId": f"{method}{slug}Feature",
                    "security": token,
                    "parameters": [{"$ref": "#/components/parameters/featureId"},
                                   {"$ref": "#/components/parameters/If-Match"}],
                    "responses": _write_responses(204, 400, 401, 403, 404, 412, 413, 428),
                }
                if method != "delete":
                    operation["parameters"].append(
                        {"$ref": "#/components/parameters/Content-Crs"})
                    operation["requestBody"] = feature_body if method == "put" else {
                        "required": True, "content": {"application/merge-patch+json": {
                            "schema": {"type": "object"}}}}
                paths[item_path][method] = operation
        tile_tags = get.get("tags", [])
        paths[f"/collections/{slug}/tiles"] = {"get": {
            "summary": f"Tilesets of {slug} (OGC API - Tiles)", "tags": tile_tags,
            "operationId": f"get{slug}Tilesets",
            "responses": {"200": {"description": "Tilesets", "content": JSON},
                          "404": {"$ref": "#/components/responses/NotFound"}}}}
        paths[f"/collections/{slug}/tiles/{{tileMatrixSetId}}"] = {"get": {
            "summary": f"Tileset metadata of {slug}", "tags": tile_tags,
            "operationId": f"get{slug}Tileset",
            "parameters": [{"name": "tileMatrixSetId", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": ["WebMercatorQuad"]}}],
            "responses": {"200": {"description": "Tileset", "content": JSON},
                          "404": {"$ref": "#/components/responses/NotFound"}}}}
        paths[f"/collections/{slug}/tiles/{{tileMatrixSetId}}/{{tileMatrix}}/{{tileRow}}/"
              f"{{tileCol}}"] = {"get": {
                  "summary": f"A vector tile of {slug} (redirect to /tiles/)", "tags": tile_tags,
                  "operationId": f"get{slug}Tile",
                  "parameters": [
                      {"name": "tileMatrixSetId", "in": "path", "required": True,
                       "schema": {"type": "string", "enum": ["WebMercatorQuad"]}},
                      {"name": "tileMatrix", "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 0, "maximum": 22}},
                      {"name": "tileRow", "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 0}},
                      {"name": "tileCol", "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 0}}],
                  "responses": {"302": {"description": "The tile at /tiles/{z}/{x}/{y}.pbf"},
                                "400": {"$ref": "#/components/responses/InvalidParameter"},
                                "404": {"$ref": "#/components/responses/NotFound"}}}}
    paths["/tileMatrixSets"] = {"get": {
        "summary": "Tile matrix sets", "tags": ["server"], "operationId": "getTileMatrixSets",
        "responses": {"200": {"description": "Tile matrix sets", "content": JSON}}}}
    paths["/tileMatrixSets/{tileMatrixSetId}"] = {"get": {
        "summary": "A tile matrix set", "tags": ["server"], "operationId": "getTileMatrixSet",
        "parameters": [{"name": "tileMatrixSetId", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "Tile matrix set", "content": JSON},
                      "404": {"$ref": "#/components/responses/NotFound"}}}}
    paths["/dcat"] = {"get": {
        "summary": "The dataset catalogue as DCAT-AP (JSON-LD)", "tags": ["server"],
        "operationId": "getDcatCatalogue",
        "responses": {"200": {"description": "DCAT-AP catalogue", "content": {
            "application/ld+json": {"schema": {"type": "object"}}}}}}}
    return document
