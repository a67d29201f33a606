"""The items and item endpoints of layer collections (OGC API Features Parts 1, 2 and 3).

pygeoapi's own handler is not used for layers: it turns a `datetime` outside the collection's
extent into an error, transforms `bbox-crs` boxes by their two corners, has no CQL2-JSON in
GET, mislabels `numberMatched`, and does CRS transformation in Python feature by feature. Here
every parameter is checked first (a precise 400 in OGC exception format), then one SQL query
does filtering, reprojection and axis order in PostGIS. HTML and JSON-LD still come from
pygeoapi's renderers, so the pages look like the rest of /ogc.

Handlers take and return what pygeoapi's do: (api, APIRequest, ...) -> (headers, status, body).
"""

import datetime
import urllib.parse
from http import HTTPStatus
from types import SimpleNamespace

from pygeoapi import l10n
from pygeoapi.api import API, SYSTEM_LOCALE, APIRequest
from pygeoapi.formats import F_HTML, F_JSON, F_JSONLD, FORMAT_TYPES
from pygeoapi.linked_data import geojson2jsonld
from pygeoapi.plugin import load_plugin
from pygeoapi.provider.base import ProviderGenericError
from pygeoapi.util import render_j2_template, to_json

from layers.editing import etag
from ogc import cql, params
from ogc import crs as crsmod
from ogc.config import PROVIDER

GEOJSON = "application/geo+json"
FORMATS = (F_JSON, F_HTML, F_JSONLD)


class BadRequest(ValueError):
    pass


def layer_provider_def(api: API, dataset: str) -> dict | None:
    """The provider definition of a layer collection, or None for other collections (records,
    plugged-in collections), which pygeoapi's own handlers serve."""
    resource = api.config["resources"].get(dataset)
    if not resource:
        return None
    for provider in resource.get("providers", []):
        if provider.get("name") == PROVIDER:
            return provider
    return None


def _exception(api, request, headers, status, code, message):
    return api.get_exception(status, headers, request.format, code, message)


def _parse_request(api: API, request: APIRequest, provider_def: dict) -> dict:
    """Every items parameter, checked and converted; BadRequest names the first problem."""
    args = request.params
    fields = dict(provider_def.get("fields", {}))
    queryable = {"id", *fields}
    problem = params.check_items(args, queryable)
    if problem:
        raise BadRequest(problem)
    try:
        crs = crsmod.parse(args.get("crs"), "crs")
        bbox_crs = crsmod.parse(args.get("bbox-crs"), "bbox-crs")
        filter_crs = crsmod.parse(args.get("filter-crs"), "filter-crs")
    except crsmod.CrsError as exc:
        raise BadRequest(str(exc)) from None
    if "bbox-crs" in args and "bbox" not in args:
        raise BadRequest("bbox-crs is given without bbox")
    bbox = params.parse_bbox(args.get("bbox"), bbox_crs)

    limit = int(args["limit"]) if args.get("limit") else api.config["server"]["limits"][
        "default_items"]
    offset = int(args.get("offset") or 0)

    resulttype = args.get("resulttype") or "results"
    if resulttype not in ("results", "hits"):
        raise BadRequest(f"resulttype must be results or hits (got {resulttype!r})")

    skip = args.get("skipGeometry")
    if skip is not None and skip.lower() not in ("true", "false"):
        raise BadRequest(f"skipGeometry must be true or false (got {skip!r})")

    sortby = []
    for part in (args.get("sortby") or "").split(","):
        if not part.strip() and "sortby" not in args:
            continue
        name, order = part.strip(), "+"
        if name[:1] in "+-" and name:
            name, order = name[1:], name[0]
        if name not in queryable:
            raise BadRequest(f"sortby: {name!r} is not a property of this collection; "
                             f"sortable: {', '.join(sorted(queryable))}")
        sortby.append({"property": name, "order": order})

    select = None
    if "properties" in args:
        select = [p for p in args["properties"].split(",") if p]
        unknown = sorted(set(select) - set(fields))
        if unknown:
            raise BadRequest(f"properties: unknown {', '.join(unknown)}; this collection has "
                             f"{', '.join(sorted(fields)) or '(none)'}")

    when = params.parse_datetime(args.get("datetime"))

    filterq = None
    lang = (args.get("filter-lang") or "cql2-text").lower()
    if lang not in ("cql2-text", "cql2-json"):
        raise BadRequest(f"filter-lang must be cql2-text or cql2-json (got {lang!r})")
    raw_filter = args.get("filter")
    if raw_filter is None and request.data:
        raw_filter, lang = request.data, "cql2-json"  # POST .../items with a CQL2-JSON body
    if raw_filter is not None:
        if not str(raw_filter).strip():
            raise BadRequest("filter is empty")
        try:
            filterq = cql.parse_json(raw_filter) if lang == "cql2-json" \
                else cql.parse_text(raw_filter)
            # translated once here to report unknown properties and wrong types before any SQL
            cql.to_sql(filterq, fields, filter_crs, provider_def["data"])
        except cql.FilterError as exc:
            raise BadRequest(f"filter: {exc}") from None
    elif "filter-crs" in args or "filter-lang" in args:
        raise BadRequest("filter-lang / filter-crs are given without filter")

    properties = [(k, v) for k, v in args.items() if k in queryable and k not in
                  params.ITEMS_PARAMETERS]
    return {
        "offset": offset, "limit": limit, "resulttype": resulttype, "bbox": bbox,
        "bbox_crs": bbox_crs, "crs": crs, "filter_crs": filter_crs, "datetime_": when,
        "properties": properties, "sortby": sortby, "select_properties": select,
        "skip_geometry": (skip or "").lower() == "true", "q": args.get("q") or None,
        "filterq": filterq,
    }


def _query_string(args: dict, **override) -> str:
    merged = {k: v for k, v in args.items() if k not in override}
    merged.update({k: v for k, v in override.items() if v is not None})
    return urllib.parse.urlencode(merged, safe=",:/")


def items(api: API, request: APIRequest, dataset: str):
    headers = request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
    provider_def = layer_provider_def(api, dataset)
    if provider_def is None:
        return _exception(api, request, headers, HTTPStatus.NOT_FOUND, "NotFound",
                          f"no collection {dataset!r}")
    if not request.is_valid():
        return api.get_format_exception(request)
    try:
        query = _parse_request(api, request, provider_def)
    except ValueError as exc:  # BadRequest, or a parser's ValueError naming the parameter
        return _exception(api, request, headers, HTTPStatus.BAD_REQUEST,
                          "InvalidParameterValue", str(exc))
    provider = load_plugin("provider", provider_def)
    try:
        content = provider.query(**query)
    except ProviderGenericError as exc:
        return _exception(api, request, headers, exc.http_status_code, exc.ogc_exception_code,
                          exc.message)

    has_more = content.pop("has_more")
    offset, limit = query["offset"], query["limit"]
    if offset > 0 and not content["features"] and query["resulttype"] == "results":
        # `next` links are exact (one row more is read), so only a hand-made offset gets here.
        matched = content.get("numberMatched", content.get("numberMatchedEstimate"))
        return _exception(api, request, headers, HTTPStatus.BAD_REQUEST,
                          "InvalidParameterValue",
                          f"offset {offset} is beyond the end: {matched} features match "
                          f"this query (offsets 0 to {max(0, matched - 1)})")
    uri = f"{api.get_collections_url()}/{dataset}/items"
    args = {k: v for k, v in request.params.items() if k != "f"}
    base = {k: v for k, v in args.items() if k != "offset"}
    title = l10n.translate(api.config["resources"][dataset]["title"], request.locale)
    links = [
        {"type": GEOJSON, "rel": request.get_linkrel(F_JSON), "title": "GeoJSON",
         "href": f"{uri}?{_query_string(args, f=F_JSON)}"},
        {"type": FORMAT_TYPES[F_JSONLD], "rel": request.get_linkrel(F_JSONLD),
         "title": "JSON-LD", "href": f"{uri}?{_query_string(args, f=F_JSONLD)}"},
        {"type": FORMAT_TYPES[F_HTML], "rel": request.get_linkrel(F_HTML), "title": "HTML",
         "href": f"{uri}?{_query_string(args, f=F_HTML)}"},
    ]
    fmt = request.format if request.format in (F_HTML, F_JSONLD) else None
    link_type = FORMAT_TYPES[F_HTML] if fmt == F_HTML else GEOJSON
    if offset > 0:
        links.append({"type": link_type, "rel": "prev", "title": "previous page",
                      "href": f"{uri}?{_query_string(base, f=fmt, offset=max(0, offset - limit))}"})
    if has_more:
        links.append({"type": link_type, "rel": "next", "title": "next page",
                      "href": f"{uri}?{_query_string(base, f=fmt, offset=offset + limit)}"})
    links.append({"type": "application/json", "rel": "collection", "title": title,
                  "href": f"{api.get_collections_url()}/{dataset}"})
    content["links"] = links
    content["timeStamp"] = datetime.datetime.now(datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")

    headers["Content-Crs"] = crsmod.content_crs(query["crs"])
    l10n.set_response_language(headers, None, request.locale)
    if request.format == F_HTML:
        content.update({
            "itemtype": "feature", "items_path": uri, "collections_path":
            api.get_collections_url(), "dataset_path": f"{api.get_collections_url()}/{dataset}",
            "offset": offset, "id_field": provider.id_field, "title": title,
        })
        if provider.title_field:
            content["title_field"] = content["id_field"] = provider.title_field
        body = render_j2_template(api.tpl_config, api.get_dataset_templates(dataset),
                                  "collections/items/index.html", content, request.locale)
        return headers, HTTPStatus.OK, body
    if request.format == F_JSONLD:
        return headers, HTTPStatus.OK, geojson2jsonld(api, content, dataset, id_field="id")
    headers["Content-Type"] = GEOJSON
    return headers, HTTPStatus.OK, to_json(content, api.pretty_print)


def item(api: API, request: APIRequest, dataset: str, identifier: str):
    headers = request.get_response_headers(SYSTEM_LOCALE, **api.api_headers)
    provider_def = layer_provider_def(api, dataset)
    if provider_def is None:
        return _exception(api, request, headers, HTTPStatus.NOT_FOUND, "NotFound",
                          f"no collection {dataset!r}")
    if not request.is_valid():
        return api.get_format_exception(request)
    unknown = sorted(set(request.params) - {"f", "lang", "crs"})
    if unknown:
        return _exception(api, request, headers, HTTPStatus.BAD_REQUEST,
                          "InvalidParameterValue",
                          f"unknown query parameter(s) for a single item: {', '.join(unknown)}")
    try:
        crs = crsmod.parse(request.params.get("crs"), "crs")
    except crsmod.CrsError as exc:
        return _exception(api, request, headers, HTTPStatus.BAD_REQUEST,
                          "InvalidParameterValue", str(exc))
    provider = load_plugin("provider", provider_def)
    try:
        content = provider.get(identifier, crs=crs)
    except ProviderGenericError as exc:
        return _exception(api, request, headers, exc.http_status_code, exc.ogc_exception_code,
                          exc.message)
    version = content.pop("version")
    uri = f"{api.get_collections_url()}/{dataset}/items/{content['id']}"
    title = l10n.translate(api.config["resources"][dataset]["title"], request.locale)
    content["links"] = [
        {"type": GEOJSON, "rel": request.get_linkrel(F_JSON), "title": "GeoJSON",
         "href": f"{uri}?f={F_JSON}"},
        {"type": FORMAT_TYPES[F_HTML], "rel": request.get_linkrel(F_HTML), "title": "HTML",
         "href": f"{uri}?f={F_HTML}"},
        {"type": "application/json", "rel": "collection", "title": title,
         "href": f"{api.get_collections_url()}/{dataset}"},
    ]
    headers["Content-Crs"] = crsmod.content_crs(crs)
    # The same ETag as layers.editing.etag() and the REST API: Part 4 writes check If-Match
    # against it.
    headers["ETag"] = etag(SimpleNamespace(pk=content["id"], version=version))
    l10n.set_response_language(headers, None, request.locale)
    if request.format == F_HTML:
        content.update({"title": title, "id_field": provider.id_field,
                        "collections_path": api.get_collections_url()})
        if provider.title_field:
            content["title_field"] = provider.title_field
        body = render_j2_template(api.tpl_config, api.get_dataset_templates(dataset),
                                  "collections/items/item.html", content, request.locale)
        return headers, HTTPStatus.OK, body
    if request.format == F_JSONLD:
        return headers, HTTPStatus.OK, geojson2jsonld(api, content, dataset, uri, "id")
    headers["Content-Type"] = GEOJSON
    return headers, HTTPStatus.OK, to_json(content, api.pretty_print)
