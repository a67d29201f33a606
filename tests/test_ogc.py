"""OGC API - Features at /ogc: pygeoapi over the layer registry, checked against PostGIS counts,
with Django's test client and with GDAL's OAPIF driver against the live server."""

import re
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.gis.geos import MultiPoint, Point
from django.db import connection

from layers.models import Feature, Layer

pytestmark = pytest.mark.django_db

KIELCE_BBOX = (20.60, 50.85, 20.65, 50.88)


def public_slugs() -> list[str]:
    return list(Layer.objects.filter(visibility="public").values_list("slug", flat=True))


def plugged_in() -> set[str]:
    """Collections other apps add through ogc.config.register_collections (e.g. indicator
    values, tested in tests/test_indicators_api.py)."""
    from ogc import config
    return {key for provider in config._extra_collections for key in provider()}


def bbox_count(slug: str, bbox) -> int:
    with connection.cursor() as cur:
        cur.execute("""
            SELECT count(*) FROM layers_feature f JOIN layers_layer l ON l.id = f.layer_id
            WHERE l.slug = %s AND ST_Intersects(f.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))
        """, [slug, *bbox])
        return cur.fetchone()[0]


def get_json(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.content[:500])
    return response.json()


def assert_ogc_error(response, status):
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["code"] and body["description"], body
    return body["description"]


# --- service documents -------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/ogc", "/ogc/"])
def test_landing_page_links_are_absolute_and_served(client, url):
    body = get_json(client, url)
    assert body["title"] == "City SDI – Kielce"
    hrefs = {link["rel"]: link["href"] for link in body["links"]}
    assert hrefs["data"] == "http://testserver/ogc/collections"
    assert hrefs["conformance"] == "http://testserver/ogc/conformance"
    assert hrefs["service-desc"] == "http://testserver/ogc/openapi"
    # pygeoapi's links to processes and tile matrix sets point at nothing on this site
    assert not any("processes" in h or "TileMatrixSets" in h for h in hrefs.values())


def test_browser_accept_header_still_gets_json_unless_html_is_asked_for(client):
    response = client.get("/ogc", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response["Content-Type"].startswith("application/json")
    assert client.get("/ogc?f=html")["Content-Type"].startswith("text/html")


def test_conformance_declares_what_is_implemented_and_nothing_else(client):
    classes = set(get_json(client, "/ogc/conformance")["conformsTo"])
    spec = "http://www.opengis.net/spec/"
    for declared in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
                     "ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter",
                     "cql2/1.0/conf/cql2-text", "cql2/1.0/conf/cql2-json",
                     "cql2/1.0/conf/basic-spatial-functions",
                     "ogcapi-features-4/1.0/conf/create-replace-delete",
                     "ogcapi-records-1/1.0/conf/core", "ogcapi-tiles-1/1.0/conf/core"):
        assert spec + declared in classes
    # implemented only in part (temporal) or not at all: not declared
    for missing in ("cql2/1.0/conf/temporal-functions", "cql2/1.0/conf/arithmetic",
                    "cql2/1.0/conf/property-property",
                    "cql2/1.0/conf/accent-insensitive-comparison",
                    "ogcapi-processes-1/1.0/conf/core", "ogcapi-records-1/1.0/conf/opensearch"):
        assert spec + missing not in classes


def test_openapi_document_lists_every_public_collection(client):
    response = client.get("/ogc/openapi")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    doc = response.json()
    for slug in public_slugs():
        assert f"/collections/{slug}/items" in doc["paths"]
    assert doc["servers"][0]["url"] == "http://testserver/ogc"


# --- collections -------------------------------------------------------------------------------

def test_every_public_layer_is_a_collection_with_its_extent_and_titles(client):
    body = get_json(client, "/ogc/collections")
    collections = {c["id"]: c for c in body["collections"]}
    assert set(collections) == {*public_slugs(), "catalogue", *plugged_in()}
    layer = Layer.objects.get(slug="biblioteki")
    c = collections["biblioteki"]
    assert c["title"] == layer.title_pl  # Polish is the default language
    assert c["itemType"] == "feature"
    minx, miny, maxx, maxy = c["extent"]["spatial"]["bbox"][0]
    with connection.cursor() as cur:
        cur.execute("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                    "(SELECT ST_Extent(geom) e FROM layers_feature WHERE layer_id = %s) x",
                    [layer.id])
        assert (minx, miny, maxx, maxy) == pytest.approx(cur.fetchone())
    english = get_json(client, "/ogc/collections/biblioteki?lang=en")
    assert english["title"] == layer.title_en
    assert any(link["rel"] == "license" and link["title"] == layer.licence
               for link in c["links"])


def test_hidden_and_new_layers_show_at_once_despite_the_config_cache(client):
    assert "defibrylatory" in {c["id"] for c in get_json(client, "/ogc/collections")["collections"]}
    feature_id = Feature.objects.filter(layer__slug="defibrylatory").values_list("id", flat=True)[0]
    # update() leaves updated_at alone: the registry stamp must notice the change anyway
    Layer.objects.filter(slug="defibrylatory").update(visibility="staff")

    ids = {c["id"] for c in get_json(client, "/ogc/collections")["collections"]}
    assert "defibrylatory" not in ids
    assert_ogc_error(client.get("/ogc/collections/defibrylatory"), 404)
    assert_ogc_error(client.get("/ogc/collections/defibrylatory/items"), 404)
    assert_ogc_error(client.get(f"/ogc/collections/defibrylatory/items/{feature_id}"), 404)
    # nor through another collection's item URL
    assert_ogc_error(client.get(f"/ogc/collections/biblioteki/items/{feature_id}"), 404)

    layer = Layer.objects.create(slug="nowa-warstwa", title_pl="Nowa warstwa",
                                 schema={"fields": [{"name": "nazwa", "type": "string"}]})
    Feature.objects.create(layer=layer, geom=Point(20.63, 50.87, srid=4326),
                           properties={"nazwa": "punkt"})
    Feature.objects.create(layer=layer, geom=MultiPoint(Point(20.6, 50.8), srid=4326),
                           properties={"nazwa": "drugi"})
    body = get_json(client, "/ogc/collections/nowa-warstwa/items?nazwa=punkt")
    assert body["numberMatched"] == 1
    assert body["features"][0]["properties"] == {"nazwa": "punkt"}


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_html_pages_follow_the_registry_and_the_audience_in_every_language(client, lang):
    """pygeoapi caches the config its HTML templates get, per language and for good: a layer
    created after the first page in a language made every later page of it a 500, and the first
    audience to ask (staff, who see staff-only layers) decided what everyone's templates got."""
    from django.contrib.auth.models import User

    staff = User.objects.create_user("ogc-html-staff", password="x", is_staff=True)
    Layer.objects.filter(slug="defibrylatory").update(visibility="staff")
    client.force_login(staff)
    assert client.get(f"/ogc/collections/defibrylatory?f=html&lang={lang}").status_code == 200
    client.logout()
    page = client.get(f"/ogc/collections?f=html&lang={lang}")
    assert page.status_code == 200 and b"defibrylatory" not in page.content
    assert client.get(f"/ogc/collections/biblioteki?f=html&lang={lang}").status_code == 200
    layer = Layer.objects.create(slug="po-pierwszej-stronie", title_pl="Po pierwszej stronie",
                                 schema={"fields": [{"name": "nazwa", "type": "string"}]})
    Feature.objects.create(layer=layer, geom=Point(20.63, 50.87, srid=4326),
                           properties={"nazwa": "punkt"})
    page = client.get(f"/ogc/collections/po-pierwszej-stronie?f=html&lang={lang}")
    assert page.status_code == 200 and b"Po pierwszej stronie" in page.content


# --- items -------------------------------------------------------------------------------------

@pytest.mark.parametrize("slug", ["granica-miasta", "okregi-wyborcze", "obwody-glosowania",
                                  "lokale-wyborcze", "biblioteki", "placowki-oswiatowe",
                                  "defibrylatory", "budzet-obywatelski"])
def test_number_matched_is_the_database_count(client, slug):
    body = get_json(client, f"/ogc/collections/{slug}/items?limit=1")
    assert body["numberMatched"] == Feature.objects.filter(layer__slug=slug).count()
    assert body["numberReturned"] == 1


def test_items_are_geojson_with_feature_ids(client):
    response = client.get("/ogc/collections/biblioteki/items")
    assert response["Content-Type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberReturned"] == 10  # the default page
    ids = set(Feature.objects.filter(layer__slug="biblioteki").values_list("id", flat=True))
    for feature in body["features"]:
        assert feature["id"] in ids
        assert feature["geometry"]["type"] == "Point"
        assert "NAZWA" in feature["properties"]


def test_paging_with_limit_offset_and_next_links_visits_every_feature_once(client):
    slug = "placowki-oswiatowe"
    expected = set(Feature.objects.filter(layer__slug=slug).values_list("id", flat=True))
    seen = []
    url = f"/ogc/collections/{slug}/items?limit=100"
    while url:
        body = get_json(client, url)
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if nxt:
            assert nxt[0].startswith("http://testserver/ogc/collections/")
            url = nxt[0].removeprefix("http://testserver")
        else:
            url = None
    assert len(seen) == len(expected) == len(set(seen))
    assert set(seen) == expected

    page = get_json(client, f"/ogc/collections/{slug}/items?limit=5&offset=7")
    assert [f["id"] for f in page["features"]] == sorted(expected)[7:12]


def test_bbox_returns_what_postgis_intersects(client):
    for slug in ("placowki-oswiatowe", "obwody-glosowania"):
        bbox = ",".join(map(str, KIELCE_BBOX))
        body = get_json(client, f"/ogc/collections/{slug}/items?bbox={bbox}&limit=10000")
        expected = bbox_count(slug, KIELCE_BBOX)
        assert 0 < expected < Feature.objects.filter(layer__slug=slug).count()
        assert body["numberMatched"] == body["numberReturned"] == expected


def test_property_filter_is_typed_and_select_properties_trims(client):
    body = get_json(client, "/ogc/collections/obwody-glosowania/items?OBWOD=5&properties=OBWOD,"
                            "NAZWA&skipGeometry=true")
    assert body["numberMatched"] == Feature.objects.filter(
        layer__slug="obwody-glosowania", properties__OBWOD=5).count() == 1
    feature = body["features"][0]
    assert set(feature["properties"]) == {"OBWOD", "NAZWA"}
    assert feature["geometry"] is None

    name = Feature.objects.filter(layer__slug="biblioteki").values_list(
        "properties__NAZWA", flat=True)[0]
    body = get_json(client, f"/ogc/collections/biblioteki/items?NAZWA={name}")
    assert [f["properties"]["NAZWA"] for f in body["features"]] == [name]


def test_sortby_orders_numbers_numerically(client):
    body = get_json(client, "/ogc/collections/obwody-glosowania/items?sortby=-OBWOD&limit=3")
    assert [f["properties"]["OBWOD"] for f in body["features"]] == [94, 93, 92]
    body = get_json(client, "/ogc/collections/obwody-glosowania/items?sortby=OBWOD&limit=3")
    assert [f["properties"]["OBWOD"] for f in body["features"]] == [1, 2, 3]


def test_results_hits_counts_without_features(client):
    body = get_json(client, "/ogc/collections/biblioteki/items?resulttype=hits")
    assert body["features"] == [] and body["numberMatched"] == 16


def test_single_item(client):
    feature = Feature.objects.filter(layer__slug="biblioteki").first()
    response = client.get(f"/ogc/collections/biblioteki/items/{feature.id}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    body = response.json()
    assert body["id"] == feature.id
    assert body["properties"] == feature.properties
    assert body["geometry"]["coordinates"] == pytest.approx(list(feature.geom.coords), abs=1e-7)


def test_queryables_and_schema_follow_the_layer_schema(client):
    response = client.get("/ogc/collections/granica-miasta/queryables")
    assert response.status_code == 200
    props = response.json()["properties"]
    assert props["report_order"]["type"] == "integer"
    assert props["area_epsg2180_m2"]["type"] == "number"
    assert props["multipart"]["type"] == "boolean"
    # the layer's (first) date field dates its features: `datetime` filters on it
    assert props["extracted_at_utc"] == {"title": "extracted_at_utc", "type": "string",
                                         "format": "date", "x-ogc-role": "primary-instant"}
    assert props["name"]["type"] == "string"
    assert props["id"]["x-ogc-role"] == "id"
    schema = get_json(client, "/ogc/collections/granica-miasta/schema")
    assert set(schema["properties"]) == set(props)


# --- bad input: a 4xx with an OGC exception, never a 500 ---------------------------------------

ITEMS = "/ogc/collections/biblioteki/items"


@pytest.mark.parametrize("query,status,message", [
    ("bbox=20.6,50.8,20.7", 400, "4 numbers"),
    ("bbox=20.6,50.8,20.7,95", 400, "latitude"),
    ("bbox=200,50.8,201,50.9", 400, "longitude"),
    ("bbox=20.7,50.8,20.6,50.9", 400, "minx"),
    ("bbox=20.6,50.9,20.7,50.8", 400, "miny"),
    ("bbox=a,b,c,d", 400, "numbers"),
    ("bbox=nan,50,21,51", 400, "finite"),
    ("limit=-1", 400, "between 1 and 10000"),
    ("limit=0", 400, "between 1 and 10000"),
    ("limit=1000000000", 400, "between 1 and 10000"),
    ("limit=ten", 400, "integer"),
    ("offset=-3", 400, "offset"),
    ("offset=99999999999999999999", 400, "offset"),
    ("f=xml", 400, "format"),
    ("crs=EPSG:9999", 400, "crs"),
    ("crs=http://www.opengis.net/def/crs/EPSG/0/32633", 400, "not offered"),
    ("bbox-crs=EPSG:2180", 400, "without bbox"),
    ("sortby=NAZWA;DROP TABLE layers_feature", 400, "sortby"),
    ("sortby=nosuchfield", 400, "sortby"),
    ("properties=nosuchfield", 400, "properties"),
    ("NAZWA'%20OR%201=1--=x", 400, "unknown query parameter"),
    ("nosuchfield=1", 400, "unknown query parameter"),
    ("ID=1%20OR%201=1", 400, "expected an integer"),
    ("filter=(((", 400, "CQL2"),
])
def test_bad_items_requests_are_explained(client, query, status, message):
    description = assert_ogc_error(client.get(f"{ITEMS}?{query}"), status)
    assert message.lower() in description.lower()


def test_sql_in_a_property_value_is_only_a_value(client):
    body = get_json(client, f"{ITEMS}?NAZWA=x'%20OR%20'1'='1")
    assert body["numberMatched"] == 0
    assert Feature.objects.filter(layer__slug="biblioteki").count() == 16


@pytest.mark.parametrize("url,status", [
    ("/ogc/collections/no-such-layer", 404),
    ("/ogc/collections/no-such-layer/items", 404),
    ("/ogc/collections/no-such-layer/items/1", 404),
    ("/ogc/collections/no-such-layer/queryables", 404),
    ("/ogc/collections/biblioteki/items/999999999", 404),
    ("/ogc/collections/biblioteki/items/abc", 404),
    ("/ogc/collections/biblioteki/items/-1", 404),
    ("/ogc/collections/biblioteki/items/99999999999999999999999999", 404),
    ("/ogc/collections/biblioteki/items/1'%20OR%20'1'='1", 404),
    ("/ogc/collections/biblioteki/nothing", 404),
    ("/ogc/processes", 404),
])
def test_unknown_things_are_404_in_ogc_format(client, url, status):
    assert_ogc_error(client.get(url), status)


def test_anonymous_writes_are_refused(client):
    response = client.post(ITEMS, data="{}", content_type="application/geo+json")
    assert_ogc_error(response, 401)
    assert response["WWW-Authenticate"] == "Token"
    assert Feature.objects.filter(layer__slug="biblioteki").count() == 16


# --- GDAL's OAPIF driver against the live server ------------------------------------------------

def ogrinfo(*args) -> str:
    result = subprocess.run(["ogrinfo", "-ro", *args], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr, result.stderr
    return result.stdout


def feature_counts(output: str) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in
            re.findall(r"Layer name: (\S+).*?Feature Count: (\d+)", output, re.S)}


def test_gdal_sees_every_public_layer_with_its_count(live_url):
    counts = feature_counts(ogrinfo("-so", "-al", f"OAPIF:{live_url}/ogc"))
    counts = {k: v for k, v in counts.items() if k not in plugged_in()}
    expected = {slug: Feature.objects.filter(layer__slug=slug).count() for slug in public_slugs()}
    # the catalogue (OGC API Records) is a collection too: one record per public layer
    expected["catalogue"] = len(expected)
    assert counts == expected


def test_gdal_pages_through_a_whole_layer(live_url):
    # Without -so GDAL reads every feature, 10 per request, following our `next` links.
    slug = "placowki-oswiatowe"
    out = ogrinfo("-al", "-geom=NO", f"OAPIF:{live_url}/ogc", slug)
    # our integer feature ids become GDAL's FIDs
    ids = [int(i) for i in re.findall(rf"^OGRFeature\({slug}\):(\d+)$", out, re.M)]
    expected = set(Feature.objects.filter(layer__slug=slug).values_list("id", flat=True))
    assert len(ids) == len(expected) and set(ids) == expected


@pytest.mark.parametrize("slug", ["placowki-oswiatowe", "obwody-glosowania"])
def test_gdal_spatial_filter_matches_postgis(live_url, slug):
    out = ogrinfo("-so", "-spat", *map(str, KIELCE_BBOX), f"OAPIF:{live_url}/ogc", slug)
    count = feature_counts(out)[slug]
    assert count == bbox_count(slug, KIELCE_BBOX)
    assert 0 < count < Feature.objects.filter(layer__slug=slug).count()


def test_next_links_point_at_the_host_and_port_the_client_used(live_url):
    import json
    import urllib.request

    with urllib.request.urlopen(f"{live_url}/ogc/collections/biblioteki/items?limit=5") as r:
        body = json.load(r)
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    parts = urlsplit(nxt)
    assert f"{parts.scheme}://{parts.netloc}" == live_url
    assert parse_qs(parts.query)["offset"] == ["5"]
