"""OGC API endpoints: thin wrappers handing Django requests to pygeoapi or to our handlers.

pygeoapi (with the API built from the layer registry by `ogc.service`) serves the landing page,
conformance, collections, queryables, schema, OpenAPI and the catalogue's records; `ogc.items`
serves the items of layer collections (Parts 1-3), `ogc.writes` their Part 4 writes, `ogc.tiles`
the Tiles documents. JSON unless HTML is asked for with `f=html`; every failure is an OGC
exception, never Django's HTML error page.

The views are CSRF-exempt for Django's middleware because token-authenticated API calls carry no
CSRF token; `ogc.writes.authorize` runs the CSRF check itself for callers with a session cookie.
"""

import json
import logging
from http import HTTPStatus

import pygeoapi.api as core
import pygeoapi.api.itemtypes as itemtypes
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from pygeoapi.api import API, SYSTEM_LOCALE, APIRequest, apply_gzip
from pygeoapi.formats import F_HTML

from layers import permissions
from ogc import auth, config, params, records, service, tiles, writes
from ogc import conformance as conformance_classes
from ogc import items as layer_items

LOGGER = logging.getLogger(__name__)

# Links pygeoapi puts on the landing page to things this site does not serve.
UNSERVED_LINK_RELS = ("http://www.opengis.net/def/rel/ogc/1.0/processes",)
GEOJSON = "application/geo+json"
# POST .../items with one of these is a CQL2-JSON query, not a new feature.
QUERY_TYPES = ("application/query-cql-json", "application/cql2+json")
READ = ("GET", "HEAD")


class JsonFirstRequest(APIRequest):
    """pygeoapi picks HTML whenever the Accept header mentions text/html, as every browser's
    does; here HTML is served only on an explicit `f=html`, JSON otherwise."""

    def _get_format(self, headers, extra_formats=None):
        format_ = super()._get_format(headers, extra_formats or {})
        if format_ == F_HTML and not (self._args.get("f") or "").strip():
            return None
        return format_


def _api(request: HttpRequest) -> API:
    """The pygeoapi API for this request, looked up once per request (one stamp query). Staff
    (by session or token) get the one with staff-only layers; everyone else never sees them."""
    api = getattr(request, "_ogc_api", None)
    if api is None:
        request._ogc_staff = permissions.is_staff(auth.identify(request).user)
        api = request._ogc_api = service.api_for(_base_url(request),
                                                 staff=request._ogc_staff)
    return api


def _base_url(request: HttpRequest) -> str:
    # Absolute, from the request's own scheme/host/port: GDAL and QGIS follow the `next` links,
    # so they must point back at the server the client actually reached.
    return request.build_absolute_uri(reverse("ogc:landing"))


def _to_django(headers: dict, status: int, content) -> HttpResponse:
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        # pygeoapi reports its own failures as responses, not exceptions: log them here so
        # its noisy per-4xx ERROR logging can be turned down without losing real errors.
        LOGGER.error("OGC API answered %s: %s", status, str(content)[:500])
    response = HttpResponse(apply_gzip(headers, content), status=status)
    for key, value in headers.items():
        response[key] = value
    return response


def _error(status: int, code: str, message: str, extra: dict | None = None,
           headers: dict | None = None) -> HttpResponse:
    body = {"code": code, "type": code, "description": message, **(extra or {})}
    response = HttpResponse(json.dumps(body, ensure_ascii=False), status=status,
                            content_type="application/json")
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _not_allowed(allowed: tuple[str, ...], method: str) -> HttpResponse:
    response = _error(HTTPStatus.METHOD_NOT_ALLOWED, "NoApplicableCode",
                      f"method {method} is not allowed here; use {', '.join(allowed)}")
    response["Allow"] = ", ".join(allowed)
    return response


def _options(allowed: tuple[str, ...]) -> HttpResponse:
    response = HttpResponse(status=HTTPStatus.NO_CONTENT)
    response["Allow"] = ", ".join((*allowed, "OPTIONS"))
    return response


def _serve(request: HttpRequest, handler, *args, methods=READ) -> HttpResponse:
    """Run `handler(api, api_request, *args)` (pygeoapi's signature) and turn the result into a
    Django response; any exception becomes a logged 500 in OGC format."""
    if request.method == "OPTIONS":
        return _options(methods)
    if request.method not in methods:
        return _not_allowed(methods, request.method)
    try:
        api = _api(request)
        api_request = JsonFirstRequest.from_django(request, api.locales)
        response = _to_django(*handler(api, api_request, *args))
        if getattr(request, "_ogc_staff", False):
            # what staff see may include staff-only layers: no shared cache may keep it
            response["Cache-Control"] = "private, no-store"
        return response
    except RequestDataTooBig:
        return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLarge",
                      "the request body is too large")
    except Exception:
        LOGGER.exception("OGC API request failed: %s", request.get_full_path())
        return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "NoApplicableCode",
                      "internal error (logged on the server)")


def _checked_format(handler):
    """pygeoapi handlers that do not check `f` themselves."""
    def run(api: API, api_request: APIRequest, *args):
        if not api_request.is_valid():
            return api.get_format_exception(api_request)
        return handler(api, api_request, *args)
    return run


def _json_body(response: HttpResponse) -> bool:
    return (response.status_code == HTTPStatus.OK
            and response["Content-Type"].startswith("application/json"))


def _edit_json(response: HttpResponse, edit) -> HttpResponse:
    if _json_body(response):
        body = json.loads(response.content)
        edit(body)
        response.content = json.dumps(body, ensure_ascii=False)
    return response


@csrf_exempt
def landing_page(request):
    def links(body):
        kept = []
        for link in body.get("links", []):
            if link.get("rel") in UNSERVED_LINK_RELS:
                continue
            link["href"] = link["href"].replace("/TileMatrixSets", "/tileMatrixSets")
            kept.append(link)
        base = _base_url(request)
        kept.append({"rel": "http://www.w3.org/ns/dcat#catalog", "type": "application/ld+json",
                     "title": "DCAT-AP catalogue (JSON-LD)", "href": f"{base}/dcat"})
        kept.append({"rel": "http://www.opengis.net/def/rel/ogc/1.0/ogc-catalog",
                     "type": "application/json", "title": "Dataset catalogue (OGC API Records)",
                     "href": f"{base}/collections/{records.CATALOGUE}"})
        body["links"] = kept
    return _edit_json(_serve(request, _checked_format(core.landing_page)), links)


@csrf_exempt
def conformance(request):
    def truthful(body):
        body["conformsTo"] = conformance_classes.CLASSES
    return _edit_json(_serve(request, _checked_format(core.conformance)), truthful)


@csrf_exempt
def openapi(request):
    def handler(api, api_request):
        service.openapi_document(api)
        return core.openapi_(api, api_request)
    return _serve(request, _checked_format(handler))


@csrf_exempt
def collections(request, collection_id=None):
    def no_extent_for_empty_layers(body):
        # pygeoapi gives every collection a bbox; a layer without features covers no place.
        resources = _api(request).config["resources"]
        for collection in body.get("collections", [body]):
            if resources.get(collection.get("id"), {}).get(config.EMPTY):
                collection.pop("extent", None)
    return _edit_json(_serve(request, _checked_format(core.describe_collections),
                             collection_id), no_extent_for_empty_layers)


@csrf_exempt
def collection_schema(request, collection_id):
    return _serve(request, _checked_format(core.get_collection_schema), collection_id)


@csrf_exempt
def collection_queryables(request, collection_id):
    return _serve(request, _checked_format(itemtypes.get_collection_queryables), collection_id)


def _write_response(result, location=None) -> HttpResponse:
    status, headers, _ = result
    response = HttpResponse(status=status)
    for key, value in headers.items():
        response[key] = value
    if location:
        response["Location"] = location
    return response


def _write(request, action) -> HttpResponse:
    try:
        return action()
    except writes.WriteError as exc:
        extra = {"errors": exc.errors} if exc.errors else None
        return _error(exc.status, exc.code, exc.message, extra, exc.headers)
    except RequestDataTooBig:
        return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLarge",
                      "the request body is too large")
    except Exception:
        LOGGER.exception("OGC API write failed: %s %s", request.method, request.get_full_path())
        return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "NoApplicableCode",
                      "internal error (logged on the server)")


def _is_layer(request, collection_id) -> bool:
    # Any failure here is reported by the handler that runs next (which asks the same).
    try:
        api = _api(request)
    except Exception:
        return True
    return layer_items.layer_provider_def(api, collection_id) is not None


def _csv_problem(request, collection_id) -> str | None:
    if (request.GET.get("f") or "").strip().lower() != "csv":
        return None
    try:
        resource = _api(request).config["resources"].get(collection_id) or {}
    except Exception:
        return None  # the handler that runs next meets the same failure and reports it
    if any(p.get("type") == "feature" for p in resource.get("providers", [])):
        return None
    return f"f=csv is offered for feature collections; {collection_id} holds records: use " \
           f"f=json or f=html"


@csrf_exempt
def collection_items(request, collection_id):
    if request.method == "POST":
        content_type = request.content_type or ""
        if content_type in QUERY_TYPES:
            return _serve(request, layer_items.items, collection_id, methods=("POST",))

        def create():
            result = writes.create(request, collection_id)
            feature = result[2]
            return _write_response(result, f"{_base_url(request)}/collections/{collection_id}"
                                           f"/items/{feature.pk}")
        return _write(request, create)
    if request.method in READ and not _is_layer(request, collection_id):
        # pygeoapi passes any integer offset on to the provider's SQL (bigint), and fails on
        # CSV for a collection of records
        problem = params.check_offset(request.GET.get("offset")) or \
            _csv_problem(request, collection_id)
        if problem:
            return _error(HTTPStatus.BAD_REQUEST, "InvalidParameterValue", problem)
        return _serve(request, itemtypes.get_collection_items, collection_id)
    return _serve(request, layer_items.items, collection_id,
                  methods=(*READ, "POST") if request.method == "OPTIONS" else READ)


@csrf_exempt
def collection_item(request, collection_id, item_id):
    if request.method in ("PUT", "PATCH"):
        return _write(request, lambda: _write_response(writes.replace(
            request, collection_id, item_id, partial=request.method == "PATCH")))
    if request.method == "DELETE":
        return _write(request, lambda: _write_response(writes.delete(
            request, collection_id, item_id)))
    if request.method in READ and not _is_layer(request, collection_id):
        return _serve(request, itemtypes.get_collection_item, collection_id, item_id)
    return _serve(request, layer_items.item, collection_id, item_id,
                  methods=(*READ, "PUT", "PATCH", "DELETE") if request.method == "OPTIONS"
                  else READ)


# --- Tiles -------------------------------------------------------------------------------------

def _tiles_handler(build):
    """A pygeoapi-style handler returning JSON from `build(api, api_request)`, which may raise
    LookupError (404) or ValueError (400)."""
    def handler(api: API, api_request: APIRequest):
        headers = api_request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
        if api_request.params.get("f") not in (None, "", "json"):
            return api.get_exception(HTTPStatus.BAD_REQUEST, headers, None,
                                     "InvalidParameterValue",
                                     "the Tiles documents are JSON only (f=json)")
        try:
            body = build(api, api_request)
        except LookupError as exc:
            return api.get_exception(HTTPStatus.NOT_FOUND, headers, None, "NotFound",
                                     str(exc.args[0]))
        except ValueError as exc:
            return api.get_exception(HTTPStatus.BAD_REQUEST, headers, None,
                                     "InvalidParameterValue", str(exc))
        headers["Content-Type"] = "application/json"
        return headers, HTTPStatus.OK, json.dumps(body, ensure_ascii=False)
    return handler


def _layer_tiles(api: API, collection_id: str):
    provider = layer_items.layer_provider_def(api, collection_id)
    if provider is None:
        raise LookupError(f"no collection {collection_id!r} with tiles")
    resource = api.config["resources"][collection_id]
    title = resource["title"]["pl"] if isinstance(resource["title"], dict) else resource["title"]
    return provider, title, resource["extents"]["spatial"]["bbox"]


def _check_tms(tms: str):
    if tms != tiles.WEB_MERCATOR_QUAD:
        raise LookupError(f"no tile matrix set {tms!r}; this server offers "
                          f"{tiles.WEB_MERCATOR_QUAD}")


@csrf_exempt
def tile_matrix_sets(request):
    return _serve(request, _tiles_handler(
        lambda api, r: tiles.tile_matrix_sets(api.base_url)))


@csrf_exempt
def tile_matrix_set(request, tms):
    def build(api, r):
        _check_tms(tms)
        return tiles.tile_matrix_set()
    return _serve(request, _tiles_handler(build))


@csrf_exempt
def collection_tilesets(request, collection_id):
    def build(api, r):
        provider, title, _ = _layer_tiles(api, collection_id)
        return tiles.tilesets(api.base_url, collection_id, title, provider)
    return _serve(request, _tiles_handler(build))


@csrf_exempt
def collection_tileset(request, collection_id, tms):
    def build(api, r):
        provider, title, bbox = _layer_tiles(api, collection_id)
        _check_tms(tms)
        return tiles.tileset(api.base_url, collection_id, title, provider, bbox)
    return _serve(request, _tiles_handler(build))


@csrf_exempt
def collection_tile(request, collection_id, tms, z, y, x):
    """The OGC tile address answered with a redirect to the same tile under /tiles/."""
    def handler(api, api_request):
        headers = api_request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
        try:
            _layer_tiles(api, collection_id)
            _check_tms(tms)
        except LookupError as exc:
            return api.get_exception(HTTPStatus.NOT_FOUND, headers, None, "NotFound",
                                     str(exc.args[0]))
        try:
            zi, xi, yi = tiles.parse_tile(z, y, x)
        except ValueError as exc:
            return api.get_exception(HTTPStatus.BAD_REQUEST, headers, None,
                                     "InvalidParameterValue", str(exc))
        return {"Location": f"/tiles/{collection_id}/{zi}/{xi}/{yi}.pbf"}, \
            HTTPStatus.FOUND, ""
    response = _serve(request, handler)
    if response.status_code == HTTPStatus.FOUND:
        return HttpResponseRedirect(response["Location"])
    return response


# --- DCAT-AP -------------------------------------------------------------------------------

@csrf_exempt
def dcat(request):
    """The catalogue as DCAT-AP, JSON-LD or Turtle (`?f=jsonld|ttl`, else Accept). The same for
    everyone: public layers only, IRIs on PUBLIC_BASE_URL."""
    if request.method == "OPTIONS":
        return _options(READ)
    if request.method not in READ:
        return _not_allowed(READ, request.method)
    # rdflib is loaded by the workers that serve this, not by every one serving /ogc.
    from ogc import dcat as dcat_ap

    try:
        fmt = dcat_ap.negotiate(request)
    except dcat_ap.FormatError as exc:
        code = "InvalidParameterValue" if exc.status == HTTPStatus.BAD_REQUEST else \
            "NotAcceptable"
        response = _error(exc.status, code, str(exc))
        response["Vary"] = "Accept"
        return response
    try:
        body = dcat_ap.document(fmt)
    except Exception:
        LOGGER.exception("DCAT catalogue failed: %s", request.get_full_path())
        return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "NoApplicableCode",
                      "internal error (logged on the server)")
    response = HttpResponse(body, content_type=dcat_ap.MEDIA_TYPES[fmt])
    response["Vary"] = "Accept"
    return response


def not_found(request):
    return _error(HTTPStatus.NOT_FOUND, "NotFound",
                  f"no such OGC API resource: {request.path}; start at {_base_url(request)}")
