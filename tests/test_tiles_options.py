"""Tile options over the real Kielce data: ?properties=, ?filter=, and their bad input."""

from urllib.parse import quote

import pytest
from django.core.cache import cache

from layers.models import Feature, Layer
from tests.test_tiles import CENTRE, decode, get_tile, ids, tile_of

pytestmark = pytest.mark.django_db

CITY_Z11 = "11/1141/686"  # one of the four z11 tiles over Kielce, holds most of the city


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def city_tiles(z: int):
    """Every tile at zoom z over Kielce's extent."""
    _, x0, y0 = tile_of(20.5, 50.92, z)
    _, x1, y1 = tile_of(20.73, 50.79, z)
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def all_features(client, slug: str, z: int = 11, query: str = "") -> dict[int, dict]:
    """Every feature of a layer over the city at zoom z: id -> properties (first seen)."""
    found = {}
    for tz, tx, ty in city_tiles(z):
        response = get_tile(client, f"/tiles/{slug}/{tz}/{tx}/{ty}.pbf{query}")
        if response.status_code == 200:
            for f in decode(response).get(slug, {"features": []})["features"]:
                found.setdefault(f["id"], f["properties"])
    return found


def stored(slug: str) -> dict[int, dict]:
    return dict(Feature.objects.filter(layer__slug=slug).values_list("id", "properties"))


# --- ?properties= ----------------------------------------------------------------------------

def test_properties_keeps_only_the_named_fields(client):
    full = all_features(client, "placowki-oswiatowe")
    some = all_features(client, "placowki-oswiatowe", query="?properties=name,ref:rspo")
    assert set(some) == set(full) == set(stored("placowki-oswiatowe"))
    db = stored("placowki-oswiatowe")
    for fid, props in some.items():
        expected = {k: v for k, v in db[fid].items() if k in ("name", "ref:rspo") and v is not None}
        assert props == expected
    assert any("ref:rspo" in p for p in some.values())


def test_empty_properties_gives_geometry_and_id_only(client):
    z, x, y = tile_of(*CENTRE, 12)
    tile = decode(get_tile(client, f"/tiles/biblioteki/{z}/{x}/{y}.pbf?properties="))
    features = tile["biblioteki"]["features"]
    assert features and all(f["properties"] == {} for f in features)
    assert ids(tile, "biblioteki") == ids(
        decode(get_tile(client, f"/tiles/biblioteki/{z}/{x}/{y}.pbf")), "biblioteki")


def test_properties_and_lean_tiles_are_smaller_and_cached_apart(client):
    path = f"/tiles/placowki-oswiatowe/{CITY_Z11}.pbf"
    full = get_tile(client, path)
    lean = get_tile(client, path + "?properties=name")
    assert lean["ETag"] != full["ETag"]
    assert len(lean.content) < len(full.content) / 3
    # The same selection written differently is the same tile.
    assert get_tile(client, path + "?properties=name,name")["ETag"] == lean["ETag"]
    both = get_tile(client, path + "?properties=ref:rspo,name")
    assert get_tile(client, path + "?properties=name,ref:rspo")["ETag"] == both["ETag"]


def test_properties_in_a_composite_apply_to_the_layers_that_have_them(client):
    z, x, y = tile_of(*CENTRE, 12)
    tile = decode(get_tile(client, f"/tiles/biblioteki,okregi-wyborcze/{z}/{x}/{y}.pbf"
                                   "?properties=NR_OKR"))
    assert {k for f in tile["okregi-wyborcze"]["features"] for k in f["properties"]} == {"NR_OKR"}
    assert all(f["properties"] == {} for f in tile["biblioteki"]["features"])


# --- ?filter= --------------------------------------------------------------------------------

@pytest.mark.parametrize("condition,check", [
    ("glosy>=1000", lambda p: p.get("glosy") is not None and p["glosy"] >= 1000),
    ("glosy<500", lambda p: p.get("glosy") is not None and p["glosy"] < 500),
    ("rok=2017", lambda p: p.get("rok") == 2017),
    ("rok!=2017", lambda p: p.get("rok") is not None and p["rok"] != 2017),
])
def test_filter_on_integers_matches_the_database(client, condition, check):
    db = stored("budzet-obywatelski")
    expected = {fid for fid, p in db.items() if check(p)}
    assert 0 < len(expected) < len(db)  # the condition really selects
    got = all_features(client, "budzet-obywatelski", query=f"?filter={condition}")
    assert set(got) == expected


def test_filter_on_a_string_with_polish_letters_and_spaces(client):
    db = stored("okregi-wyborcze")
    name = sorted(p["NAZWA"] for p in db.values())[2]
    got = all_features(client, "okregi-wyborcze", z=9, query="?filter=" + quote(f"NAZWA={name}"))
    assert {fid for fid in got} == {fid for fid, p in db.items() if p["NAZWA"] == name}
    assert len(got) == 1


def test_filters_combine_and_work_with_colons_in_field_names(client):
    db = stored("placowki-oswiatowe")
    ref = sorted(p["ref:rspo"] for p in db.values() if p.get("ref:rspo"))[len(db) // 2]
    expected = {fid for fid, p in db.items()
                if p.get("ref:rspo") is not None and p["ref:rspo"] > ref
                and p.get("addr:city") == "Kielce"}
    assert 0 < len(expected) < len(db)
    got = all_features(client, "placowki-oswiatowe",
                       query=f"?filter=ref:rspo>{ref}&filter=addr:city=Kielce&properties=name")
    assert set(got) == expected


def test_filter_on_dates(client):
    db = stored("defibrylatory")
    dates = sorted(p["osm_timestamp"] for p in db.values() if p.get("osm_timestamp"))
    middle = dates[len(dates) // 2][:10]
    expected = {fid for fid, p in db.items()
                if p.get("osm_timestamp") and p["osm_timestamp"] >= middle}
    assert 0 < len(expected) < len(db)
    got = all_features(client, "defibrylatory", query=f"?filter=osm_timestamp>={middle}")
    assert set(got) == expected


def test_filter_matching_nothing_gives_an_empty_tile(client):
    response = get_tile(client, f"/tiles/budzet-obywatelski/{CITY_Z11}.pbf?filter=rok=1850")
    assert response.status_code == 204


def test_filter_is_part_of_the_cache_key(client):
    path = f"/tiles/budzet-obywatelski/{CITY_Z11}.pbf"
    a = get_tile(client, path + "?filter=rok=2016")
    b = get_tile(client, path + "?filter=rok=2017")
    assert a["ETag"] != b["ETag"]
    assert not ids(decode(a), "budzet-obywatelski") & ids(decode(b), "budzet-obywatelski")
    # "=2016" and "= 2016" are the same condition.
    assert get_tile(client, path + "?filter=rok = 2016")["ETag"] == a["ETag"]


# --- bad input -------------------------------------------------------------------------------

BASE = f"/tiles/budzet-obywatelski/{CITY_Z11}.pbf"


@pytest.mark.parametrize("query,mentions", [
    ("?properties=nope", "properties: 'nope' is not a field of budzet-obywatelski"),
    ("?properties=glosy,nope", "'nope'"),
    ("?properties=glosy&properties=rok", "more than once"),
    ("?filter=nope=1", "filter: 'nope' is not a field of budzet-obywatelski"),
    ("?filter=glosy", "expected <field><operator><value>"),
    ("?filter==5", "expected <field><operator><value>"),
    ("?filter=glosy=abc", "filter on 'glosy': expected an integer, got 'abc'"),
    ("?filter=glosy=1.5", "expected an integer"),
    ("?filter=glosy>=99999999999999999999", "expected an integer"),
    ("?filter=rok~2016", "expected <field><operator><value>"),
    ("?" + "&".join(["filter=rok=1"] * 11), "at most 10 filter conditions"),
    ("?filter=nazwa=" + "x" * 201, "longer than 200 characters"),
])
def test_bad_options_get_a_400_naming_the_problem(client, query, mentions):
    response = client.get(BASE + query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert mentions in response.json()["detail"]


def test_bad_options_on_other_field_types(client):
    cases = [
        ("/tiles/defibrylatory/11/1141/686.pbf?filter=osm_timestamp>2020-13-01",
         "expected a date YYYY-MM-DD"),
        ("/tiles/okregi-wyborcze,biblioteki/11/1141/686.pbf?properties=OBWOD",
         "'OBWOD' is not a field of okregi-wyborcze, biblioteki"),
    ]
    for path, mentions in cases:
        response = client.get(path)
        assert response.status_code == 400, path
        assert mentions in response.json()["detail"]


def test_bad_options_on_a_staff_layer_are_a_404_for_the_public(client):
    layer = Layer.objects.get(slug="budzet-obywatelski")
    layer.visibility = Layer.Visibility.STAFF
    layer.save(update_fields=["visibility"])
    # The layer's fields must not leak either: unknown layer first.
    response = client.get(BASE + "?properties=nope")
    assert response.status_code == 404


def test_unrelated_query_parameters_are_ignored(client):
    plain = get_tile(client, BASE)
    assert get_tile(client, BASE + "?v=123")["ETag"] == plain["ETag"]


# --- TileJSON --------------------------------------------------------------------------------

def test_tilejson_carries_the_options_into_the_tile_url(client):
    doc = client.get("/tiles/budzet-obywatelski.json?properties=glosy&filter=rok=2017").json()
    template = doc["tiles"][0]
    assert template.endswith("{z}/{x}/{y}.pbf?properties=glosy&filter=rok%3D2017")
    assert doc["vector_layers"][0]["fields"] == {"glosy": "integer"}
    z, x, y = CITY_Z11.split("/")
    path = template.removeprefix("http://testserver").replace("{z}", z).replace(
        "{x}", x).replace("{y}", y)
    got = decode(get_tile(client, path))["budzet-obywatelski"]["features"]
    assert got and all(set(f["properties"]) <= {"glosy"} for f in got)
    rok = {fid: p.get("rok") for fid, p in stored("budzet-obywatelski").items()}
    assert {rok[f["id"]] for f in got} == {2017}


def test_tilejson_refuses_bad_options(client):
    response = client.get("/tiles/budzet-obywatelski.json?filter=nope=1")
    assert response.status_code == 400
    assert "'nope'" in response.json()["detail"]
