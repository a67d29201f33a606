"""Real clients against the live server (gunicorn on the test database): GDAL's OAPIF driver,
OWSLib's Features and Records clients, a Part 4 round trip in plain HTTP, the OpenAPI document
through openapi-spec-validator, a bounded schemathesis run, and the HTML pages in Chromium with
every non-local request blocked and recorded."""

import json
import re
import subprocess
import urllib.error
import urllib.request

import pytest
from owslib.ogcapi.features import Features
from owslib.ogcapi.records import Records

from layers.models import Layer
from tests.live_users import committed, live_user

SLUG = "placowki-oswiatowe"


pytestmark = pytest.mark.django_db


@pytest.fixture
def counts():
    return {layer.slug: layer.features.count()
            for layer in Layer.objects.filter(visibility="public")}


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


# --- GDAL ---------------------------------------------------------------------------------------

def run(*args) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr, result.stderr
    return result.stdout


def test_ogr2ogr_copies_every_feature_with_paging_and_a_filter(live_url, counts, tmp_path):
    out = tmp_path / "schools.gpkg"
    # GDAL pages with our `next` links (page size 100 forces several pages)
    run("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{live_url}/ogc", SLUG,
        "-oo", "PAGE_SIZE=100")
    info = run("ogrinfo", "-ro", "-so", str(out), SLUG)
    assert f"Feature Count: {counts[SLUG]}" in info
    # GDAL 3.6 sends an equality on a queryable to the server as `OBWOD=50` (Part 3 queryables
    # as query parameters); a compound -where it evaluates itself over all pages
    one = tmp_path / "one.gpkg"
    run("ogr2ogr", "-f", "GPKG", str(one), f"OAPIF:{live_url}/ogc", "obwody-glosowania",
        "-where", "OBWOD = 50")
    assert "Feature Count: 1" in run("ogrinfo", "-ro", "-so", str(one), "obwody-glosowania")
    filtered = tmp_path / "districts.gpkg"
    run("ogr2ogr", "-f", "GPKG", str(filtered), f"OAPIF:{live_url}/ogc", "obwody-glosowania",
        "-where", "OBWOD >= 50 AND OBWOD < 60")
    info = run("ogrinfo", "-ro", "-so", str(filtered), "obwody-glosowania")
    assert "Feature Count: 10" in info


# --- OWSLib -------------------------------------------------------------------------------------

def test_owslib_features_reads_collections_queryables_and_items(live_url, counts):
    api = Features(f"{live_url}/ogc")
    ids = {c["id"] for c in api.collections()["collections"]}
    assert set(counts) <= ids and "catalogue" in ids
    queryables = api.collection_queryables("obwody-glosowania")
    assert queryables["properties"]["OBWOD"]["type"] == "integer"
    page = api.collection_items("obwody-glosowania", limit=5, OBWOD=7)
    assert page["numberMatched"] == 1
    assert page["features"][0]["properties"]["OBWOD"] == 7
    page = api.collection_items(SLUG, bbox=[20.60, 50.85, 20.65, 50.88], limit=1000)
    assert 0 < page["numberReturned"] == page["numberMatched"] < counts[SLUG]
    cql = api.collection_items("obwody-glosowania", filter="OBWOD BETWEEN 1 AND 4",
                               limit=10)
    assert sorted(f["properties"]["OBWOD"] for f in cql["features"]) == [1, 2, 3, 4]


def test_owslib_records_searches_the_catalogue(live_url, counts):
    api = Records(f"{live_url}/ogc")
    assert api.records() == ["catalogue"]  # the collections whose itemType is record
    everything = api.collection_items("catalogue", limit=100)
    assert everything["numberMatched"] == len(counts)
    found = api.collection_items("catalogue", q="defibrylatory")
    assert [r["id"] for r in found["features"]] == ["defibrylatory"]
    record = found["features"][0]
    assert record["properties"]["license"].startswith("ODbL")
    rels = {link["rel"] for link in record["links"]}
    assert {"items", "enclosure", "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"} <= rels
    old = api.collection_items("catalogue", datetime="../2018-12-31", limit=100)
    assert old["numberMatched"] >= 1
    assert all(r["time"] and min(r["time"].get("date", "9"), (r["time"].get("interval")
                                                               or ["9"])[0]) <= "2018-12-31"
               for r in old["features"])
    nowhere = api.collection_items("catalogue", bbox=[0, 0, 1, 1])
    assert nowhere["numberMatched"] == 0


# --- Part 4 in plain HTTP ----------------------------------------------------------------------


@pytest.fixture
def live_token(live_url):
    """An editor of `biblioteki` committed to the database the live server reads; removed with
    the history it wrote afterwards."""
    with live_user("ogc-live-editor", token=True) as user:
        with committed() as cur:
            cur.execute("INSERT INTO auth_group (name) VALUES ('ogc-live-editors') RETURNING id")
            group_id = cur.fetchone()[0]
            cur.execute("INSERT INTO auth_user_groups (user_id, group_id) VALUES (%s, %s)",
                        [user.id, group_id])
            cur.execute("""INSERT INTO layers_layer_editor_groups (layer_id, group_id)
                           SELECT id, %s FROM layers_layer WHERE slug = 'biblioteki'""",
                        [group_id])
        try:
            yield user.token
        finally:
            with committed() as cur:
                cur.execute("DELETE FROM layers_featurehistory WHERE user_id = %s", [user.id])
                cur.execute("DELETE FROM layers_layer_editor_groups WHERE group_id = %s",
                            [group_id])
                cur.execute("DELETE FROM auth_user_groups WHERE user_id = %s", [user.id])
                cur.execute("DELETE FROM auth_group WHERE id = %s", [group_id])


def test_part4_round_trip_over_http(live_url, live_token):
    items = f"{live_url}/ogc/collections/biblioteki/items"
    auth = {"Authorization": f"Token {live_token}", "Content-Type": "application/geo+json"}
    new = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [20.631, 50.871]},
           "properties": {"ID": 501, "NAZWA": "Biblioteka testowa"}}
    status, headers, _ = http("POST", items, new, auth)
    assert status == 201
    location, etag = headers["Location"], headers["ETag"]
    try:
        status, headers, body = http("GET", location)
        assert status == 200 and headers["ETag"] == etag
        assert json.loads(body)["properties"]["NAZWA"] == "Biblioteka testowa"

        changed = {**new, "properties": {"ID": 501, "NAZWA": "Biblioteka zmieniona"}}
        status, headers, _ = http("PUT", location, changed, {**auth, "If-Match": etag})
        assert status == 204
        fresh = headers["ETag"]
        assert fresh != etag

        stale = {**new, "properties": {"ID": 501, "NAZWA": "Nadpisana"}}
        status, headers, body = http("PUT", location, stale, {**auth, "If-Match": etag})
        assert status == 412 and headers["ETag"] == fresh
        assert json.loads(body)["code"] == "PreconditionFailed"
        _, _, body = http("GET", location)
        assert json.loads(body)["properties"]["NAZWA"] == "Biblioteka zmieniona"

        status, _, _ = http("DELETE", location, None, {**auth, "If-Match": fresh})
        assert status == 204
        assert http("GET", location)[0] == 404
    finally:
        fid = int(location.rsplit("/", 1)[1])
        with committed() as cur:
            cur.execute("SELECT action, channel FROM layers_featurehistory WHERE feature_id = %s "
                        "ORDER BY version", [fid])
            actions = cur.fetchall()
            cur.execute("DELETE FROM layers_feature WHERE id = %s", [fid])
    assert actions == [("create", "ogc"), ("update", "ogc"), ("delete", "ogc")]


# --- OpenAPI -----------------------------------------------------------------------------------

def test_openapi_document_validates(live_url):
    from openapi_spec_validator import validate

    status, headers, body = http("GET", f"{live_url}/ogc/openapi")
    assert status == 200
    document = json.loads(body)
    validate(document)  # raises on any error; nothing remote to fetch
    assert not re.search(r'"\$ref": "https?:', body.decode())


def test_schemathesis_finds_no_server_error(live_url):
    """A bounded run: few examples per operation, a time cap, GET and POST/PUT/PATCH/DELETE
    unauthenticated (so nothing can be written) over every documented operation."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    schema = schemathesis.openapi.from_url(f"{live_url}/ogc/openapi")
    failures = []
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        path = operation.path
        # one layer, the catalogue and the server-wide paths keep the run short
        if "/collections/" in path and not any(
                f"/collections/{c}" in path for c in ("obwody-glosowania", "catalogue")):
            continue

        @settings(max_examples=8, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(timeout=30)
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, case.query,
                                 response.status_code, response.text[:300]))

        check()
        ran += 1
    assert ran >= 10
    assert failures == []


# --- HTML pages: nothing loaded from elsewhere -------------------------------------------------

def test_html_pages_load_nothing_from_outside(live_url, artifacts):
    from tests.e2e.browser import page

    urls = ["/ogc?f=html", "/ogc/collections?f=html", "/ogc/collections/biblioteki?f=html",
            "/ogc/collections/biblioteki/items?f=html",
            "/ogc/collections/catalogue/items?f=html", "/ogc/conformance?f=html",
            "/ogc/openapi?f=html", "/ogc/collections/catalogue/items/biblioteki?f=html",
            "/ogc/collections/biblioteki/queryables?f=html"]
    with urllib.request.urlopen(f"{live_url}/ogc/collections/biblioteki/items?limit=1") as r:
        first = json.load(r)["features"][0]["id"]
    urls.append(f"/ogc/collections/biblioteki/items/{first}?f=html")
    with page(live_url) as pg:
        failed = []
        pg.on("response", lambda r: r.status >= 400 and failed.append((r.url, r.status)))
        for url in urls:
            pg.goto(live_url + url, wait_until="networkidle")
        feature = pg.evaluate("1")
        assert feature == 1
        pg.goto(f"{live_url}/ogc/collections/biblioteki/items?f=html&limit=20",
                wait_until="networkidle")
        assert pg.locator(".leaflet-marker-icon, .marker-cluster, path.leaflet-interactive"
                          ).count() > 0
        pg.screenshot(path=str(artifacts / "ogc_items_html.png"))
        assert pg.foreign_requests == []
        assert failed == []
