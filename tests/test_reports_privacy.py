"""No personal data and no unpublished report leaves the app, on any channel: report pages,
the map GeoJSON, duplicate suggestions, statistics, REST, OGC API items, vector tiles,
downloads (GeoJSON, CSV, GeoPackage) and Open311 (JSON and XML)."""

import json
import math

import mapbox_vector_tile
import pytest
from django.core.cache import cache
from django.urls import Resolver404, resolve

from reports import geo, services, testing
from reports.models import Report

pytestmark = pytest.mark.django_db

LON, LAT = testing.RYNEK
REPORTER = "reporter-7f3a9c@example.org"
SUPPORTER = "supporter-91bd2e@example.org"
PENDING_TITLE = "Pending-report-c81f"
HIDDEN_TITLE = "Hidden-report-4e0a"
MERGED_TITLE = "Merged-report-a6d2"
PUBLIC_TITLE = "Public-report-5b77"
SECRETS = [REPORTER, SUPPORTER, "example.org", PENDING_TITLE, HIDDEN_TITLE, MERGED_TITLE]


@pytest.fixture
def reports_made(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    cache.clear()
    category = testing.category()
    moderator = testing.moderator()

    def make(title, text=""):
        return services.submit(category=category, geom=geo.point(LON, LAT), title=title,
                               description=f"Opis zgłoszenia {title} {text}", answers={},
                               email=REPORTER)

    public = make(PUBLIC_TITLE, text=REPORTER)
    # The email in the description is text the resident wrote; the moderator removes it before
    # publishing (moderation exists for that).
    services.edit(public, moderator, title=PUBLIC_TITLE, description="Dziura przy fontannie.")
    public = services.publish(public, moderator)
    services.support(public, SUPPORTER)
    services.set_status(public, moderator, "confirmed", "Sprawdzone.")
    make(PENDING_TITLE, text=REPORTER)
    services.hide(services.publish(make(HIDDEN_TITLE), moderator), moderator, "spam")
    services.merge(services.publish(make(MERGED_TITLE), moderator), public, moderator)
    return Report.objects.get(pk=public.pk)


def assert_clean(body: bytes | str, channel: str):
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaks through {channel}"


def tile_address(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_pages_and_page_data_show_no_personal_data(client, reports_made):
    report = reports_made
    responses = {
        "list": client.get("/reports/"),
        "detail": client.get(f"/reports/{report.pk}/"),
        "map geojson": client.get("/reports/map.geojson"),
        "nearby": client.get(f"/reports/nearby.json?category={report.category.slug}"
                             f"&lat={LAT}&lon={LON}"),
        "stats": client.get("/reports/stats.json"),
    }
    for channel, response in responses.items():
        assert response.status_code == 200, channel
        assert_clean(response.content, channel)
    assert PUBLIC_TITLE in responses["list"].content.decode()
    assert PUBLIC_TITLE in responses["map geojson"].content.decode()
    for other in Report.objects.exclude(pk=report.pk):
        assert client.get(f"/reports/{other.pk}/").status_code in (302, 404)


def test_the_layer_holds_public_reports_only_and_no_email(reports_made):
    from layers.models import Feature, FeatureHistory

    features = list(Feature.objects.filter(layer__slug="zgloszenia"))
    assert [f.properties["report_id"] for f in features] == [reports_made.pk]
    assert_clean(json.dumps([f.properties for f in features]), "layer features")
    # The layer's own history (served to staff by the REST history endpoints) is as clean:
    # nothing unpublished ever reached the layer.
    history = FeatureHistory.objects.filter(layer__slug="zgloszenia")
    assert history.exists()
    text = json.dumps([[h.before, h.after] for h in history])
    # Hidden and merged reports were public for a while, so their text is in the history.
    for secret in (REPORTER, SUPPORTER, PENDING_TITLE):
        assert secret not in text


def test_ogc_api_items_show_no_personal_data(client, reports_made):
    items = client.get("/ogc/collections/zgloszenia/items?f=json&limit=100")
    assert items.status_code == 200
    body = items.json()
    assert [f["properties"]["report_id"] for f in body["features"]] == [reports_made.pk]
    assert_clean(items.content, "OGC API items")
    one = client.get(f"/ogc/collections/zgloszenia/items/{reports_made.feature_id}?f=json")
    assert one.status_code == 200
    assert_clean(one.content, "OGC API item")
    assert_clean(client.get("/ogc/collections/zgloszenia?f=json").content, "OGC collection")


def test_vector_tiles_show_no_personal_data(client, reports_made):
    for z in (10, 14):
        x, y = tile_address(LON, LAT, z)
        response = client.get(f"/tiles/zgloszenia/{z}/{x}/{y}.pbf")
        assert response.status_code == 200
        tile = mapbox_vector_tile.decode(response.content)
        features = tile["zgloszenia"]["features"]
        assert [f["properties"]["report_id"] for f in features] == [reports_made.pk]
        assert_clean(json.dumps([f["properties"] for f in features]), f"tile z{z}")
        assert_clean(response.content, f"tile z{z} bytes")


def _route_exists(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return "portal" not in match.func.__module__


def test_rest_api_shows_no_personal_data(client, reports_made):
    path = "/api/layers/zgloszenia/features/"
    if not _route_exists(path):
        pytest.skip("the REST features API is not routed in this checkout")
    response = client.get(path)
    assert response.status_code == 200
    assert PUBLIC_TITLE in response.content.decode()
    assert_clean(response.content, "REST features")
    response = client.get(f"{path}{reports_made.feature_id}/")
    assert response.status_code == 200
    assert_clean(response.content, "REST feature")
    # History (who changed what, older texts) is for staff and editors only.
    assert client.get("/api/layers/zgloszenia/history/").status_code in (401, 403)


@pytest.mark.parametrize("fmt", ["geojson", "csv", "gpkg"])
def test_downloads_show_no_personal_data(client, reports_made, fmt):
    path = f"/data/zgloszenia.{fmt}"
    if not _route_exists(path):
        pytest.skip("downloads are not routed in this checkout")
    response = client.get(path)
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert PUBLIC_TITLE.encode() in body
    for secret in SECRETS:
        assert secret.encode() not in body, f"{secret!r} leaks through the {fmt} download"


def test_open311_shows_no_personal_data(client, reports_made):
    for fmt in ("json", "xml"):
        listing = client.get(f"/open311/v2/requests.{fmt}")
        assert listing.status_code == 200
        assert PUBLIC_TITLE in listing.content.decode()
        assert_clean(listing.content, f"Open311 requests.{fmt}")
        one = client.get(f"/open311/v2/requests/{reports_made.pk}.{fmt}")
        assert one.status_code == 200
        assert_clean(one.content, f"Open311 request.{fmt}")
        assert_clean(client.get(f"/open311/v2/services.{fmt}").content, "Open311 services")
    for other in Report.objects.exclude(pk=reports_made.pk):
        assert client.get(f"/open311/v2/requests/{other.pk}.json").status_code == 404
    ids = ",".join(str(r.pk) for r in Report.objects.all())
    found = client.get(f"/open311/v2/requests.json?service_request_id={ids}").json()
    assert [r["service_request_id"] for r in found] == [str(reports_made.pk)]
