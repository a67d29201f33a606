"""The catalogue (OGC API Records at /ogc/collections/catalogue, DCAT-AP at /ogc/dcat), OGC API
Tiles documents pointing at /tiles/, the hook for collections of other apps, and the config
following the registry in every live worker."""

import json
import math
import time
import urllib.request
from urllib.parse import quote

import pytest
from django.db.models import Q
from rdflib import RDF, Graph, URIRef

from layers.models import Layer
from ogc import config as ogc_config
from tests.live_users import committed

pytestmark = pytest.mark.django_db

CATALOGUE = "/ogc/collections/catalogue/items"
DCAT_DATASET = URIRef("http://www.w3.org/ns/dcat#Dataset")


def get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.content[:300])
    return response


def record_ids(client, query=""):
    body = get(client, f"{CATALOGUE}?limit=100&{query}").json()
    return sorted(r["id"] for r in body["features"]), body


def public():
    return sorted(Layer.objects.filter(visibility="public").values_list("slug", flat=True))


# --- Records -------------------------------------------------------------------------------------

def test_every_public_layer_is_a_record_with_its_metadata(client):
    ids, body = record_ids(client)
    assert ids == public() and body["numberMatched"] == len(ids)
    layer = Layer.objects.get(slug="defibrylatory")
    record = get(client, f"{CATALOGUE}/defibrylatory").json()
    p = record["properties"]
    assert p["title"] == layer.title_pl and p["description"] == layer.description_pl
    assert p["keywords"] == layer.keywords and p["license"] == layer.licence
    assert p["publisher"] == layer.publisher and p["rights"] == layer.attribution
    assert p["updateFrequency"] == layer.update_frequency
    assert p["qualityNotes"] == layer.quality_notes
    assert p["synthetic"] is False
    links = {link["rel"]: link["href"] for link in record["links"] if link["rel"] != "enclosure"}
    assert links["items"] == "http://testserver/ogc/collections/defibrylatory/items"
    assert links["http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"].endswith(
        "/ogc/collections/defibrylatory/tiles")
    downloads = sorted(link["href"] for link in record["links"] if link["rel"] == "enclosure")
    assert downloads == [f"http://testserver/data/defibrylatory.{ext}"
                         for ext in ("csv", "geojson", "gpkg")]
    # the record's temporal extent is the layer's date field
    assert record["time"]["interval"][0] <= record["time"]["interval"][1]


def matching(term: str) -> list[str]:
    """Public layers whose text metadata mention `term` (the ORM's answer to `q`)."""
    q = Q()
    for field in ("slug", "title_pl", "title_en", "description_pl", "description_en",
                  "publisher", "theme", "source"):
        q |= Q(**{f"{field}__icontains": term})
    layers = Layer.objects.filter(visibility="public")
    found = set(layers.filter(q).values_list("slug", flat=True))
    found |= {la.slug for la in layers if any(term.lower() in k.lower() for k in la.keywords)}
    return sorted(found)


@pytest.mark.parametrize("term", ["defibrylatory", "OpenStreetMap", "wyborcze", "2018",
                                  "nothing-like-this"])
def test_catalogue_free_text_search(client, term):
    ids, body = record_ids(client, f"q={quote(term)}")
    assert ids == matching(term)
    assert body["numberMatched"] == len(ids)


def test_catalogue_search_is_not_trivial():
    assert matching("defibrylatory") == ["defibrylatory"]
    assert 1 < len(matching("wyborcze")) < len(public())


def test_catalogue_bbox_far_away_is_empty(client):
    assert record_ids(client, "bbox=0,0,1,1")[0] == []


def test_catalogue_bbox_and_datetime_follow_the_layers(client):
    everything, _ = record_ids(client, "bbox=20.6,50.85,20.65,50.88")
    assert everything == public()
    ids, body = record_ids(client, "datetime=../2018-12-31")
    starts = {}
    for rec in record_ids(client)[1]["features"]:
        time_ = rec["time"] or {}
        starts[rec["id"]] = (time_.get("interval") or [time_.get("date")])[0]
    expected = sorted(s for s, start in starts.items() if start and start <= "2018-12-31")
    assert ids == expected and 0 < len(ids) < len(starts)
    later, _ = record_ids(client, "datetime=2019-01-01/..")
    assert set(later) | set(ids) >= {s for s, start in starts.items() if start}


def test_catalogue_follows_the_admin_at_once(client):
    Layer.objects.filter(slug="biblioteki").update(title_pl="Biblioteki miejskie (zmienione)",
                                                   visibility="staff")
    ids, _ = record_ids(client)
    assert "biblioteki" not in ids
    Layer.objects.filter(slug="biblioteki").update(visibility="public")
    record = get(client, f"{CATALOGUE}/biblioteki").json()
    assert record["properties"]["title"] == "Biblioteki miejskie (zmienione)"


def test_unknown_record_is_404(client):
    response = client.get(f"{CATALOGUE}/no-such-layer")
    assert response.status_code == 404 and response.json()["code"]


# --- DCAT-AP --------------------------------------------------------------------------------------

def dcat_slugs(client) -> set[str]:
    graph = Graph().parse(data=get(client, "/ogc/dcat?f=ttl").content, format="turtle")
    return {str(d).split("/data/")[1].split("/")[0] for d in graph.subjects(RDF.type, DCAT_DATASET)}


def test_dcat_ap_catalogue_lists_the_same_datasets_as_records(client):
    # The DCAT-AP document itself is tested in test_ogc_dcat.py.
    assert sorted(dcat_slugs(client)) == record_ids(client)[0] == public()
    links = get(client, "/ogc/collections/catalogue").json()["links"]
    assert {"/ogc/dcat", "/ogc/dcat?f=ttl"} <= {
        link["href"].removeprefix("http://testserver") for link in links}


def test_landing_page_links_catalogue_dcat_and_tiling_schemes(client):
    links = {link["rel"]: link["href"] for link in get(client, "/ogc").json()["links"]}
    assert links["http://www.w3.org/ns/dcat#catalog"] == "http://testserver/ogc/dcat"
    assert links["http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"].startswith(
        "http://testserver/ogc/tileMatrixSets")


# --- Tiles ---------------------------------------------------------------------------------------

def test_tiles_documents_point_at_our_tiles(client):
    body = get(client, "/ogc/collections/obwody-glosowania/tiles").json()
    tileset = body["tilesets"][0]
    assert tileset["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    template = next(link["href"] for link in tileset["links"] if link["rel"] == "item")
    assert template == ("http://testserver/tiles/obwody-glosowania/{tileMatrix}/{tileCol}/"
                        "{tileRow}.pbf")
    meta = get(client, "/ogc/collections/obwody-glosowania/tiles/WebMercatorQuad").json()
    assert meta["layers"][0]["id"] == "obwody-glosowania"
    assert meta["layers"][0]["propertiesSchema"]["properties"]["OBWOD"] == {"type": "number"}
    tms = get(client, "/ogc/tileMatrixSets/WebMercatorQuad").json()
    assert tms["id"] == "WebMercatorQuad" and len(tms["tileMatrices"]) >= 19
    assert [t["id"] for t in get(client, "/ogc/tileMatrixSets").json()["tileMatrixSets"]] == [
        "WebMercatorQuad"]


def test_ogc_tile_address_redirects_to_the_same_tile(client):
    z, lon, lat = 12, 20.63, 50.87  # central Kielce
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    # OGC order is tileMatrix/tileRow/tileCol = z/y/x; ours is z/x/y
    response = client.get(f"/ogc/collections/obwody-glosowania/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert response.status_code == 302
    assert response["Location"] == f"/tiles/obwody-glosowania/{z}/{x}/{y}.pbf"
    tile = client.get(response["Location"])
    assert tile.status_code == 200 and len(tile.content) > 100


@pytest.mark.parametrize("url,status", [
    ("/ogc/collections/obwody-glosowania/tiles/WorldCRS84Quad", 404),
    ("/ogc/collections/no-such/tiles", 404),
    ("/ogc/collections/catalogue/tiles", 404),
    ("/ogc/collections/obwody-glosowania/tiles/WebMercatorQuad/30/0/0", 400),
    ("/ogc/collections/obwody-glosowania/tiles/WebMercatorQuad/2/4/0", 400),
    ("/ogc/collections/obwody-glosowania/tiles/WebMercatorQuad/a/b/c", 400),
    ("/ogc/collections/obwody-glosowania/tiles?f=xml", 400),
    ("/ogc/tileMatrixSets/Nope", 404),
])
def test_bad_tile_requests(client, url, status):
    response = client.get(url)
    assert response.status_code == status, response.content
    assert response.json()["description"]


def test_staff_layers_are_in_no_catalogue_and_no_tiles(client):
    Layer.objects.filter(slug="defibrylatory").update(visibility="staff")
    assert "defibrylatory" not in record_ids(client)[0]
    assert client.get(f"{CATALOGUE}/defibrylatory").status_code == 404
    assert "defibrylatory" not in dcat_slugs(client)
    assert client.get("/ogc/collections/defibrylatory/tiles").status_code == 404


# --- other apps' collections --------------------------------------------------------------------

def test_other_apps_plug_in_collections_with_one_call(client):
    resource = {"type": "collection", "title": "Extra", "description": "plugged in",
                "keywords": [], "extents": {"spatial": {"bbox": [20, 50, 21, 51]}},
                "providers": [{"type": "record", "name": "ogc.records.CatalogueProvider",
                               "data": "extra", "id_field": "id", "records": []}]}

    def extra():
        return {"extra-things": resource, "biblioteki": resource}  # a layer slug wins

    ogc_config.register_collections(extra)
    try:
        Layer.objects.filter(slug="biblioteki").update(version=12345)  # a new config
        ids = {c["id"] for c in get(client, "/ogc/collections").json()["collections"]}
        assert {"extra-things", "biblioteki"} <= ids
        assert get(client, "/ogc/collections/extra-things/items").json()["numberMatched"] == 0
        assert get(client, "/ogc/collections/biblioteki").json()["itemType"] == "feature"
    finally:
        ogc_config._extra_collections.remove(extra)


# --- every live worker follows the registry -----------------------------------------------------


def live_ids(live_url):
    with urllib.request.urlopen(f"{live_url}/ogc/collections", timeout=30) as response:
        return {c["id"] for c in json.load(response)["collections"]}


def test_hiding_and_renaming_reach_every_worker_at_once(live_url):
    # gunicorn runs 2 workers with 4 threads: 12 requests in a row reach both
    assert all("okregi-wyborcze" in live_ids(live_url) for _ in range(4))
    with committed() as cur:
        cur.execute("UPDATE layers_layer SET visibility = 'staff' WHERE slug = 'okregi-wyborcze'")
    try:
        assert not any("okregi-wyborcze" in live_ids(live_url) for _ in range(12))
    finally:
        with committed() as cur:
            cur.execute("UPDATE layers_layer SET visibility = 'public' "
                        "WHERE slug = 'okregi-wyborcze'")
    deadline = time.monotonic() + 5
    while "okregi-wyborcze" not in live_ids(live_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all("okregi-wyborcze" in live_ids(live_url) for _ in range(12))


def test_deleted_layers_are_gone_everywhere(client):
    from django.utils import timezone

    feature_id = Layer.objects.get(slug="biblioteki").features.values_list("id", flat=True)[0]
    Layer.objects.filter(slug="biblioteki").update(deleted_at=timezone.now())
    assert "biblioteki" not in {c["id"] for c in
                                get(client, "/ogc/collections").json()["collections"]}
    for url in ("/ogc/collections/biblioteki/items", f"/ogc/collections/biblioteki/items/"
                f"{feature_id}", "/ogc/collections/biblioteki/tiles",
                f"{CATALOGUE}/biblioteki"):
        assert client.get(url).status_code == 404, url
    assert "biblioteki" not in record_ids(client)[0]
