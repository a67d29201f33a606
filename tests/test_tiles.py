"""Vector tiles, TileJSON and indicator tiles over the real Kielce data."""

import json
import math
import re
import subprocess
import urllib.error
import urllib.request

import mapbox_vector_tile
import pytest
from django.contrib.gis.geos import Point, Polygon
from django.core.cache import cache
from django.db import connection
from rest_framework.authtoken.models import Token

from indicators.classify import class_of, legend
from indicators.models import Indicator, IndicatorValue
from layers.models import Feature, Layer
from tests.live_users import committed, live_user
from tests.servers import live_gunicorn
from tiles import queries
from tiles.params import TileCoord

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

MVT = "application/vnd.mapbox-vector-tile"
CENTRE = (20.63, 50.87)  # Kielce city centre, lon/lat
KIELCE = {"west": 20.5, "east": 20.73, "south": 50.79, "north": 50.92}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The standard slippy-map tile containing a point."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def tile_bbox(z: int, x: int, y: int, margin: float = 0.0) -> Polygon:
    """The tile's lon/lat rectangle, widened by `margin` tile widths on each side."""
    n = 2**z

    def lon(tx):
        return tx / n * 360 - 180

    def lat(ty):
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * ty / n))))

    return Polygon.from_bbox((lon(x - margin), lat(y + 1 + margin),
                              lon(x + 1 + margin), lat(y - margin)))


def get_tile(client, path: str, **headers):
    response = client.get(path, headers=headers)
    assert response.status_code in (200, 204, 304), (path, response.status_code,
                                                     response.content[:200])
    return response


def decode(response) -> dict:
    assert response.status_code == 200
    return mapbox_vector_tile.decode(response.content)


def ids(tile: dict, layer: str) -> set[int]:
    return {f["id"] for f in tile.get(layer, {"features": []})["features"]}


# --- layer tiles -----------------------------------------------------------------------------

def test_tile_slippy_formula_matches_the_known_centre_tile():
    assert tile_of(*CENTRE, 12) == (12, 2282, 1373)


def test_centre_tile_has_the_libraries_inside_it_with_their_properties(client):
    z, x, y = tile_of(*CENTRE, 12)
    response = get_tile(client, f"/tiles/biblioteki/{z}/{x}/{y}.pbf")
    assert response["Content-Type"] == MVT
    tile = decode(response)
    assert list(tile) == ["biblioteki"]
    assert tile["biblioteki"]["extent"] == 4096

    libraries = Feature.objects.filter(layer__slug="biblioteki")
    inside = set(libraries.filter(geom__within=tile_bbox(z, x, y)).values_list("id", flat=True))
    # The tile carries a 64/4096 buffer: features just outside may be drawn too, no others.
    near = set(libraries.filter(geom__within=tile_bbox(z, x, y, margin=64 / 4096))
               .values_list("id", flat=True))
    got = ids(tile, "biblioteki")
    assert len(inside) >= 5
    assert inside <= got <= near

    for f in tile["biblioteki"]["features"]:
        assert f["properties"]["NAZWA"]
        stored = Feature.objects.get(pk=f["id"]).properties
        assert f["properties"] == {k: v for k, v in stored.items() if v is not None}
        assert f["geometry"]["type"] == "Point"


def test_low_zoom_tile_has_all_five_districts(client):
    z, x, y = tile_of(*CENTRE, 8)
    tile = decode(get_tile(client, f"/tiles/okregi-wyborcze/{z}/{x}/{y}.pbf"))
    features = tile["okregi-wyborcze"]["features"]
    assert len(features) == 5
    assert ids(tile, "okregi-wyborcze") == set(
        Feature.objects.filter(layer__slug="okregi-wyborcze").values_list("id", flat=True))
    assert {f["geometry"]["type"] for f in features} <= {"Polygon", "MultiPolygon"}
    assert all(f["properties"]["NAZWA"].startswith("OKRĘG") for f in features)


def test_world_tile_is_served(client):
    response = get_tile(client, "/tiles/okregi-wyborcze/0/0/0.pbf")
    assert response.status_code in (200, 204)


def test_empty_tile_far_away_is_204_every_time(client):
    z, x, y = tile_of(-70.0, -30.0, 12)  # Chile
    for _ in range(2):  # the second answer comes from the cache
        response = get_tile(client, f"/tiles/biblioteki/{z}/{x}/{y}.pbf")
        assert response.status_code == 204
        assert response.content == b""
        assert response["ETag"]


def test_tile_cache_headers(client):
    z, x, y = tile_of(*CENTRE, 12)
    response = get_tile(client, f"/tiles/biblioteki/{z}/{x}/{y}.pbf")
    assert response["Cache-Control"] == "public, max-age=60"
    assert response["ETag"].startswith('"') and response["ETag"].endswith('"')
    assert response["Access-Control-Allow-Origin"] == "*"
    # Public tiles must stay shareable: no Vary on the session cookie.
    assert "Cookie" not in response.get("Vary", "")


def test_composite_tile_has_one_layer_per_slug_in_order(client):
    z, x, y = tile_of(*CENTRE, 12)
    tile = decode(get_tile(client, f"/tiles/biblioteki,okregi-wyborcze/{z}/{x}/{y}.pbf"))
    assert list(tile) == ["biblioteki", "okregi-wyborcze"]
    for slug in ("biblioteki", "okregi-wyborcze"):
        single = decode(get_tile(client, f"/tiles/{slug}/{z}/{x}/{y}.pbf"))
        assert ids(tile, slug) == ids(single, slug) != set()


def test_composite_tile_omits_layers_without_features_there(client):
    # A tile inside a district that has no library near it.
    libraries = Feature.objects.filter(layer__slug="biblioteki")
    for district in Feature.objects.filter(layer__slug="okregi-wyborcze"):
        z, x, y = tile_of(*district.geom.point_on_surface.coords, 14)
        if not libraries.filter(geom__intersects=tile_bbox(z, x, y, margin=0.1)).exists():
            tile = decode(get_tile(client, f"/tiles/okregi-wyborcze,biblioteki/{z}/{x}/{y}.pbf"))
            assert list(tile) == ["okregi-wyborcze"]
            return
    pytest.fail("no library-free edge tile found")


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("path,status,mentions", [
    ("/tiles/biblioteki/-1/0/0.pbf", 400, "z"),
    ("/tiles/biblioteki/23/0/0.pbf", 400, "between 0 and 22"),
    ("/tiles/biblioteki/12/4096/0.pbf", 400, "x must be between 0 and 4095"),
    ("/tiles/biblioteki/12/0/4096.pbf", 400, "y must be between 0 and 4095"),
    ("/tiles/biblioteki/12/0/-1.pbf", 400, "y"),
    ("/tiles/biblioteki/0/1/0.pbf", 400, "x must be between 0 and 0"),
    ("/tiles/biblioteki/abc/0/0.pbf", 400, "'abc'"),
    ("/tiles/biblioteki/12/1.5/0.pbf", 400, "'1.5'"),
    ("/tiles/biblioteki/12/0/abc.pbf", 400, "'abc'"),
    ("/tiles/biblioteki/99999999999999999999/0/0.pbf", 400, "z is out of range"),
    ("/tiles/biblioteki/0/99999999999999999999/0.pbf", 400, "x is out of range"),
    ("/tiles/biblioteki/0/0/00000000000000000001.pbf", 400, "y must be between 0 and 0"),
    ("/tiles/no-such-layer/12/0/0.pbf", 404, "'no-such-layer'"),
    ("/tiles/biblioteki,no-such-layer/12/0/0.pbf", 404, "'no-such-layer'"),
    ("/tiles/biblioteki,,okregi-wyborcze/12/0/0.pbf", 400, "empty layer name"),
    ("/tiles/biblioteki,biblioteki/12/0/0.pbf", 400, "twice"),
    ("/tiles/no-such-layer.json", 404, "'no-such-layer'"),
    ("/tiles/biblioteki,no-such-layer.json", 404, "'no-such-layer'"),
    ("/tiles/biblioteki/12/0.pbf", 404, "no tile endpoint"),
    ("/tiles/indicators/no-such-indicator/12/0/0.pbf", 404, "'no-such-indicator'"),
    ("/tiles/indicators/schools-per-km2/23/0/0.pbf", 400, "between 0 and 22"),
    ("/tiles/indicators/schools-per-km2/x/0/0.pbf", 400, "'x'"),
])
def test_bad_requests_get_a_json_message(client, path, status, mentions):
    response = client.get(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert mentions in response.json()["detail"]


def test_writes_are_refused(client):
    z, x, y = tile_of(*CENTRE, 12)
    assert client.post(f"/tiles/biblioteki/{z}/{x}/{y}.pbf").status_code == 405


# --- visibility ------------------------------------------------------------------------------

@pytest.fixture
def staff_libraries():
    layer = Layer.objects.get(slug="biblioteki")
    layer.visibility = Layer.Visibility.STAFF
    layer.save(update_fields=["visibility"])
    return layer


def test_staff_layer_is_invisible_to_anonymous_users(client, staff_libraries):
    z, x, y = tile_of(*CENTRE, 12)
    for path in (f"/tiles/biblioteki/{z}/{x}/{y}.pbf",
                 f"/tiles/okregi-wyborcze,biblioteki/{z}/{x}/{y}.pbf",
                 "/tiles/biblioteki.json"):
        response = client.get(path)
        assert response.status_code == 404
        # Exactly what an unknown layer gets: the layer's existence is not revealed.
        assert response.json() == {"detail": "unknown layer 'biblioteki'"}


def test_staff_layer_is_invisible_to_non_staff_users(client, django_user_model, staff_libraries):
    client.force_login(django_user_model.objects.create_user("resident", password="x" * 12))
    z, x, y = tile_of(*CENTRE, 12)
    assert client.get(f"/tiles/biblioteki/{z}/{x}/{y}.pbf").status_code == 404


def test_staff_layer_is_served_to_staff_privately(client, admin_user, staff_libraries):
    client.force_login(admin_user)
    z, x, y = tile_of(*CENTRE, 12)
    response = get_tile(client, f"/tiles/biblioteki/{z}/{x}/{y}.pbf")
    assert ids(decode(response), "biblioteki")
    assert response["Cache-Control"] == "private, max-age=60"
    assert "Cookie" in response["Vary"]
    assert "Access-Control-Allow-Origin" not in response
    assert client.get("/tiles/biblioteki.json").status_code == 200


def test_staff_layer_is_served_to_a_staff_token(client, admin_user, staff_libraries):
    token = Token.objects.create(user=admin_user)
    z, x, y = tile_of(*CENTRE, 12)
    path = f"/tiles/biblioteki/{z}/{x}/{y}.pbf"
    assert client.get(path, headers={"Authorization": f"Token {token.key}"}).status_code == 200
    assert client.get(path, headers={"Authorization": "Token wrong"}).status_code == 404


# --- caching ---------------------------------------------------------------------------------

def test_etag_answers_304(client):
    z, x, y = tile_of(*CENTRE, 12)
    path = f"/tiles/biblioteki/{z}/{x}/{y}.pbf"
    etag = get_tile(client, path)["ETag"]

    again = get_tile(client, path, if_none_match=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert again["Cache-Control"] == "public, max-age=60"
    assert get_tile(client, path, if_none_match=f'"other", W/{etag}').status_code == 304
    assert get_tile(client, path, if_none_match='"other"').status_code == 200
    # Another tile of the same layer has its own ETag.
    assert get_tile(client, f"/tiles/biblioteki/{z}/{x + 1}/{y}.pbf")["ETag"] != etag


def test_one_query_per_cached_tile_two_per_new_one(client, django_assert_num_queries):
    z, x, y = tile_of(*CENTRE, 12)
    path = f"/tiles/biblioteki,okregi-wyborcze/{z}/{x}/{y}.pbf"
    with django_assert_num_queries(2):  # the layers, then the tile
        first = get_tile(client, path)
    with django_assert_num_queries(1):  # the layers (their versions make the key)
        assert get_tile(client, path).content == first.content
    with django_assert_num_queries(1):
        assert get_tile(client, path, if_none_match=first["ETag"]).status_code == 304


def test_prepared_statements_per_connection_are_capped(client, monkeypatch):
    # One statement per pattern of layers asked for together; past the cap they are all
    # dropped and prepared again as needed, and every tile still comes out right.
    monkeypatch.setattr(queries, "_MAX_PREPARED", 2)
    z, x, y = tile_of(*CENTRE, 12)
    slugs = ["biblioteki", "obwody-glosowania", "okregi-wyborcze"]
    paths = [f"/tiles/{','.join(slugs[:n])}/{z}/{x}/{y}.pbf" for n in (1, 2, 3)]
    first = [get_tile(client, p).content for p in paths]
    assert all(first)
    cache.clear()
    assert [get_tile(client, p).content for p in reversed(paths)] == first[::-1]
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cur.fetchone()[0] <= 2


def test_tiles_come_from_the_cache_until_the_layer_version_changes(client):
    layer = Layer.objects.get(slug="biblioteki")
    z, x, y = tile_of(*CENTRE, 12)
    path = f"/tiles/biblioteki/{z}/{x}/{y}.pbf"
    before = get_tile(client, path)
    Feature.objects.filter(layer=layer).delete()  # an edit that forgets to bump the version
    assert get_tile(client, path).content == before.content
    layer.bump_version()
    assert get_tile(client, path).status_code == 204


def test_moving_a_feature_shows_in_the_next_tile(client):
    layer = Layer.objects.get(slug="biblioteki")
    z, x, y = tile_of(*CENTRE, 12)
    path = f"/tiles/biblioteki/{z}/{x}/{y}.pbf"
    first = get_tile(client, path)
    moved = Feature.objects.get(pk=sorted(ids(decode(first), "biblioteki"))[0])

    # Just outside the city, in a z=12 tile that has no library yet.
    target = Point(20.75, 50.95, srid=4326)
    tz, tx, ty = tile_of(target.x, target.y, 12)
    target_path = f"/tiles/biblioteki/{tz}/{tx}/{ty}.pbf"
    assert get_tile(client, target_path).status_code == 204
    Feature.objects.filter(pk=moved.pk).update(geom=target)
    layer.bump_version()

    second = get_tile(client, path, if_none_match=first["ETag"])
    assert second.status_code == 200  # the old ETag no longer matches
    assert second["ETag"] != first["ETag"]
    assert ids(decode(second), "biblioteki") == ids(decode(first), "biblioteki") - {moved.id}
    assert ids(decode(get_tile(client, target_path)), "biblioteki") == {moved.id}


# --- TileJSON --------------------------------------------------------------------------------

def test_tilejson_describes_the_layer(client):
    response = client.get("/tiles/biblioteki.json")
    assert response.status_code == 200
    doc = response.json()
    layer = Layer.objects.get(slug="biblioteki")
    assert doc["tilejson"] == "3.0.0"
    assert doc["name"] == layer.title_pl
    assert doc["description"] == layer.description_pl
    assert doc["attribution"] == layer.attribution != ""
    assert doc["tiles"] == ["http://testserver/tiles/biblioteki/{z}/{x}/{y}.pbf"]
    assert (doc["minzoom"], doc["maxzoom"]) == (0, 22)
    west, south, east, north = doc["bounds"]
    assert KIELCE["west"] <= west < east <= KIELCE["east"]
    assert KIELCE["south"] <= south < north <= KIELCE["north"]
    lon, lat, zoom = doc["center"]
    assert west <= lon <= east and south <= lat <= north and 0 <= zoom <= 22
    assert doc["vector_layers"][0]["id"] == "biblioteki"
    assert doc["vector_layers"][0]["fields"] == {f["name"]: f["type"] for f in layer.fields}
    assert doc["vector_layers"][0]["fields"]["NAZWA"] == "string"


def test_tilejson_tiles_url_serves_the_tiles(client):
    template = client.get("/tiles/biblioteki.json").json()["tiles"][0]
    z, x, y = tile_of(*CENTRE, 12)
    path = template.removeprefix("http://testserver").format(z=z, x=x, y=y)
    assert ids(decode(get_tile(client, path)), "biblioteki")


def test_composite_tilejson(client):
    doc = client.get("/tiles/biblioteki,okregi-wyborcze.json").json()
    assert doc["tiles"] == ["http://testserver/tiles/biblioteki,okregi-wyborcze/{z}/{x}/{y}.pbf"]
    assert [v["id"] for v in doc["vector_layers"]] == ["biblioteki", "okregi-wyborcze"]
    assert doc["vector_layers"][1]["fields"] == {"NAZWA": "string", "NR_OKR": "integer"}
    west, south, east, north = doc["bounds"]
    # The districts cover the city, so the union is their extent, wider than the libraries'.
    assert west < 20.52 and east > 20.71
    assert KIELCE["west"] <= west and east <= KIELCE["east"]
    assert KIELCE["south"] <= south and north <= KIELCE["north"]


def test_tilejson_bounds_follow_edits(client):
    layer = Layer.objects.get(slug="biblioteki")
    before = client.get("/tiles/biblioteki.json").json()["bounds"]
    feature = layer.features.first()
    Feature.objects.filter(pk=feature.pk).update(geom=Point(20.9, 50.95, srid=4326))
    layer.bump_version()
    after = client.get("/tiles/biblioteki.json").json()["bounds"]
    assert after != before and after[2] == pytest.approx(20.9) and after[3] == pytest.approx(50.95)


# --- indicator tiles -------------------------------------------------------------------------

@pytest.fixture
def districts():
    layer = Layer.objects.get(slug="okregi-wyborcze")
    return layer, list(layer.features.order_by("id"))


def make_indicator(districts, values, *, polarity="higher", period="2099", code="test-index"):
    layer, areas = districts
    indicator = Indicator.objects.create(code=code, name_pl="Wskaźnik testowy", method={},
                                         polarity=polarity, source="test source", classes=3)
    indicator.area_layers.add(layer)
    for area, value in zip(areas, values, strict=True):
        IndicatorValue.objects.create(indicator=indicator, area=area, period=period,
                                      source="test source", value=value)
    return indicator


def indicator_features(client, path) -> dict[int, dict]:
    tile = decode(get_tile(client, path))
    assert list(tile) == ["indicator"]
    return {f["id"]: f["properties"] for f in tile["indicator"]["features"]}


@pytest.mark.parametrize("polarity,best", [("higher", 40.0), ("lower", 10.0),
                                           ("neutral", 40.0)])
def test_indicator_tile_has_value_class_and_rank(client, districts, polarity, best):
    layer, areas = districts
    values = [10.0, 20.0, 30.0, 40.0, None]
    indicator = make_indicator(districts, values, polarity=polarity)
    z, x, y = tile_of(*CENTRE, 8)
    got = indicator_features(client, f"/tiles/indicators/{indicator.code}/{z}/{x}/{y}.pbf")
    assert set(got) == {a.id for a in areas}

    breaks = legend(indicator, layer, "2099")["breaks"]
    assert breaks
    for area, value in zip(areas, values, strict=True):
        props = got[area.id]
        assert props["id"] == area.id
        assert props["name"] == area.properties["NAZWA"]
        assert props["period"] == "2099"
        if value is None:
            # MVT has no null: a missing value is a missing property.
            assert "value" not in props and "class" not in props and "rank" not in props
        else:
            assert props["value"] == value
            assert props["class"] == class_of(value, breaks)
            assert props["source"] == "test source"
    ranks = {props["value"]: props["rank"] for props in got.values() if "value" in props}
    assert ranks[best] == 1
    assert sorted(ranks.values()) == [1, 2, 3, 4]


def test_indicator_ranks_share_ties_and_cover_the_whole_layer(client, districts):
    layer, areas = districts
    indicator = make_indicator(districts, [5.0, 5.0, 1.0, 9.0, 2.0], polarity="higher")
    # A tile with only part of the city still ranks against every district.
    z, x, y = tile_of(*areas[2].geom.point_on_surface.coords, 14)
    got = indicator_features(client, f"/tiles/indicators/{indicator.code}/{z}/{x}/{y}.pbf")
    assert 0 < len(got) < 5
    full = indicator_features(client, "/tiles/indicators/test-index/8/142/85.pbf")
    for fid, props in got.items():
        assert props["rank"] == full[fid]["rank"]
    assert sorted(p["rank"] for p in full.values()) == [1, 2, 2, 4, 5]


def test_indicator_class_sql_follows_the_breaks_given(districts):
    layer, areas = districts
    indicator = make_indicator(districts, [10.0, 20.0, 25.0, 99.0, None])
    tile = mapbox_vector_tile.decode(queries.indicator_tile(
        indicator_id=indicator.id, polarity="higher", preferred_source="test source",
        layer_id=layer.id, name_field=layer.name_field, period="2099", breaks=[15, 25, 50],
        tile=TileCoord(8, 142, 85)))
    classes = {f["id"]: f["properties"].get("class") for f in tile["indicator"]["features"]}
    # Upper bounds are inclusive; above the last bound is the last class; no value, no class.
    assert [classes[a.id] for a in areas] == [0, 1, 1, 2, None]


def test_indicator_tile_prefers_the_indicators_own_source(client, districts):
    layer, areas = districts
    indicator = make_indicator(districts, [1.0, 2.0, 3.0, 4.0, 5.0])
    IndicatorValue.objects.create(indicator=indicator, area=areas[0], period="2099",
                                  source="another survey", value=100.0)
    got = indicator_features(client, "/tiles/indicators/test-index/8/142/85.pbf")
    assert got[areas[0].id]["value"] == 1.0
    assert got[areas[0].id]["source"] == "test source"


def test_indicator_tile_defaults_to_the_latest_period(client, districts):
    layer, areas = districts
    indicator = make_indicator(districts, [1.0, 2.0, 3.0, 4.0, 5.0], period="2020")
    for area in areas:
        IndicatorValue.objects.create(indicator=indicator, area=area, period="2021",
                                      source="test source", value=7.0)
    base = "/tiles/indicators/test-index/8/142/85.pbf"
    assert {p["period"] for p in indicator_features(client, base).values()} == {"2021"}
    old = indicator_features(client, base + "?period=2020&areas=okregi-wyborcze")
    assert sorted(p["value"] for p in old.values()) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_indicator_tile_errors(client, districts):
    make_indicator(districts, [1.0, 2.0, 3.0, 4.0, 5.0])
    base = "/tiles/indicators/test-index/8/142/85.pbf"
    for query, mentions in [("?period=1990", "no values for period '1990'"),
                            ("?areas=biblioteki", "'biblioteki'"),
                            ("?areas=no-such-layer", "'no-such-layer'")]:
        response = client.get(base + query)
        assert response.status_code == 404
        assert mentions in response.json()["detail"]


def test_indicator_tile_follows_value_changes_and_area_edits(client, districts):
    layer, areas = districts
    indicator = make_indicator(districts, [1.0, 2.0, 3.0, 4.0, 5.0])
    path = "/tiles/indicators/test-index/8/142/85.pbf"
    first = get_tile(client, path)
    assert get_tile(client, path, if_none_match=first["ETag"]).status_code == 304

    # QuerySet.update() leaves computed_at alone; the tile must change all the same.
    IndicatorValue.objects.filter(indicator=indicator, area=areas[0]).update(value=50.0)
    second = get_tile(client, path, if_none_match=first["ETag"])
    assert second.status_code == 200
    assert indicator_features(client, path)[areas[0].id]["rank"] == 1

    IndicatorValue.objects.filter(indicator=indicator, area=areas[1]).delete()
    assert "value" not in indicator_features(client, path)[areas[1].id]

    layer.features.filter(pk=areas[2].pk).delete()
    layer.bump_version()
    assert areas[2].id not in indicator_features(client, path)


def test_indicator_tile_empty_far_away(client, districts):
    make_indicator(districts, [1.0, 2.0, 3.0, 4.0, 5.0])
    z, x, y = tile_of(-70.0, -30.0, 12)
    assert get_tile(client, f"/tiles/indicators/test-index/{z}/{x}/{y}.pbf").status_code == 204


def test_indicator_tile_carries_each_areas_status(client, districts):
    layer, areas = districts
    indicator = make_indicator(districts, [1.0, 2.0, 3.0, 4.0, None])
    IndicatorValue.objects.filter(indicator=indicator, area=areas[1]).update(status="stale")
    IndicatorValue.objects.filter(indicator=indicator, area=areas[2]).delete()
    got = indicator_features(client, "/tiles/indicators/test-index/8/142/85.pbf")
    assert [got[a.id]["status"] for a in areas] == ["ok", "stale", "missing", "ok", "missing"]
    # A status change alone changes the tile (it is part of the cache key).
    IndicatorValue.objects.filter(indicator=indicator, area=areas[0]).update(status="disputed")
    assert indicator_features(client, "/tiles/indicators/test-index/8/142/85.pbf")[
        areas[0].id]["status"] == "disputed"


@pytest.mark.parametrize("query", ["", "?areas=obwody-glosowania", "?areas=okregi-wyborcze"])
def test_indicator_waiting_for_data_has_tiles_of_areas_without_data(client, query):
    """An indicator whose input does not exist yet: every area is in its tiles with status
    `missing` and no value, class or rank, so any client draws "no data" (not a 404 per tile)."""
    got = indicator_features(client, f"/tiles/indicators/bike-racks-per-km2/8/142/85.pbf{query}")
    # The same areas as in the tile of an indicator with values (at z8 a precinct or two are
    # below a pixel and left out of both).
    same = indicator_features(client, f"/tiles/indicators/area-km2/8/142/85.pbf{query}")
    assert set(got) == set(same) and len(got) >= (90 if "obwody" in query else 5)
    for props in got.values():
        assert props["status"] == "missing" and props["name"]
        assert not {"value", "class", "rank", "period"} & set(props)


# --- indicator TileJSON ----------------------------------------------------------------------

def test_indicator_tilejson_describes_the_choropleth_tiles(client):
    response = client.get("/tiles/indicators/aed-coverage-500m.json",
                          {"areas": "obwody-glosowania"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    doc = response.json()
    indicator = Indicator.objects.get(code="aed-coverage-500m")
    period = max(indicator.values.values_list("period", flat=True))
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://testserver/tiles/indicators/aed-coverage-500m/{z}/{x}/{y}.pbf"
                            f"?areas=obwody-glosowania&period={period}"]
    assert indicator.name_pl in doc["name"] and doc["description"]
    assert "ODbL" in doc["attribution"] and "OpenStreetMap" in doc["attribution"]
    # The areas' geometry comes from the precincts layer: its source is credited too.
    assert Layer.objects.get(slug="obwody-glosowania").attribution.split(",")[0] \
        in doc["attribution"]
    assert (doc["minzoom"], doc["maxzoom"]) == (0, 22)
    west, south, east, north = doc["bounds"]
    assert KIELCE["west"] <= west < east <= KIELCE["east"]
    assert KIELCE["south"] <= south < north <= KIELCE["north"]
    lon, lat, zoom = doc["center"]
    assert west <= lon <= east and south <= lat <= north and 0 <= zoom <= 22
    [vector] = doc["vector_layers"]
    assert vector["id"] == "indicator"
    assert set(vector["fields"]) == {"id", "name", "value", "class", "rank", "period", "source",
                                     "status"}
    assert all(isinstance(v, str) and v for v in vector["fields"].values())
    # The tiles it names are served and hold the fields it announces.
    z, x, y = tile_of(*CENTRE, 12)
    path = doc["tiles"][0].removeprefix("http://testserver").format(z=z, x=x, y=y)
    tile = decode(get_tile(client, path))
    assert list(tile) == [vector["id"]]
    for feature in tile["indicator"]["features"]:
        assert set(feature["properties"]) <= set(vector["fields"])


def test_indicator_tilejson_defaults_and_a_waiting_indicator(client):
    default = client.get("/tiles/indicators/aed-coverage-500m.json").json()
    assert "?areas=okregi-wyborcze&period=" in default["tiles"][0]
    waiting = client.get("/tiles/indicators/bike-racks-per-km2.json").json()
    # No period to name: the tiles take whatever comes first once there are values.
    assert waiting["tiles"][0].endswith("/tiles/indicators/bike-racks-per-km2/{z}/{x}/{y}.pbf"
                                        "?areas=okregi-wyborcze")
    # Nothing to credit for data that do not exist; the areas' geometry is still credited.
    assert waiting["attribution"] == Layer.objects.get(slug="okregi-wyborcze").attribution
    z, x, y = tile_of(*CENTRE, 10)
    path = waiting["tiles"][0].removeprefix("http://testserver").format(z=z, x=x, y=y)
    assert {f["properties"]["status"] for f in decode(get_tile(client, path))[
        "indicator"]["features"]} == {"missing"}


def test_indicator_tilejson_escapes_markup_in_the_attribution(client):
    """TileJSON's attribution may be shown as HTML by map clients: what staff typed is text."""
    Layer.objects.filter(slug="okregi-wyborcze").update(
        attribution='<img src=x onerror="alert(1)"> UM & co')
    doc = client.get("/tiles/indicators/aed-coverage-500m.json").json()
    assert "<img" not in doc["attribution"]
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; UM &amp; co" in doc["attribution"]


@pytest.mark.parametrize("code", ["aed-coverage-500m", "bike-racks-per-km2"])
def test_gdal_reads_an_indicator_tileset_through_its_tilejson(live_url, code):
    """GDAL's MVT driver takes a tileset's metadata from the TileJSON (METADATA_FILE): the
    layer and its field types from `vector_layers`, the tiles to fetch from `bounds`. It forms
    the tile addresses itself (base/z/x/y.pbf, no query), so this reads the default areas
    layer and period."""
    base = f"{live_url}/tiles/indicators/{code}"
    result = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-geom=NO", "--debug", "on", f"MVT:{base}/10",
         "-oo", f"METADATA_FILE={base}.json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Layer name: indicator" in out
    doc = json.loads(urllib.request.urlopen(f"{base}.json").read())
    gdal_types = {"Number": "Real", "String": "String"}
    for name, kind in doc["vector_layers"][0]["fields"].items():
        assert re.search(rf"^{name}: {gdal_types[kind]} ", out, re.M), name
    # Over HTTP GDAL cannot list a tileset: the tiles it fetches come from the bounds (those
    # they cover at z10, and GDAL rounds outwards by up to a tile).
    west, south, east, north = doc["bounds"]
    _, x0, y0 = tile_of(west, north, 10)
    _, x1, y1 = tile_of(east, south, 10)
    fetched = {(int(x), int(y)) for x, y in re.findall(
        rf"Fetch\({re.escape(base)}/10/(\d+)/(\d+)\.pbf\)", result.stderr)}
    assert {(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)} <= fetched
    assert all(x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1 for x, y in fetched)
    features = {}
    for block in out.split("OGRFeature(indicator):")[1:]:
        props = dict(re.findall(r"^  (\w+) \(\w+\) = (.*)$", block, re.M))
        features[int(float(props["id"]))] = props
    districts = set(Layer.objects.get(slug="okregi-wyborcze").features.values_list("id",
                                                                                  flat=True))
    assert set(features) == districts
    api = {r["area_id"]: r for r in json.loads(urllib.request.urlopen(
        f"{live_url}/api/indicators/{code}/values/").read())}
    for area_id, row in api.items():
        assert features[area_id]["status"] == row["status"]
        if row["value"] is None:
            assert "value" not in features[area_id]
        else:
            assert float(features[area_id]["value"]) == pytest.approx(row["value"])


@pytest.mark.parametrize("path,query,message", [
    ("nope", {}, "unknown indicator 'nope'"),
    ("aed-coverage-500m", {"areas": "no-such-layer"}, "'no-such-layer'"),
    ("aed-coverage-500m", {"areas": "biblioteki"}, "'biblioteki'"),
    ("aed-coverage-500m", {"period": "1990"}, "no values for period '1990'"),
])
def test_indicator_tilejson_errors_are_404_with_a_message(client, path, query, message):
    response = client.get(f"/tiles/indicators/{path}.json", query)
    assert response.status_code == 404
    assert message in response.json()["detail"]


def test_indicator_tilejson_hides_staff_only_areas(client):
    Layer.objects.filter(slug="obwody-glosowania").update(visibility="staff")
    response = client.get("/tiles/indicators/aed-coverage-500m.json",
                          {"areas": "obwody-glosowania"})
    assert response.status_code == 404


# --- the production server -------------------------------------------------------------------

def test_gunicorn_serves_tiles(live_url):
    z, x, y = tile_of(*CENTRE, 12)
    with urllib.request.urlopen(f"{live_url}/tiles/biblioteki/{z}/{x}/{y}.pbf") as r:
        assert r.headers["Content-Type"] == MVT
        assert mapbox_vector_tile.decode(r.read())["biblioteki"]["features"]
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(f"{live_url}/tiles/biblioteki/99/0/0.pbf")
    assert bad.value.code == 400
    assert b"between 0 and 22" in bad.value.read()


def test_a_migration_changing_a_looked_up_column_does_not_break_running_servers(
        kielce, django_db_blocker):
    """The layer lookup is a statement prepared once per persistent connection; a migration
    that changes the type of a column it returns makes PostgreSQL refuse the old plan ("cached
    plan must not change result type"). A running server prepares it again instead of
    failing (the shared live server closes its connections after each request: not here)."""
    z, x, y = tile_of(*CENTRE, 12)

    def statuses(url, n=12):
        out = []
        for _ in range(n):  # enough to reach each worker thread's connection
            try:
                with urllib.request.urlopen(f"{url}/tiles/biblioteki/{z}/{x}/{y}.pbf") as r:
                    out.append(r.status)
            except urllib.error.HTTPError as e:
                out.append(e.code)
        return out

    with django_db_blocker.unblock(), live_gunicorn(
            "test-gunicorn-persistent.log", {"DB_CONN_MAX_AGE": "600"},
            workers=1, threads=2) as url, committed() as cur:
        assert set(statuses(url)) == {200}
        cur.execute("ALTER TABLE layers_layer ALTER COLUMN tile_maxzoom TYPE integer")
        try:
            assert set(statuses(url)) == {200}
        finally:
            cur.execute("ALTER TABLE layers_layer ALTER COLUMN tile_maxzoom TYPE smallint")
        assert set(statuses(url)) == {200}


def test_tiles_carry_their_length_on_both_paths_not_chunked(live_url):
    """Plain requests (the front door) and cross-origin ones (Django) alike: the length is
    sent, so HEAD tells the size and gunicorn does not chunk the body."""
    z, x, y = tile_of(*CENTRE, 13)
    path = f"{live_url}/tiles/okregi-wyborcze,biblioteki/{z}/{x}/{y}.pbf"
    sizes = set()
    for headers in ({}, {"Origin": "https://example.org"}):
        with urllib.request.urlopen(urllib.request.Request(path, headers=headers)) as r:
            body = r.read()
            assert r.headers["Content-Length"] == str(len(body))
            assert r.headers["Transfer-Encoding"] is None
            sizes.add(len(body))
        head = urllib.request.Request(path, headers=headers, method="HEAD")
        with urllib.request.urlopen(head) as r:
            assert r.read() == b""
            assert r.headers["Content-Length"] == str(len(body))
    assert len(sizes) == 1 and sizes.pop() > 0


def test_tiles_short_middleware_chain_keeps_headers_and_staff_access(live_url):
    """Tiles run through settings.TILES_MIDDLEWARE on the production server (sdi.wsgi): the
    request id, CORS and security headers stay, no cookie is set, and a staff-only layer is
    still 404 for anonymous callers and served to a staff token."""
    z, x, y = tile_of(*CENTRE, 12)
    path = f"{live_url}/tiles/biblioteki/{z}/{x}/{y}.pbf"
    request = urllib.request.Request(path, headers={"Origin": "https://example.org",
                                                    "X-Request-ID": "lean-chain-check-1"})
    with urllib.request.urlopen(request) as r:
        assert r.headers["X-Request-ID"] == "lean-chain-check-1"
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Set-Cookie"] is None
        assert r.headers["Cache-Control"] == "public, max-age=60"
        # the sign of the short chain: frame options are for pages, not tiles
        assert r.headers["X-Frame-Options"] is None

    with live_user("tiles-live-staff", staff=True, token=True) as user, committed() as cur:
        cur.execute("UPDATE layers_layer SET visibility = 'staff' WHERE slug = 'biblioteki'")
        try:
            with pytest.raises(urllib.error.HTTPError) as hidden:
                urllib.request.urlopen(path)
            assert hidden.value.code == 404
            staff = urllib.request.Request(path, headers={"Authorization": f"Token {user.token}"})
            with urllib.request.urlopen(staff) as r:
                assert mapbox_vector_tile.decode(r.read())["biblioteki"]["features"]
                assert r.headers["Cache-Control"].startswith("private")
        finally:
            cur.execute("UPDATE layers_layer SET visibility = 'public' WHERE slug = 'biblioteki'")
