"""OGC API endpoints: thin wrappers handing Django requests to pygeoapi's core functions.

Like pygeoapi's own `execute_from_django`, but with the API built from the layer registry
(`ogc.service`) instead of a YAML file read at import, JSON unless HTML is asked for with
`f=html`, our own parameter checks first, and every failure answered as an OGC exception.
"""

import json
import logging
from http import HTTPStatus

import pygeoapi.api as core
import pygeoapi.api.itemtypes as itemtypes
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from pygeoapi.api import API, SYSTEM_LOCALE, APIRequest, apply_gzip
from pygeoapi.formats import F_HTML

from ogc import params, service

LOGGER = logging.getLogger(__name__)

# Links pygeoapi always puts on the landing page to endpoints this site does not serve.
UNSERVED_LINK_RELS = ("http://www.opengis.net/def/rel/ogc/1.0/processes",
                      "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes")
# Conformance pygeoapi declares for every feature collection but this slice does not implement:
# CQL2 filters (the provider rejects `filter`) and Part 4 writes (GET only). Declaring them would
# send GDAL and QGIS down paths that fail.
NOT_CONFORMING = frozenset({
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
})
GEOJSON = "application/geo+json"


class JsonFirstRequest(APIRequest):
    """pygeoapi picks HTML whenever the Accept header mentions text/html, as every browser's
    does. Its HTML pages load Leaflet and Bootstrap from CDNs, and the site must work offline,
    so HTML is served only on an explicit `f=html`; otherwise the default (JSON) applies."""

    def _get_format(self, headers, extra_formats=None):
        format_ = super()._get_format(headers, extra_formats or {})
        if format_ == F_HTML and not (self._args.get("f") or "").strip():
            return None
        return format_


def _base_url(request: HttpRequest) -> str:
    # Absolute, from the request's own scheme/host/port: GDAL and QGIS follow the `next` links,
    # so they must point back at the server the client actually reached.
    return request.build_absolute_uri(reverse("ogc:landing"))


def _to_django(headers: dict, status: int, content) -> HttpResponse:
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        # pygeoapi reports its own failures as responses, not exceptions: log them here so
        # its noisy per-4xx ERROR logging can be turned down without losing real errors.
        LOGGER.error("OGC API answered %s: %s", status, content[:500])
    response = HttpResponse(apply_gzip(headers, content), status=status)
    for key, value in headers.items():
        response[key] = value
    return response


def _error(api: API | None, api_request: APIRequest | None, status: int, code: str,
           message: str) -> HttpResponse:
    if api is None or api_request is None:
        body = json.dumps({"code": code, "type": code, "description": message})
        return HttpResponse(body, status=status, content_type="application/json")
    headers = api_request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
    return _to_django(*api.get_exception(status, headers, api_request.format, code, message))


def _serve(request: HttpRequest, handler, *args, check=None) -> HttpResponse:
    """Run pygeoapi's `handler(api, api_request, *args)`; `check(api, api_request)` may return
    an error message that stops the request with a 400 first."""
    api = api_request = None
    try:
        if request.method not in ("GET", "HEAD"):
            response = _error(None, None, HTTPStatus.METHOD_NOT_ALLOWED, "NoApplicableCode",
                              f"method {request.method} is not allowed here; use GET")
            response["Allow"] = "GET, HEAD"
            return response
        api = service.api_for(_base_url(request))
        api_request = JsonFirstRequest.from_django(request, api.locales)
        # The items endpoints check the format themselves: collections add their own (CSV).
        if check is None and not api_request.is_valid():
            return _to_django(*api.get_format_exception(api_request))
        message = check(api, api_request) if check else None
        if message:
            return _error(api, api_request, HTTPStatus.BAD_REQUEST, "InvalidParameterValue",
                          message)
        return _to_django(*handler(api, api_request, *args))
    except Exception:
        LOGGER.exception("OGC API request failed: %s", request.get_full_path())
        return _error(api, api_request, HTTPStatus.INTERNAL_SERVER_ERROR, "NoApplicableCode",
                      "internal error (logged on the server)")


def _collection_fields(api: API, collection_id: str) -> dict | None:
    resource = api.config["resources"].get(collection_id)
    if resource is None:
        return None
    return resource["providers"][0].get("fields", {})


def _items_check(collection_id: str):
    def check(api: API, api_request: APIRequest) -> str | None:
        fields = _collection_fields(api, collection_id)
        if fields is None:
            return None  # pygeoapi answers 404 for an unknown collection
        return params.check_items(api_request.params, {"id", *fields})
    return check


def _is_json(response: HttpResponse) -> bool:
    return (response.status_code == HTTPStatus.OK
            and response["Content-Type"].startswith("application/json"))


def _edit_json(response: HttpResponse, edit) -> HttpResponse:
    if _is_json(response):
        body = json.loads(response.content)
        edit(body)
        response.content = json.dumps(body, ensure_ascii=False)
    return response


def _as_geojson(response: HttpResponse) -> HttpResponse:
    # pygeoapi labels GeoJSON application/json; OGC API Features (Part 1, GeoJSON conformance
    # class) asks for application/geo+json.
    if _is_json(response):
        response["Content-Type"] = GEOJSON
    return response


def landing_page(request):
    def drop_unserved(body):
        body["links"] = [link for link in body.get("links", [])
                         if link.get("rel") not in UNSERVED_LINK_RELS]
    return _edit_json(_serve(request, core.landing_page), drop_unserved)


def conformance(request):
    def drop_unimplemented(body):
        body["conformsTo"] = [c for c in body["conformsTo"] if c not in NOT_CONFORMING]
    return _edit_json(_serve(request, core.conformance), drop_unimplemented)


def openapi(request):
    def handler(api, api_request):
        service.openapi_document(api)
        return core.openapi_(api, api_request)
    return _serve(request, handler)


def collections(request, collection_id=None):
    return _serve(request, core.describe_collections, collection_id)


def collection_schema(request, collection_id):
    return _serve(request, core.get_collection_schema, collection_id)


def collection_queryables(request, collection_id):
    return _serve(request, itemtypes.get_collection_queryables, collection_id)


def collection_items(request, collection_id):
    return _as_geojson(_serve(request, itemtypes.get_collection_items, collection_id,
                              check=_items_check(collection_id)))


def collection_item(request, collection_id, item_id):
    return _as_geojson(_serve(request, itemtypes.get_collection_item, collection_id, item_id))


def not_found(request):
    return _error(None, None, HTTPStatus.NOT_FOUND, "NotFound",
                  f"no such OGC API resource: {request.path}; start at {_base_url(request)}")
