"""OGC API Features Parts 1-3 in depth: CRS by reference (axis order!), CQL2 text and JSON over
JSONB properties, datetime, counts and paging, and bad input. Expected results come from
PostGIS / pyproj computed independently of the API code."""

import json
from urllib.parse import quote

import pyproj
import pytest
from django.core.cache import cache
from django.db import connection

from layers.models import Feature, Layer
from ogc import provider as ogc_provider

pytestmark = pytest.mark.django_db

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


def get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.content[:400])
    return response


def items(client, slug, query):
    return get(client, f"/ogc/collections/{slug}/items?{query}").json()


def ids(body):
    return sorted(f["id"] for f in body["features"])


def sql_ids(slug, where="TRUE", params=()):
    with connection.cursor() as cur:
        cur.execute(f"""SELECT f.id FROM layers_feature f JOIN layers_layer l ON l.id = f.layer_id
                        WHERE l.slug = %s AND ({where}) ORDER BY f.id""", [slug, *params])
        return [r[0] for r in cur.fetchall()]


def error(client, url, status=400, **extra):
    response = client.get(url, **extra)
    assert response.status_code == status, (url, response.content[:400])
    body = response.json()
    assert body["code"] and body["description"], body
    return body["description"]


# --- Part 2: CRS ------------------------------------------------------------------------------

def first_library(client, crs):
    url = f"/ogc/collections/biblioteki/items?limit=1&sortby=id&crs={quote(crs, safe='')}"
    response = get(client, url)
    assert response["Content-Crs"] == f"<{crs}>"
    return response.json()["features"][0]


@pytest.mark.parametrize("code", [4326, 3857, 2180, 2178])
def test_crs_output_follows_the_crs_axis_order(client, code):
    lon, lat = first_library(client, CRS84)["geometry"]["coordinates"]
    got = first_library(client, EPSG.format(code))["geometry"]["coordinates"]
    # pyproj with the authority's axis order (always_xy=False) is the reference: lat/lon for
    # EPSG:4326, northing/easting for the Polish grids, easting/northing for Web Mercator.
    expected = pyproj.Transformer.from_crs("OGC:CRS84", f"EPSG:{code}").transform(lon, lat)
    tolerance = 1e-6 if code == 4326 else 0.05
    assert got == pytest.approx(list(expected), abs=tolerance)
    if code == 4326:
        assert got == pytest.approx([lat, lon], abs=1e-7)  # the classic trap
    if code in (2180, 2178):  # northing first, easting second
        easting, northing = pyproj.Transformer.from_crs(
            "OGC:CRS84", f"EPSG:{code}", always_xy=True).transform(lon, lat)
        assert got == pytest.approx([northing, easting], abs=0.05)


def test_collections_list_their_crs(client):
    body = get(client, "/ogc/collections/biblioteki").json()
    assert body["storageCrs"] == CRS84
    assert set(body["crs"]) == {CRS84, *(EPSG.format(c) for c in (4326, 3857, 2180, 2178))}


def test_single_item_in_another_crs_and_its_etag(client):
    feature = Feature.objects.filter(layer__slug="biblioteki").order_by("id").first()
    response = get(client, f"/ogc/collections/biblioteki/items/{feature.id}?crs=EPSG:2180")
    assert response["Content-Crs"] == f"<{EPSG.format(2180)}>"
    x, y = feature.geom.transform(2180, clone=True).coords  # GEOS: easting, northing
    assert response.json()["geometry"]["coordinates"] == pytest.approx([y, x], abs=0.05)
    assert response["ETag"] == f'"{feature.id}-{feature.version}"'


@pytest.mark.parametrize("slug", ["placowki-oswiatowe", "obwody-glosowania"])
def test_bbox_crs_epsg_4326_is_lat_lon_and_2180_is_northing_easting(client, slug):
    box = (20.60, 50.85, 20.65, 50.88)  # lon/lat
    expected = sql_ids(slug, "ST_Intersects(f.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
                       box)
    assert expected
    lat_lon = f"{box[1]},{box[0]},{box[3]},{box[2]}"
    body = items(client, slug, f"bbox={lat_lon}&bbox-crs=EPSG:4326&limit=1000")
    assert ids(body) == expected

    # The same area as a box in EPSG:2180, compared with PostGIS's own reprojection of it.
    to_2180 = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:2180")
    n1, e1 = to_2180.transform(box[0], box[1])
    n2, e2 = to_2180.transform(box[2], box[3])
    expected_2180 = sql_ids(slug, "ST_Intersects(ST_Transform(f.geom, 2180), "
                                  "ST_MakeEnvelope(%s, %s, %s, %s, 2180))", (e1, n1, e2, n2))
    body = items(client, slug, f"bbox={n1},{e1},{n2},{e2}&bbox-crs={EPSG.format(2180)}"
                               f"&limit=1000")
    assert ids(body) == expected_2180


def test_bbox_in_lon_lat_order_given_as_epsg_4326_is_refused(client):
    # Under EPSG:4326 the first axis is latitude: 95 is out of range there (it would be a
    # fine longitude in CRS84).
    assert items(client, "biblioteki", "bbox=95,20,96,21")["numberMatched"] == 0
    message = error(client, "/ogc/collections/biblioteki/items?bbox=95,20,96,21"
                            "&bbox-crs=EPSG:4326")
    assert "latitude" in message


# --- Part 3: CQL2 -----------------------------------------------------------------------------

CQL_TEXT_CASES = [
    ("obwody-glosowania", "OBWOD BETWEEN 10 AND 20",
     "(f.properties->>'OBWOD')::int BETWEEN 10 AND 20"),
    ("obwody-glosowania", "OBWOD IN (1, 5, 94) OR OBWOD = 7",
     "(f.properties->>'OBWOD')::int IN (1, 5, 7, 94)"),
    ("obwody-glosowania", "OBWOD < 5 AND NOT (OBWOD = 2)",
     "(f.properties->>'OBWOD')::int < 5 AND (f.properties->>'OBWOD')::int <> 2"),
    ("obwody-glosowania", "OBWOD > 90 OR OBWOD < 3 AND OBWOD <> 1",  # AND binds tighter
     "(f.properties->>'OBWOD')::int > 90 OR (f.properties->>'OBWOD')::int = 2"),
    ("biblioteki", "NAZWA LIKE 'Biblioteka - Filia%'",
     "f.properties->>'NAZWA' LIKE 'Biblioteka - Filia%%'"),
    ("biblioteki", "CASEI(NAZWA) LIKE CASEI('%filia nr 1%')",
     "f.properties->>'NAZWA' ILIKE '%%filia nr 1%%'"),
    ("biblioteki", "NAZWA NOT LIKE 'Biblioteka%'",
     "f.properties->>'NAZWA' NOT LIKE 'Biblioteka%%'"),
    ("placowki-oswiatowe", "\"ref:rspo\" > 30000",  # a property name with a colon
     "(f.properties->>'ref:rspo')::int > 30000"),
    ("placowki-oswiatowe", "\"isced:level\" IS NULL",
     "NOT (f.properties ? 'isced:level') OR f.properties->'isced:level' = 'null'::jsonb"),
    ("defibrylatory", "osm_timestamp > DATE('2022-01-01')",
     "f.properties->>'osm_timestamp' > '2022-01-01'"),
    ("defibrylatory", "T_AFTER(osm_timestamp, DATE('2022-01-01'))",
     "f.properties->>'osm_timestamp' > '2022-01-01'"),
    ("defibrylatory", "T_BEFORE(osm_timestamp, TIMESTAMP('2021-06-01T10:00:00Z'))",
     "f.properties->>'osm_timestamp' < '2021-06-01'"),
    ("defibrylatory", "T_INTERSECTS(osm_timestamp, INTERVAL('2020-01-01', '2022-12-31'))",
     "f.properties->>'osm_timestamp' BETWEEN '2020-01-01' AND '2022-12-31'"),
    ("defibrylatory", "T_DURING(osm_timestamp, INTERVAL('2021-01-01', '..'))",
     "f.properties->>'osm_timestamp' > '2021-01-01'"),
    ("lokale-wyborcze", "S_INTERSECTS(geometry, POLYGON((20.60 50.85, 20.65 50.85, "
                        "20.65 50.88, 20.60 50.88, 20.60 50.85)))",
     "ST_Intersects(f.geom, ST_MakeEnvelope(20.60, 50.85, 20.65, 50.88, 4326))"),
    ("lokale-wyborcze", "S_WITHIN(geometry, BBOX(20.60, 50.85, 20.65, 50.88))",
     "ST_Within(f.geom, ST_MakeEnvelope(20.60, 50.85, 20.65, 50.88, 4326))"),
    ("obwody-glosowania", "S_CONTAINS(geometry, POINT(20.6286 50.8536))",
     "ST_Contains(f.geom, ST_SetSRID(ST_MakePoint(20.6286, 50.8536), 4326))"),
    ("lokale-wyborcze", "S_DWITHIN(geometry, POINT(20.6286 50.8536), 800, meters)",
     "ST_DWithin(f.geom::geography, ST_MakePoint(20.6286, 50.8536)::geography, 800)"),
    ("obwody-glosowania", "S_INTERSECTS(geometry, LINESTRING(20.55 50.87, 20.70 50.87)) AND "
                          "OBWOD >= 50",
     "ST_Intersects(f.geom, ST_GeomFromText('LINESTRING(20.55 50.87, 20.70 50.87)', 4326)) "
     "AND (f.properties->>'OBWOD')::int >= 50"),
]


@pytest.mark.parametrize("slug,cql,where", CQL_TEXT_CASES)
def test_cql2_text_selects_what_sql_selects(client, slug, cql, where):
    expected = sql_ids(slug, where)
    body = items(client, slug, f"filter={quote(cql)}&filter-lang=cql2-text&limit=1000")
    assert ids(body) == expected
    assert body["numberMatched"] == len(expected)


def test_cql2_filters_are_not_trivial(client):
    # each case above selects some but not all of its layer, so it tests something
    for slug, _, where in CQL_TEXT_CASES:
        n = len(sql_ids(slug, where))
        assert 0 < n < Feature.objects.filter(layer__slug=slug).count(), where


CQL_JSON_CASES = [
    ("obwody-glosowania", {"op": "between", "args": [{"property": "OBWOD"}, [10, 20]]},
     "(f.properties->>'OBWOD')::int BETWEEN 10 AND 20"),
    ("obwody-glosowania", {"op": "in", "args": [{"property": "OBWOD"}, [1, 5, 94]]},
     "(f.properties->>'OBWOD')::int IN (1, 5, 94)"),
    ("biblioteki", {"op": "like", "args": [{"property": "NAZWA"}, "Biblioteka - Filia%"]},
     "f.properties->>'NAZWA' LIKE 'Biblioteka - Filia%%'"),
    ("lokale-wyborcze", {"op": "s_intersects", "args": [{"property": "geometry"},
                                                        {"bbox": [20.60, 50.85, 20.65, 50.88]}]},
     "ST_Intersects(f.geom, ST_MakeEnvelope(20.60, 50.85, 20.65, 50.88, 4326))"),
    ("lokale-wyborcze", {"op": "s_dwithin", "args": [
        {"property": "geometry"}, {"type": "Point", "coordinates": [20.6286, 50.8536]}, 800]},
     "ST_DWithin(f.geom::geography, ST_MakePoint(20.6286, 50.8536)::geography, 800)"),
    ("defibrylatory", {"op": "t_intersects", "args": [
        {"property": "osm_timestamp"}, {"interval": ["2020-01-01", "2022-12-31"]}]},
     "f.properties->>'osm_timestamp' BETWEEN '2020-01-01' AND '2022-12-31'"),
    ("obwody-glosowania", {"op": "and", "args": [
        {"op": ">=", "args": [{"property": "OBWOD"}, 50]},
        {"op": "not", "args": [{"op": "=", "args": [{"property": "OBWOD"}, 60]}]}]},
     "(f.properties->>'OBWOD')::int >= 50 AND (f.properties->>'OBWOD')::int <> 60"),
]


@pytest.mark.parametrize("slug,document,where", CQL_JSON_CASES)
def test_cql2_json_in_get_and_post_selects_what_sql_selects(client, slug, document, where):
    expected = sql_ids(slug, where)
    assert expected
    text = quote(json.dumps(document))
    body = items(client, slug, f"filter={text}&filter-lang=cql2-json&limit=1000")
    assert ids(body) == expected
    response = client.post(f"/ogc/collections/{slug}/items?limit=1000",
                           data=json.dumps(document), content_type="application/query-cql-json")
    assert response.status_code == 200, response.content[:300]
    assert ids(response.json()) == expected


def test_filter_crs_epsg_4326_reads_lat_lon_and_2180_reads_northing_easting(client):
    slug = "obwody-glosowania"
    expected = sql_ids(slug, "ST_Contains(f.geom, ST_SetSRID(ST_MakePoint(20.6286, 50.8536), "
                             "4326))")
    assert len(expected) == 1
    body = items(client, slug, "filter=" + quote("S_CONTAINS(geometry, POINT(50.8536 20.6286))")
                 + "&filter-crs=" + quote(EPSG.format(4326), safe=""))
    assert ids(body) == expected
    northing, easting = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:2180").transform(
        20.6286, 50.8536)
    body = items(client, slug, "filter=" + quote(f"S_CONTAINS(geometry, POINT({northing} "
                                                 f"{easting}))") + "&filter-crs=EPSG:2180")
    assert ids(body) == expected


def test_datetime_selects_on_the_layer_date_field(client):
    slug = "defibrylatory"
    day = "f.properties->>'osm_timestamp'"
    cases = {
        "2021-01-01/2022-12-31": f"{day} BETWEEN '2021-01-01' AND '2022-12-31'",
        "../2020-12-31": f"{day} <= '2020-12-31'",
        "2023-01-01/..": f"{day} >= '2023-01-01'",
        "2022-03-01T00:00:00Z/2022-12-31T23:00:00Z":
            f"{day} BETWEEN '2022-03-01' AND '2022-12-31'",
    }
    for value, where in cases.items():
        expected = sql_ids(slug, where)
        assert ids(items(client, slug, f"datetime={quote(value)}&limit=100")) == expected, value
    some_day = sql_ids(slug, f"{day} IS NOT NULL")[0]
    date = Feature.objects.get(pk=some_day).properties["osm_timestamp"]
    assert some_day in ids(items(client, slug, f"datetime={date}&limit=100"))
    # far outside the temporal extent: no features, not an error (pygeoapi would say 400)
    assert items(client, slug, "datetime=1900-01-01")["numberMatched"] == 0


def test_temporal_extent_spans_the_date_field(client):
    body = get(client, "/ogc/collections/defibrylatory").json()
    with connection.cursor() as cur:
        cur.execute("""SELECT min(f.properties->>'osm_timestamp'),
                              max(f.properties->>'osm_timestamp')
                       FROM layers_feature f JOIN layers_layer l ON l.id = f.layer_id
                       WHERE l.slug = 'defibrylatory'""")
        first, last = cur.fetchone()
    begin, end = body["extent"]["temporal"]["interval"][0]
    assert begin.startswith(first) and end.startswith(last)
    # a layer without a date field has no temporal extent
    assert "temporal" not in get(client, "/ogc/collections/biblioteki").json()["extent"]


def test_filter_combines_with_bbox_properties_and_paging(client):
    slug = "obwody-glosowania"
    where = ("(f.properties->>'OBWOD')::int > 20 AND ST_Intersects(f.geom, "
             "ST_MakeEnvelope(20.60, 50.85, 20.65, 50.88, 4326))")
    expected = sql_ids(slug, where)
    assert len(expected) > 6
    seen, url = [], (f"/ogc/collections/{slug}/items?filter={quote('OBWOD > 20')}"
                     f"&bbox=20.60,50.85,20.65,50.88&limit=3&sortby=id")
    while url:
        body = get(client, url).json()
        assert body["numberMatched"] == len(expected)
        seen += [f["id"] for f in body["features"]]
        links = {link["rel"]: link["href"] for link in body["links"]}
        url = links.get("next", "").removeprefix("http://testserver") or None
        if seen != expected[:3]:
            assert "prev" in links
    assert seen == expected


# --- counts ------------------------------------------------------------------------------------

def test_counts_are_cached_per_layer_version_and_say_so(client):
    cache.clear()
    first = items(client, "biblioteki", "limit=1&filter=" + quote("ID > 3"))
    again = items(client, "biblioteki", "limit=1&offset=1&filter=" + quote("ID > 3"))
    assert first["numberMatchedMethod"] == "counted"
    assert again["numberMatchedMethod"] == "cached"
    assert first["numberMatched"] == again["numberMatched"] == len(
        sql_ids("biblioteki", "(f.properties->>'ID')::int > 3"))
    # a new layer version (any edit) is counted afresh
    Layer.objects.filter(slug="biblioteki").update(version=9999)
    assert items(client, "biblioteki", "limit=1&filter=" + quote("ID > 3"))[
        "numberMatchedMethod"] == "counted"


def test_broad_filters_on_large_results_give_an_estimate_and_exact_next_links(client,
                                                                               monkeypatch):
    # The cap is lowered so the real layers stand in for a large one.
    monkeypatch.setattr(ogc_provider, "COUNT_CAP", 50)
    cache.clear()
    body = items(client, "placowki-oswiatowe", "limit=10&q=a")
    exact = len(sql_ids("placowki-oswiatowe", "EXISTS (SELECT 1 FROM jsonb_each_text("
                                              "f.properties) p WHERE p.value ILIKE '%%a%%')"))
    assert exact > 50
    assert body["numberMatchedMethod"] == "estimated"
    assert "numberMatched" not in body and body["numberMatchedEstimate"] > 50
    assert any(link["rel"] == "next" for link in body["links"])
    # the whole layer is always counted exactly (once per version)
    body = items(client, "placowki-oswiatowe", "limit=1")
    assert body["numberMatched"] == Feature.objects.filter(layer__slug="placowki-oswiatowe").count()


def test_last_page_has_no_next_link_even_when_full(client):
    n = Feature.objects.filter(layer__slug="biblioteki").count()
    body = items(client, "biblioteki", f"limit={n}")
    assert body["numberReturned"] == n
    assert not any(link["rel"] == "next" for link in body["links"])


@pytest.mark.parametrize("query,matched", [
    ("offset=1000&limit=5", 16),
    ("offset=16&limit=5", 16),
    ("offset=3&filter=" + quote("ID > 14"), None),
])
def test_offset_beyond_the_end_is_a_400_naming_the_last_offset(client, query, matched):
    if matched is None:
        matched = len(sql_ids("biblioteki", "(f.properties->>'ID')::int > 14"))
    body = get(client, f"/ogc/collections/biblioteki/items?{query}", 400).json()
    assert body["code"] == "InvalidParameterValue"
    assert f"{matched} features match" in body["description"]
    assert f"offsets 0 to {matched - 1}" in body["description"]


def test_the_last_page_by_offset_is_still_served(client):
    n = Feature.objects.filter(layer__slug="biblioteki").count()
    body = items(client, "biblioteki", f"offset={n - 1}&limit=5")
    assert body["numberReturned"] == 1
    # a hit count never fails on the offset: it returns no features by definition
    assert items(client, "biblioteki", f"offset={n + 5}&resulttype=hits")["numberMatched"] == n


def test_offset_beyond_the_catalogue_is_a_400(client):
    n = get(client, "/ogc/collections/catalogue/items?resulttype=hits").json()["numberMatched"]
    body = get(client, f"/ogc/collections/catalogue/items?offset={n}", 400).json()
    assert f"{n} records match" in body["description"]


# --- bad input ---------------------------------------------------------------------------------

ITEMS = "/ogc/collections/obwody-glosowania/items"


@pytest.mark.parametrize("query,message", [
    ("filter=" + quote("OBWOD = "), "syntax error"),
    ("filter=" + quote("OBWOD = 'x'"), "'OBWOD' is an integer"),
    ("filter=" + quote("NAZWA > 5"), "'NAZWA' is a string"),
    ("filter=" + quote("nosuch = 1"), "unknown property 'nosuch'"),
    ("filter=" + quote("NAZWA LIKE 5"), "LIKE needs a string"),
    ("filter=" + quote("OBWOD LIKE 'a%'"), "LIKE applies to strings"),
    ("filter=" + quote("S_INTERSECTS(OBWOD, POINT(1 2))"), "apply to the geometry"),
    ("filter=" + quote("S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))"),
     "invalid"),
    ("filter=" + quote("S_INTERSECTS(geometry, POINT(200 95))"), "outside"),
    ("filter=" + quote("S_DWITHIN(geometry, POINT(20 50), 10, parsecs)"), "unit"),
    ("filter=" + quote("T_AFTER(OBWOD, DATE('2020-01-01'))"), "date properties"),
    ("filter=" + quote("OBWOD + 1 > 3"), "arithmetic"),
    ("filter=" + quote("OBWOD = OKREG"), "two properties"),
    ("filter=" + quote("1 = 1"), "property"),
    ("filter=" + quote("OBWOD = 1; DROP TABLE layers_feature"), "syntax"),
    ("filter=" + quote("NAZWA = 'x' --") + "&filter-lang=cql2-text", "syntax"),
    ("filter=" + quote("NAZWA = 'x' OR 1=1"), "needs a property"),
    ("filter=" + quote('{"op": "=", "args": [{"property": "OBWOD"}]}') + "&filter-lang=cql2-json",
     "CQL2 JSON"),
    ("filter=" + quote('{"op": "=", "args": [{"property": "OBWOD"}, ') +
     "&filter-lang=cql2-json", "not valid JSON"),
    ("filter=" + quote('{"op": "s_intersects", "args": [{"property": "geometry"}, '
                       '{"type": "Polygon", "coordinates": [[1, 2]]}]}') +
     "&filter-lang=cql2-json", "geometry"),
    ("filter=OBWOD=1&filter-lang=cql4", "filter-lang"),
    ("filter=OBWOD=1&filter-crs=EPSG:1234", "filter-crs"),
    ("filter-crs=EPSG:2180", "without filter"),
    ("filter=", "empty"),
    ("filter=" + quote("NOT (" * 100 + "OBWOD = 1" + ")" * 100), "deeper"),
    ("datetime=yesterday", "datetime"),
    ("datetime=2022-13-01", "datetime"),
    ("datetime=2023-01-01/2022-01-01", "starts after"),
    ("datetime=../..", "at least one end"),
    ("crs=EPSG:4326'%20OR%201=1", "not offered"),
    ("bbox=1,2,3,4&bbox-crs=EPSG:3857;DROP", "not offered"),
    ("limit=10001", "between 1 and 10000"),
    ("resulttype=everything", "resulttype"),
    ("skipGeometry=maybe", "skipGeometry"),
    ("properties=OBWOD,nosuch", "unknown nosuch"),
    ("sortby=-nosuch", "sortby"),
    ("OBWOD=abc", "expected an integer"),
])
def test_bad_queries_are_400_with_the_reason(client, query, message):
    description = error(client, f"{ITEMS}?{query}")
    assert message.lower() in description.lower(), description
    assert Feature.objects.filter(layer__slug="obwody-glosowania").count() == 94


def test_html_error_for_html_clients(client):
    response = client.get(f"{ITEMS}?f=html&filter=" + quote("OBWOD ="))
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_sql_in_cql2_strings_is_only_a_value(client):
    body = items(client, "biblioteki",
                 "filter=" + quote("NAZWA = 'x'' OR ''1''=''1' OR NAZWA LIKE '%'' --'"))
    assert body["numberMatched"] == 0
    assert Feature.objects.filter(layer__slug="biblioteki").count() == 16
