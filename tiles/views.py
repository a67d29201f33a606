"""Tile endpoints: parse, check access, hand over to queries and caching. No SQL here."""

from functools import wraps
from urllib.parse import urlencode

from django.http import JsonResponse
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from indicators.classify import legend
from indicators.queries import NotFound, attribution, resolve
from layers import permissions
from layers.models import Layer
from tiles import build, queries, tilejson
from tiles.access import tile_layers, visible_layers
from tiles.caching import add_cache_headers, tile_key, tile_response
from tiles.options import NO_OPTIONS, Options, parse_options
from tiles.params import TileRequestError, parse_layer_list, parse_tile


def json_errors(view):
    """TileRequestError as {"detail": ...} with its status: map clients read JSON, not HTML."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except TileRequestError as e:
            response = JsonResponse({"detail": e.detail}, status=e.status)
            if e.depends_on_user:
                patch_vary_headers(response, ["Cookie", "Authorization"])
            return response

    return wrapper


def _options(request, layers: list[Layer]) -> Options:
    if "properties" not in request.GET and "filter" not in request.GET:
        return NO_OPTIONS
    return parse_options(request.GET, layers)


@require_safe
@json_errors
def layer_tile(request, layers, z, x, y):
    tile = parse_tile(z, x, y)
    wants_options = "properties" in request.GET or "filter" in request.GET
    found, restricted = tile_layers(request, parse_layer_list(layers), wants_options)
    options = _options(request, found)
    return tile_response(request, build.key(found, options, tile),
                         build.builder(found, options, tile), public=not restricted)


@require_safe
@json_errors
def layer_tilejson(request, layers):
    found, restricted = visible_layers(request, parse_layer_list(layers))
    options = _options(request, found)
    slugs = ",".join(la.slug for la in found)
    # reverse() would percent-encode the {z}/{x}/{y} placeholders, so they are put in after.
    path = reverse("tiles:tile", kwargs={"layers": slugs, "z": "0", "x": "0", "y": "0"})
    template = request.build_absolute_uri(path.removesuffix("0/0/0.pbf")) + "{z}/{x}/{y}.pbf"
    if options is not NO_OPTIONS:
        template += "?" + options.query_string()
    response = JsonResponse(tilejson.document(found, template, options),
                            json_dumps_params={"ensure_ascii": False})
    add_cache_headers(response, public=not restricted)
    return response


@require_safe
@json_errors
def indicator_tilejson(request, code):
    indicator, areas, period, restricted = _resolve_indicator(request, code)
    path = reverse("tiles:indicator-tile",
                   kwargs={"code": indicator.code, "z": "0", "x": "0", "y": "0"})
    # The tiles named carry the areas and the period resolved here, so the document and its
    # tiles describe the same map; with no values yet there is no period to name.
    query = {"areas": areas.slug, **({"period": period} if period else {})}
    template = (request.build_absolute_uri(path.removesuffix("0/0/0.pbf")) + "{z}/{x}/{y}.pbf?"
                + urlencode(query))
    response = JsonResponse(
        tilejson.indicator_document(indicator, areas, period, template,
                                    attribution(indicator, areas, period)),
        json_dumps_params={"ensure_ascii": False})
    add_cache_headers(response, public=not restricted)
    return response


@require_safe
@json_errors
def indicator_tile(request, code, z, x, y):
    tile = parse_tile(z, x, y)
    indicator, areas, period, restricted = _resolve_indicator(request, code)
    stamp = queries.indicator_values_stamp(indicator.id, areas.id, period)
    # The indicator's own settings decide classes and ranks, so they are part of the key.
    key = tile_key("indicator", indicator.code, indicator.id, indicator.polarity,
                   indicator.classes, indicator.classification, indicator.source,
                   f"{areas.slug}#{areas.id}@{areas.version}", period, stamp, tile)

    def build() -> bytes:
        return queries.indicator_tile(
            indicator_id=indicator.id, polarity=indicator.polarity,
            preferred_source=indicator.source, layer_id=areas.id, name_field=areas.name_field,
            period=period, breaks=legend(indicator, areas, period)["breaks"], tile=tile)

    return tile_response(request, key, build, public=not restricted)


def _resolve_indicator(request, code: str):
    """(indicator, areas, period, restricted). resolve() is shared with the indicator API and
    legend: the same defaults (first areas layer, latest period), so a map asking both for "the
    default" gets a matching pair. What everybody may see is answered without looking at the
    user (which would make the answer vary by cookie); the rest only for a user who may see
    it (indicators.access), privately."""
    asked = (code, request.GET.get("areas") or None, request.GET.get("period") or None)
    try:
        return (*resolve(*asked), False)
    except NotFound:
        pass
    try:
        return (*resolve(*asked, user=permissions.request_user(request)), True)
    except NotFound as e:
        raise TileRequestError(404, str(e), depends_on_user=True) from None


@json_errors
def unknown(request, rest=""):
    raise TileRequestError(404, f"no tile endpoint at /tiles/{rest}; expected "
                                "<layer>/{z}/{x}/{y}.pbf, <layer>.json, "
                                "indicators/<code>/{z}/{x}/{y}.pbf or indicators/<code>.json")
