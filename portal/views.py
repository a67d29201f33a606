"""Resident-facing pages. Data comes from portal.queries / portal.areas / portal.catalogue (which
read indicators.queries and the layer registry); views check input and pick templates.

Bad input in a page address never gives a 500: an unknown indicator, period, areas layer or
area is explained on the page, which falls back to a default.
"""

import json
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from indicators import queries as iq
from layers import csvfile, permissions
from layers.city import read_config
from layers.models import Layer
from layers.schema import display_type, field_label
from portal import areas as area_lib
from portal import catalogue, queries, search, text
from sdi.language import lang, localized, shared_page

# Okabe & Ito's colour-blind-safe qualitative palette, for the overlay layers' points.
OVERLAY_COLOURS = ["#E69F00", "#0072B2", "#009E73", "#CC79A7", "#D55E00", "#56B4E9",
                   "#F0E442", "#000000"]


def _city() -> dict:
    try:
        return read_config(area_lib.city_name())[0]["city"]
    except FileNotFoundError:
        return {"name": "", "center": [0, 0], "zoom": 2}


def _user(request):
    """Who asks (a session, or a token as on the API): what is computed from staff-only
    layers is shown only to those who may read them (indicators.access)."""
    return permissions.request_user(request)


def _json_error(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def _overlays() -> list[dict]:
    layers = Layer.objects.filter(role=Layer.Role.DATA, visibility=Layer.Visibility.PUBLIC)
    return [{"slug": la.slug, "title": localized(la, "title"), "colour":
             OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)], "attribution": la.attribution,
             "geometry": la.geometry_type, "synthetic": la.synthetic,
             "fields": field_meta(la), "nameField": la.name_field}
            for i, la in enumerate(layers.order_by("id"))]


def field_meta(layer: Layer) -> list[dict]:
    """Each attribute's name, label in the visitor's language and display type (the layer
    schema's label_pl / label_en / display), for showing a feature's values to people."""
    return [{"name": f["name"], "label": field_label(f, lang()), "display": display_type(f)}
            for f in layer.fields]


def _map_state(request, indicators: list, layers: dict[str, Layer]
               ) -> tuple[dict, list[str]]:
    """The view the address asks for, checked against what exists; notices say what was
    unknown and what is shown instead."""
    notices = []
    q = request.GET
    by_code = {i.code: i for i in indicators}
    code = q.get("indicator") or ""
    if code and code not in by_code:
        notices.append(_('There is no indicator "%(code)s"; showing "%(name)s" instead.')
                       % {"code": code, "name": localized(indicators[0], "name")})
    ind = by_code.get(code) or indicators[0]
    # `layers` comes in the map's order: the default areas first.
    ind_layers = [slug for slug in layers if slug in {la.slug for la in ind.area_layers.all()}]
    areas = q.get("areas") or ""
    if areas and areas not in ind_layers:
        notices.append(_('There are no areas "%(areas)s" for this indicator; showing '
                         '"%(title)s" instead.') % {
            "areas": areas, "title": localized(layers[ind_layers[0]], "title")})
    areas = areas if areas in ind_layers else ind_layers[0]
    periods = iq.periods(ind)
    period = q.get("period") or ""
    if period and period not in periods:
        notices.append(_('There are no values for period "%(period)s"; showing %(latest)s '
                         'instead.') % {"period": period, "latest": periods[-1]})
    period = period if period in periods else (periods[-1] if periods else "")
    area = q.get("area") or ""
    if area and not any(a.slug == area for a in area_lib.all_areas().get(areas, [])):
        notices.append(_('There is no area "%(area)s" among %(title)s.') % {
            "area": area, "title": localized(layers[areas], "title")})
        area = ""
    overlay_slugs = {o for o in (q.get("layers") or "").split(",") if o}
    known = set(Layer.objects.filter(slug__in=overlay_slugs, role=Layer.Role.DATA,
                                     visibility=Layer.Visibility.PUBLIC)
                .values_list("slug", flat=True))
    for unknown in sorted(overlay_slugs - known):
        notices.append(_('There is no map layer "%(layer)s".') % {"layer": unknown})
    return ({"indicator": ind.code, "areas": areas, "period": period, "area": area,
             "layers": sorted(known)}, notices)


@require_safe
@shared_page
def map_page(request):
    found = {la.slug: la for la in area_lib.areas_layers()}
    layers = {slug: found[slug] for slug in area_lib.default_first(list(found))}
    shown = list(iq.visible_indicators(_user(request)))
    periods = {i.id: iq.periods(i) for i in shown}
    indicators = [i for i in shown if periods.get(i.id)
                  and any(la.slug in layers for la in i.area_layers.all())]
    city = _city()
    if not indicators:
        return render(request, "portal/empty.html", {"city": city["name"]})
    state, notices = _map_state(request, indicators, layers)
    all_areas = area_lib.all_areas()
    config = {
        "indicators": [
            # Stored texts the map does not show (licence, methodology) stay out of the page.
            {**{k: v for k, v in queries.indicator_info(i).items()
                if k not in ("licence", "methodology")}, "periods": periods[i.id],
             "areas": [slug for slug in layers
                       if slug in {la.slug for la in i.area_layers.all()}]}
            for i in indicators
        ],
        "areas": [{"slug": slug, "title": localized(la, "title"),
                   "count": len(all_areas.get(slug, [])),
                   "items": [[a.id, a.slug, a.name(lang())] for a in all_areas.get(slug, [])]}
                  for slug, la in layers.items()],
        "overlays": _overlays(),
        "state": state,
        "urls": {
            "tiles": "/tiles/indicators/{code}/{z}/{x}/{y}.pbf?areas={areas}&period={period}",
            "legend": "/api/indicators/{code}/legend/?areas={areas}&period={period}",
            "overlayTiles": "/tiles/{layers}/{z}/{x}/{y}.pbf",
            "table": reverse("portal:map-table") + "?indicator={code}&areas={areas}"
                                                    "&period={period}",
            "at": reverse("portal:area-at") + "?areas={areas}&lat={lat}&lon={lon}",
            "search": reverse("portal:map-search") + "?q={q}",
            "area": "/districts/{slug}.json",
            "profile": "/districts/{slug}/",
            "compare": reverse("portal:compare") + "?areas={slugs}",
            "report": reverse("reports:new"),
        },
        "basemap": {"url": _basemap_url(), "attribution": _basemap_attribution()},
        "fillOpacity": 0.85,
        "center": city["center"],
        "zoom": city["zoom"],
        "strings": _map_strings(),
    }
    return render(request, "portal/map.html", {
        "config": config, "city": city["name"], "notices": notices,
        "overlays": config["overlays"]})


def _basemap_url() -> str:
    return settings.BASEMAP_URL


def _basemap_attribution() -> str:
    return settings.BASEMAP_ATTRIBUTION


def _map_strings() -> dict:
    return {
        "noData": _("no data"),
        "rank": _("Rank"),
        "rankOf": _("%(rank)s of %(n)s"),
        "source": _("Source"),
        "value": _("Value"),
        "city": _("City"),
        "trend": _("Trend"),
        "profile": _("District profile"),
        "compare": _("Compare with other areas"),
        "area": _("Area"),
        "status": _("Status"),
        "discrepancy": _("Sources disagree"),
        "sourcesDiffer": _("The sources give different figures:"),
        "figureShown": _("the figure shown"),
        "difference": _("Difference: %(difference)s"),
        "allowed": _("up to %(allowed)s counts as agreement"),
        "explainedOn": _("Explanation from the city's staff (%(date)s):"),
        "explained": _("Explanation from the city's staff:"),
        "explanationPending": _("Explanation pending: the city's staff have not yet written "
                                "why the figures differ."),
        "disputedAreas": _("Areas where sources disagree: %(n)s (open one to see each "
                           "source's figure)."),
        "attributes": _("Attributes"),
        "layer": _("Layer"),
        "showTable": _("Show as a table"),
        "showMap": _("Show the map"),
        "tableCaption": _("%(indicator)s by %(areas)s, %(period)s"),
        "error": _("Could not load the data. Try again."),
        "note": _("Note"),
        "yes": _("yes"),
        "no": _("no"),
        "inArea": _("In the area:"),
        "reportHere": _("Report a problem here"),
        "classAbove": _("over %(from)s to %(to)s"),
        "myLocation": _("My location"),
        "locating": _("Looking for your location…"),
        "located": _("Location found."),
        "youAreHere": _("You are here"),
        "noGeolocation": _("Your browser cannot share its location; use the search instead."),
        "geolocationDenied": _("Your location is not available (permission refused or no "
                               "signal); use the search instead."),
        "outsideAreas": _("This place is outside the areas shown; the map shows it."),
        "noResults": _("Nothing found. Try another name, e.g. a district number or a "
                       "school."),
        "resultsFound": _("Found: %(n)s. Choose one:"),
        "searchTooShort": _("Type at least 2 letters."),
        "classes": _("Classes"),
        "methods": {"quantiles": _("quantiles (equal numbers of areas)"),
                    "equal_interval": _("equal intervals"),
                    "natural_breaks": _("natural breaks (Fisher-Jenks)"),
                    "unique values": _("one class per value")},
    }


@require_safe
def map_table(request):
    """The choropleth as rows (its table equivalent): every area, value, rank."""
    try:
        indicator, areas, period = iq.resolve(request.GET.get("indicator", ""),
                                              request.GET.get("areas"), request.GET.get("period"),
                                              user=_user(request))
    except iq.NotFound as exc:
        return _json_error(404, str(exc))
    return JsonResponse({"indicator": queries.indicator_info(indicator), "areas": areas.slug,
                         "areas_title": localized(areas, "title"), "period": period,
                         "rows": queries.ranking(indicator, areas, period)})


@require_safe
def map_search(request):
    """GET /map/search.json?q=: areas and named features of the public map layers."""
    try:
        results = search.search(request.GET.get("q", ""))
    except search.QueryError as exc:
        return _json_error(400, str(exc))
    return JsonResponse({"q": request.GET.get("q", ""), "results": results},
                        json_dumps_params={"ensure_ascii": False})


@require_safe
def area_at(request):
    """The area of a layer under a point (the map's click on an area)."""
    layer = next((la for la in area_lib.areas_layers() if la.slug == request.GET.get("areas")),
                 None)
    if layer is None:
        return _json_error(404, f"unknown areas layer {request.GET.get('areas', '')!r}")
    try:
        lat, lon = float(request.GET["lat"]), float(request.GET["lon"])
    except (KeyError, ValueError):
        return _json_error(400, "lat and lon must be numbers")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return _json_error(400, "lat must be within [-90, 90] and lon within [-180, 180]")
    area = area_lib.at_point(layer, lon, lat)
    if area is None:
        return _json_error(404, "no area at this point")
    return JsonResponse({"id": area.id, "slug": area.slug, "name": area.name(lang())})


def _area_or_404(slug: str):
    found = area_lib.find(slug)
    if found is None:
        raise Http404(slug)
    return found


@require_safe
@shared_page
def districts(request):
    all_areas = area_lib.all_areas()
    groups = [{"layer": la, "title": localized(la, "title"),
               "description": localized(la, "description"),
               "areas": [(a.slug, a.name(lang()), a.detail) for a in all_areas.get(la.slug, [])]}
              for la in area_lib.areas_layers()]
    return render(request, "portal/districts.html", {"groups": groups,
                                                     "city": _city()["name"]})


def _unknown_area(request, slug: str):
    all_areas = area_lib.all_areas()
    groups = [{"title": localized(la, "title"),
               "areas": [(a.slug, a.name(lang()), a.detail) for a in all_areas.get(la.slug, [])]}
              for la in area_lib.areas_layers()]
    return render(request, "portal/unknown_area.html",
                  {"slug": slug, "groups": groups, "city": _city()["name"]},
                  status=404)


@require_safe
@shared_page
def district(request, slug):
    found = area_lib.find(slug)
    if found is None:
        return _unknown_area(request, slug)
    area, layer = found
    rows = queries.area_profile(area, layer, _user(request))
    siblings = [(a.slug, a.name(lang())) for a in area_lib.all_areas()[layer.slug]]
    return render(request, "portal/district.html", {
        "area": area, "name": area.name(lang()), "layer": layer,
        "attributes": area_lib.attributes(area, layer),
        "layer_title": localized(layer, "title"), "rows": [r for r in rows if r["periods"]],
        "gaps": [r for r in rows if not r["periods"]],
        "outline": json.loads(area_lib.outline(area.id)), "siblings": siblings,
        "chart": [{"code": r["code"], "name": r["name"], "unit": r["unit"],
                   "unit_forms": r["unit_forms"], "decimals": r["decimals"],
                   "periods": r["periods"]}
                  for r in rows if r["periods"]],
        "city": _city()["name"], "areas_count": len(siblings),
        "strings": {"area": area.name(lang()), "city": _("City"), "noData": _("no data"),
                    "median": _("Median of areas")},
        "basemap": {"url": _basemap_url(), "attribution": _basemap_attribution()},
        "csv_links": catalogue.csv_links(reverse("portal:district-csv", args=[area.slug])),
    })


def _profile_rows(area, layer, user) -> tuple[list[str], list[list]]:
    header = ["indicator", "name", "period", "value", "unit", "rank", "ranked_areas",
              "city_value", "status", "source", "licence", "attribution"]
    out = []
    for r in queries.area_profile(area, layer, user):
        licences = r["licence"] or "; ".join(
            dict.fromkeys(s["licence"] for s in r["sources"] if s["licence"]))
        attributions = "; ".join(dict.fromkeys(s["attribution"] for s in r["sources"]
                                               if s["attribution"]))
        for p in r["periods"]:
            out.append([r["code"], r["name"], p["period"], "" if p["value"] is None
                        else p["value"], r["unit"], p["rank"] or "", p["of"],
                        "" if p["city"] is None else p["city"], p["status"], p["source"],
                        licences, attributions])
    return header, out


@require_safe
def district_csv(request, slug):
    area, layer = _area_or_404(slug)
    try:
        form = csvfile.form_of(request.GET)
    except csvfile.FormError as exc:
        return csvfile.error(exc)
    header, rows = _profile_rows(area, layer, _user(request))
    return csvfile.response(area.slug, header, rows, form)


@require_safe
def district_json(request, slug):
    found = area_lib.find(slug)
    if found is None:
        return _json_error(404, f"unknown area {slug!r}")
    area, layer = found
    return JsonResponse({
        "id": area.id, "slug": area.slug, "name": area.name(lang()), "detail": area.detail,
        "layer": layer.slug, "layer_title": localized(layer, "title"),
        "areas_count": len(area_lib.all_areas()[layer.slug]),
        "outline": json.loads(area_lib.outline(area.id)),
        "point": area_lib.inside_point(area.id),
        "indicators": queries.area_profile(area, layer, _user(request)),
    }, json_dumps_params={"ensure_ascii": False})


def _compare_selection(request) -> tuple[list, list[str], list[str]]:
    """(the areas asked for that exist, in order; the unknown slugs; every slug asked for)."""
    raw = [s for part in request.GET.getlist("areas") for s in part.split(",") if s.strip()]
    wanted = list(dict.fromkeys(s.strip() for s in raw))
    by_slug = {a.slug: a for group in area_lib.all_areas().values() for a in group}
    return ([by_slug[s] for s in wanted if s in by_slug],
            [s for s in wanted if s not in by_slug], wanted)


COMPARE_COLUMNS = ["area", "area_name", "areas_layer", "indicator", "name", "unit", "period",
                   "value", "rank", "ranked_areas", "status", "source"]


@require_safe
def compare_csv(request):
    """The compare table as CSV, one row per area and indicator (the newest period of each, as
    on the page)."""
    try:
        form = csvfile.form_of(request.GET)
    except csvfile.FormError as exc:
        return csvfile.error(exc)
    selected, unknown, _wanted = _compare_selection(request)
    if len(selected) < 2:
        return HttpResponse(
            "areas: name at least two known areas, e.g. ?areas=okreg-1,okreg-2"
            + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
            status=400, content_type="text/plain; charset=utf-8")
    rows = [[a.slug, a.name(lang()), a.layer, r["code"], r["name"], r["unit"], r["period"],
             c["value"], c["rank"], c["of"] or None, c["status"], c["source"]]
            for r in queries.compare(selected) for a, c in zip(selected, r["cells"], strict=True)]
    name = "compare-" + "-".join(a.slug for a in selected)
    return csvfile.response(name[:120], COMPARE_COLUMNS, rows, form)


@require_safe
@shared_page
def compare(request):
    selected, unknown, wanted = _compare_selection(request)
    all_areas = area_lib.all_areas()
    notices = [_('There is no area "%(area)s"; it was left out.') % {"area": s}
               for s in unknown]
    if wanted and len(selected) < 2:
        notices.append(_("Pick at least two areas to compare them."))
    rows = queries.compare(selected, _user(request)) if len(selected) >= 2 else []
    layers = area_lib.areas_layers()
    groups = [{"slug": la.slug, "title": localized(la, "title"),
               "areas": [(a.slug, a.name(lang()), a.slug in {s.slug for s in selected})
                         for a in all_areas.get(la.slug, [])]} for la in layers]
    names = [a.name(lang()) for a in selected]
    csv_path = reverse("portal:compare-csv") + "?" + urlencode(
        {"areas": ",".join(a.slug for a in selected)}, safe=",")
    return render(request, "portal/compare.html", {
        "groups": groups, "selected": selected, "names": names, "rows": rows,
        "csv_links": catalogue.csv_links(csv_path) if rows else [],
        "notices": notices, "city": _city()["name"],
        "chart": {"areas": names, "rows": [
            {"code": r["code"], "name": r["name"], "unit": r["unit"],
             "unit_forms": r["unit_forms"], "period": r["period"], "decimals": r["decimals"],
             "values": [c["value"] for c in r["cells"]]}
            for r in rows], "noData": _("no data")},
    })


@require_safe
@shared_page
def data_catalogue(request):
    items = catalogue.datasets()
    q = request.GET.get("q", "").strip()
    theme = request.GET.get("theme", "")
    keyword = request.GET.get("keyword", "")
    licence = request.GET.get("licence", "")
    found = catalogue.search(items, q, theme, keyword, licence)
    return render(request, "portal/catalogue.html", {
        "datasets": found, "total": len(items), "q": q, "theme": theme, "keyword": keyword,
        "licence": licence, "facets": catalogue.facets(items),
        "filtered": bool(q or theme or keyword or licence), "city": _city()["name"],
        "formats": catalogue.DOWNLOAD_FORMATS,
    })


@require_safe
@shared_page
def dataset(request, slug):
    d = catalogue.get(slug)
    if d is None:
        raise Http404(slug)
    base = request.build_absolute_uri("/").rstrip("/")
    page_url = request.build_absolute_uri(reverse("portal:dataset", args=[slug]))
    la = d.layer
    return render(request, "portal/dataset.html", {
        "d": d, "la": la, "city": _city()["name"],
        "json_ld": catalogue.json_ld(d, page_url, base),
        "downloads": [{"href": f"/data/{la.slug}.{ext}", "label": label, "title": title}
                      for ext, label, title in catalogue.DOWNLOAD_FORMATS],
        "ogc": {
            "collection": f"{base}/ogc/collections/{la.slug}",
            "items": f"{base}/ogc/collections/{la.slug}/items",
            "qgis": f"{base}/ogc",
            "tiles": f"{base}/tiles/{la.slug}/{{z}}/{{x}}/{{y}}.pbf",
            "tilejson": f"{base}/tiles/{la.slug}.json",
        },
        "preview": {"tiles": f"/tiles/{la.slug}/{{z}}/{{x}}/{{y}}.pbf", "layer": la.slug,
                    "extent": d.extent, "geometry": la.geometry_type,
                    "basemap": {"url": _basemap_url(), "attribution": _basemap_attribution()}},
        "fields": [{**f, "label": field_label(f, lang()),
                    "kind": text.display_kind(display_type(f))} for f in la.fields],
        "frequency": text.frequency(la.update_frequency),
    })
