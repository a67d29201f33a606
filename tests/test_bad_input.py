"""Bad input answered with a precise 4xx, never a 5xx, and nothing changed (issue 17, item 4):
NUL characters anywhere a client can put text, CQL2 edge cases, numbers beyond what a tile
filter, a CRS or a property type can hold, and values out of a property type's range on every
write channel."""

import json
import xml.etree.ElementTree as ET

import pyogrio.raw
import pytest
import requests
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from layers.importing import ImportOptions, run_import
from layers.models import Feature, FeatureHistory, Layer
from layers.schema import validate_properties
from reports import testing
from reports.forms import answer_field_name
from reports.models import Report
from tests.layers_fixtures import admin_form, api_client, make_user

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.layers_fixtures"]

EPSG_2180 = "http://www.opengis.net/def/crs/EPSG/0/2180"
HUGE_INT = 99999999999999999999999999


@pytest.fixture
def client():
    # A 500 must show up as a status to assert on, not as an exception in the test.
    return Client(raise_request_exception=False)


@pytest.fixture(autouse=True)
def own_exports(settings, tmp_path):
    # GeoPackages are cached by layer id and version, which a new test database reuses.
    settings.EXPORT_CACHE_DIR = tmp_path / "exports"


def state(slug):
    return (sorted(Feature.objects.filter(layer__slug=slug).values_list("pk", "version")),
            Layer.objects.get(slug=slug).version,
            FeatureHistory.objects.filter(layer__slug=slug).count())


def description(response) -> str:
    """The error message of any of the project's error shapes."""
    content_type = response.get("Content-Type", "")
    if "xml" in content_type:
        return ET.fromstring(response.content).findtext("error/description")
    if "json" not in content_type:
        return response.content.decode()
    body = response.json()
    if isinstance(body, list):  # Open311
        return body[0]["description"]
    return body.get("description") or body.get("detail")


# --- NUL characters ------------------------------------------------------------------------

NUL_URLS = [
    # (url, error shape) for every address the review found answering 500
    ("/ogc/collections/biblioteki/items?q=a%00b", "ogc"),
    ("/ogc/collections/biblioteki/items?NAZWA=a%00b", "ogc"),
    ("/ogc/collections/indicator-values/items?indicator=%00", "ogc"),
    ("/api/layers/biblioteki/features/?NAZWA=a%00b", "detail"),
    ("/reports/stats.json?areas=%00", "detail"),
    ("/open311/v2/requests.json?service_code=%00", "open311"),
    ("/open311/v2/requests.xml?service_code=%00", "open311-xml"),
    ("/api/indicators/values/?period=%00", "detail"),
    ("/api/indicators/values/?source=%00", "detail"),
    ("/api/audit/gaps/?indicator=%00", "detail"),
    ("/map/table.json?indicator=%00", "detail"),
    ("/?indicator=%00", "detail"),
    ("/tiles/okregi-wyborcze/10/570/343.pbf?filter=NAZWA=a%00b", "detail"),
    ("/tiles/okregi-wyborcze.json?filter=NAZWA=a%00b", "detail"),
    # in a parameter's name, and in the path
    ("/api/layers/biblioteki/features/?NAZ%00WA=x", "detail"),
    ("/api/layers/bibli%00oteki/", "detail"),
]


@pytest.mark.parametrize("url,shape", NUL_URLS)
def test_a_nul_in_the_address_is_a_400_in_the_endpoints_error_shape(client, url, shape):
    response = client.get(url)
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert "NUL" in description(response)
    if shape == "ogc":
        assert response.json()["code"] == "InvalidParameterValue"
    elif shape == "open311":
        assert response.json()[0]["code"] == 400
    elif shape == "open311-xml":
        assert ET.fromstring(response.content).findtext("error/code") == "400"
    else:
        assert "detail" in response.json()


def test_a_nul_on_a_page_is_a_400_page_in_the_visitors_language(client):
    response = client.get("/?indicator=%00", HTTP_ACCEPT="text/html")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "NUL" in html and "indicator" in html and "<h1>" in html
    assert "znak NUL" in html  # Polish is the default language


def test_a_nul_in_a_header_or_cookie_is_a_400(client):
    # A token with a NUL would otherwise reach the token lookup's SQL.
    response = client.get("/api/layers/", HTTP_AUTHORIZATION="Token abc\x00def")
    assert response.status_code == 400 and "Authorization" in description(response)
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"
    response = client.get("/api/layers/")
    assert response.status_code == 400 and "sessionid" in description(response)


def test_a_nul_in_a_posted_form_changes_nothing(client):
    category = testing.category(slug="nul-test")
    body = {"service_code": category.slug, "lat": str(testing.RYNEK[1]),
            "long": str(testing.RYNEK[0]), "email": "nul@example.org",
            "description": "Dziura w jezdni\x00 przy fontannie."}
    response = client.post("/open311/v2/requests.json", body, REMOTE_ADDR="10.9.9.9")
    assert response.status_code == 400 and "description" in description(response)
    assert response.json()[0]["code"] == 400
    multipart = client.post("/open311/v2/requests.json", _multipart(body),
                            content_type="multipart/form-data; boundary=BoUnDaRy",
                            REMOTE_ADDR="10.9.9.9")
    assert multipart.status_code == 400 and "description" in description(multipart)
    assert not Report.objects.filter(category=category).exists()


def _multipart(fields: dict) -> bytes:
    parts = [f'--BoUnDaRy\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             for k, v in fields.items()]
    return ("".join(parts) + "--BoUnDaRy--\r\n").encode()


def test_a_nul_in_a_report_forms_answer_changes_nothing(client):
    category = testing.category(slug="nul-form", questions=[
        {"name": "note", "type": "text", "label_pl": "Uwagi"}])
    form = {"category": category.slug, "title": "Dziura w jezdni", "lon": testing.RYNEK[0],
            "lat": testing.RYNEK[1], "description": "Dziura w jezdni przy fontannie.",
            "email": "nul@example.org",
            answer_field_name(category, category.questions[0]): "a\x00b"}
    response = client.post("/reports/new/", form, HTTP_ACCEPT="text/html")
    assert response.status_code == 400, response.content[:300]
    assert not Report.objects.filter(category=category).exists()


@pytest.mark.parametrize("properties", [
    {"name": "a\x00b"},
    {"name": "ok", "kind\x00": "library"},
])
def test_a_nul_in_a_rest_feature_changes_nothing(layer, users, properties):
    before = state(layer.slug)
    client = api_client(users["editor"])
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [20.63, 50.87]},
            "properties": properties}
    created = client.post(f"/api/layers/{layer.slug}/features/", body, format="json")
    assert created.status_code == 400 and "NUL" in created.json()["detail"]
    feature = Feature.objects.filter(layer=layer).first()
    url = f"/api/layers/{layer.slug}/features/{feature.pk}/"
    etag = client.get(url)["ETag"]
    patched = client.patch(url, {"properties": properties}, format="json", HTTP_IF_MATCH=etag)
    assert patched.status_code == 400 and "NUL" in patched.json()["detail"]
    assert state(layer.slug) == before


def test_a_nul_in_a_rest_layer_schema_changes_nothing(layer, registrar):
    client = api_client(registrar)
    schema = {"fields": [*layer.schema["fields"], {"name": "bad\x00name", "type": "string"}]}
    response = client.patch(f"/api/layers/{layer.slug}/", {"schema": schema}, format="json")
    assert response.status_code == 400 and "NUL" in json.dumps(response.json())
    layer.refresh_from_db()
    assert "bad\x00name" not in [f["name"] for f in layer.fields]


@pytest.mark.parametrize("body", ["1", "null", {"fields": [1]},
                                  {"name": "n", "type": "string", "choices": "abc"},
                                  {"name": "n", "type": "integer", "choices": ["x"]},
                                  {"name": "n", "type": "integer", "choices": [HUGE_INT]}])
def test_a_layer_body_that_is_not_a_layer_is_400(layer, registrar, body):
    if isinstance(body, dict) and "name" in body:  # one new field, the rest as they are
        body = json.dumps({"schema": {"fields": [*layer.fields, body]}})
    elif isinstance(body, dict):
        body = json.dumps({"schema": body})
    before = Layer.objects.get(pk=layer.pk).schema
    client = api_client(registrar)
    for method in (client.put, client.patch):
        response = method(f"/api/layers/{layer.slug}/", body, content_type="application/json")
        assert response.status_code == 400, response.content
    if "choices" in body:
        assert "choice" in json.dumps(response.json())
    assert Layer.objects.get(pk=layer.pk).schema == before


def test_the_schema_refuses_a_nul_in_a_string_on_every_channel():
    # Admin forms, imports and reports reach layers.editing, which validates with this.
    schema = {"fields": [{"name": "name", "type": "string"}]}
    assert validate_properties(schema, {"name": "a\x00b"}) == [
        "name: contains a NUL character, which text cannot hold (got 'a\\x00b')"]


# --- CQL2 ----------------------------------------------------------------------------------

BUDGET = "/ogc/collections/budzet-obywatelski/items"
LIBRARIES = "/ogc/collections/biblioteki/items"


def nested(levels: int) -> str:
    return '{"op":"not","args":[' * levels + \
        '{"op":"=","args":[{"property":"NAZWA"},"x"]}' + "]}" * levels


@pytest.mark.parametrize("params,message", [
    ({"filter": "nazwa LIKE '\\'"}, "escape"),
    ({"filter-lang": "cql2-json",
      "filter": json.dumps({"op": "like", "args": [{"property": "nazwa"}, "\\"]})}, "escape"),
    ({"filter": "nazwa LIKE 'a\\'"}, "escape"),
    ({"filter-lang": "cql2-json", "filter": json.dumps({"property": {"a": 1}})}, "property"),
    ({"filter-lang": "cql2-json", "filter": json.dumps({"op": "=", "args": [
        {"property": {"a": 1}}, 1]})}, "property"),
    ({"filter-lang": "cql2-json", "filter": json.dumps({"op": "=", "args": [
        {"property": "nazwa"}, "a\x00b"]})}, "NUL"),
    ({"filter": "S_DWITHIN(geometry,POINT(20.6 50.8),1e309,meters)"}, "distance"),
    ({"filter": "S_DWITHIN(geometry,POINT(20.6 50.8),1e306,kilometers)"}, "distance"),
])
def test_cql2_edge_cases_are_400(client, params, message):
    response = client.get(BUDGET, params)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] == "InvalidParameterValue"
    assert message.lower() in response.json()["description"].lower()


@pytest.mark.parametrize("collection", ["indicator-values", "catalogue", "biblioteki"])
def test_an_offset_beyond_a_bigint_is_400_on_every_collection(client, collection):
    response = client.get(f"/ogc/collections/{collection}/items", {"offset": str(HUGE_INT)})
    assert response.status_code == 400, response.content[:300]
    assert "offset" in response.json()["description"]


def test_csv_of_the_catalogue_is_400_and_of_indicator_values_still_csv(client):
    response = client.get("/ogc/collections/catalogue/items", {"f": "csv"})
    assert response.status_code == 400 and "csv" in response.json()["description"]
    response = client.get("/ogc/collections/indicator-values/items", {"f": "csv", "limit": 2})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")


def test_a_cql2_json_body_nested_4000_levels_is_400(client):
    for send in (lambda: client.post(LIBRARIES, nested(4000),
                                     content_type="application/query-cql-json"),
                 lambda: client.get(LIBRARIES, {"filter-lang": "cql2-json",
                                                "filter": nested(4000)}),
                 lambda: client.get(LIBRARIES, {"filter-lang": "cql2-json",
                                                "filter": "[" * 4000 + "]" * 4000}),
                 lambda: client.get(LIBRARIES, {"filter": "NOT (" * 3000 + "NAZWA = 'x'" +
                                                ")" * 3000})):
        response = send()
        assert response.status_code == 400, response.content[:300]
        assert "nested" in response.json()["description"]


def test_like_with_escapes_still_matches_literally(client):
    # a backslash escapes the next character, as in SQL: 'Budowa\_%' finds "Budowa_..." only
    response = client.get(BUDGET, {"filter": "nazwa LIKE '%\\%%'", "limit": 1})
    assert response.status_code == 200
    assert response.json()["features"] == []
    found = client.get(BUDGET, {"filter": "nazwa LIKE 'Budowa%'", "limit": 1000}).json()
    assert found["numberReturned"] > 0


@pytest.mark.parametrize("distance,expected", [
    # From Kielce every library is within 20,000 km, and none within 1 m of (0 0).
    ("POINT(20.6 50.8),20000000", "all"),
    ("POINT(20.6 50.8),9000000", "all"),
    ("POINT(20.6 50.8),1e300", "all"),
    ("POINT(0 0),1", "none"),
])
def test_s_dwithin_at_any_distance_answers(client, distance, expected):
    response = client.get(LIBRARIES, {"filter": f"S_DWITHIN(geometry,{distance},meters)",
                                      "limit": 1000})
    assert response.status_code == 200, response.content[:300]
    matched = response.json()["numberMatched"]
    total = Feature.objects.filter(layer__slug="biblioteki").count()
    assert matched == (total if expected == "all" else 0)


# --- CRS with huge numbers -----------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"bbox": "0,0,1e30,1e30", "bbox-crs": EPSG_2180},
    {"bbox": "-1e30,-1e30,0,0", "bbox-crs": EPSG_2180},
    {"filter": "S_INTERSECTS(geometry,POINT(1e30 1e30))", "filter-crs": EPSG_2180},
    {"filter": "S_INTERSECTS(geometry,BBOX(0,0,1e30,1e30))", "filter-crs": EPSG_2180},
    {"filter": "S_DWITHIN(geometry,POINT(1e30 1e30),10,meters)", "filter-crs": EPSG_2180},
    {"filter-lang": "cql2-json", "filter-crs": EPSG_2180, "filter": json.dumps(
        {"op": "s_intersects", "args": [{"property": "geometry"},
                                        {"type": "Point", "coordinates": [1e30, 1e30]}]})},
])
def test_coordinates_beyond_a_projected_crs_are_400(client, params):
    response = client.get(LIBRARIES, params)
    assert response.status_code == 400, response.content[:300]
    text = response.json()["description"]
    assert "EPSG/0/2180" in text and "outside" in text


def test_a_bbox_in_2180_over_the_city_still_works(client):
    # Kielce in EPSG:2180, northing first (the CRS's axis order)
    response = client.get(LIBRARIES, {"bbox": "300000,580000,370000,650000",
                                      "bbox-crs": EPSG_2180})
    assert response.status_code == 200
    assert response.json()["numberMatched"] == Feature.objects.filter(
        layer__slug="biblioteki").count()


def test_an_ogc_write_in_2180_beyond_its_area_changes_nothing(client, editor_token):
    before = state("biblioteki")
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1e30, 1e30]},
            "properties": {"NAZWA": "Daleko"}}
    response = client.post(LIBRARIES, json.dumps(body), content_type="application/geo+json",
                           HTTP_CONTENT_CRS=f"<{EPSG_2180}>", **editor_token)
    assert response.status_code == 400 and "outside" in response.json()["description"]
    assert state("biblioteki") == before


# --- tiles ---------------------------------------------------------------------------------

@pytest.mark.parametrize("condition", ["area>1e400", "area<-1e400", "area=NaN",
                                       "area>Infinity"])
def test_a_tile_filter_beyond_a_decimals_range_is_a_json_400(client, layer, condition):
    cache.clear()
    response = client.get(f"/tiles/{layer.slug}/10/570/343.pbf", {"filter": condition})
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert "area" in response.json()["detail"]


# --- numbers out of a property type's range ------------------------------------------------

@pytest.fixture
def editor_token(users):
    from rest_framework.authtoken.models import Token

    Layer.objects.get(slug="biblioteki").editor_groups.add(*users["editor"].groups.all())
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=users['editor']).key}"}


OUT_OF_RANGE = [
    ({"name": "x", "count": HUGE_INT}, "count"),
    ({"name": "x", "count": 2**63}, "count"),
    ({"name": "x", "count": -2**63 - 1}, "count"),
    ({"name": "x", "area": "1e400"}, "area"),
    ({"name": "x", "area": "NaN"}, "area"),
    ({"name": "x", "area": "-Infinity"}, "area"),
    ({"name": "x", "area": 10**400}, "area"),
]


@pytest.mark.parametrize("properties,field", OUT_OF_RANGE)
def test_rest_refuses_values_out_of_range_and_the_download_still_works(
        client, layer, users, properties, field):
    before = state(layer.slug)
    api = api_client(users["editor"])
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [20.63, 50.87]},
            "properties": properties}
    created = api.post(f"/api/layers/{layer.slug}/features/", body, format="json")
    assert created.status_code == 400, created.content
    assert f"{field}:" in created.json()["detail"] and "range" in created.json()["detail"]
    feature = Feature.objects.filter(layer=layer).first()
    url = f"/api/layers/{layer.slug}/features/{feature.pk}/"
    etag = api.get(url)["ETag"]
    for method in (api.put, api.patch):
        response = method(url, body, format="json", HTTP_IF_MATCH=etag)
        assert response.status_code == 400 and f"{field}:" in response.json()["detail"]
    assert state(layer.slug) == before
    assert client.get(f"/data/{layer.slug}.gpkg").status_code == 200


def test_a_json_number_too_large_for_a_float_is_refused(layer, users):
    # 1e400 in JSON is read as infinity: refused as out of range, not stored as "Infinity"
    api = api_client(users["editor"])
    body = ('{"type": "Feature", "geometry": {"type": "Point", "coordinates": [20.63, 50.87]},'
            ' "properties": {"name": "x", "area": 1e400}}')
    response = api.post(f"/api/layers/{layer.slug}/features/", body,
                        content_type="application/json")
    assert response.status_code == 400 and "area:" in response.json()["detail"]


def test_the_largest_integers_are_accepted_and_downloaded_exactly(client, layer, users,
                                                                  tmp_path):
    api = api_client(users["editor"])
    for value in (2**63 - 1, -2**63, 2**53 + 1):
        body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [20.63, 50.87]},
                "properties": {"name": f"n{value}", "count": value, "area": 1.5e308}}
        assert api.post(f"/api/layers/{layer.slug}/features/", body,
                        format="json").status_code == 201
    response = client.get(f"/data/{layer.slug}.gpkg")
    assert response.status_code == 200
    path = tmp_path / "download.gpkg"
    path.write_bytes(b"".join(response.streaming_content) if response.streaming
                     else response.content)
    _, _, _, (counts,) = pyogrio.raw.read(str(path), columns=["count"], read_geometry=False)
    counts = set(counts.tolist())
    assert {2**63 - 1, -2**63, 2**53 + 1} <= counts


@pytest.mark.parametrize("properties,field", [
    ({"ID": HUGE_INT, "NAZWA": "x"}, "ID"),
    ({"ID": 1, "NAZWA": "x", "ZZZ": 1}, "ZZZ"),
])
def test_ogc_part4_refuses_values_out_of_range(client, editor_token, properties, field):
    before = state("biblioteki")
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [20.63, 50.87]},
            "properties": properties}
    response = client.post(LIBRARIES, json.dumps(body), content_type="application/geo+json",
                           **editor_token)
    assert response.status_code == 400 and f"{field}:" in response.json()["description"]
    feature = Feature.objects.filter(layer__slug="biblioteki").first()
    url = f"{LIBRARIES}/{feature.pk}"
    etag = client.get(url)["ETag"]
    for method in (client.put, client.patch):
        response = method(url, json.dumps(body), content_type="application/geo+json",
                          HTTP_IF_MATCH=etag, **editor_token)
        assert response.status_code == 400 and f"{field}:" in response.json()["description"]
    nul = {**body, "properties": {"ID": 1, "NAZWA": "a\x00b"}}
    response = client.post(LIBRARIES, json.dumps(nul), content_type="application/geo+json",
                           **editor_token)
    assert response.status_code == 400 and "NUL" in response.json()["description"]
    nan = '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [20.6, 50.8]}, ' \
          '"properties": {"ID": NaN}}'
    response = client.post(LIBRARIES, nan, content_type="application/geo+json", **editor_token)
    assert response.status_code == 400
    assert state("biblioteki") == before
    assert client.get("/data/biblioteki.gpkg").status_code == 200


@pytest.fixture
def gis(db, editors):
    client = Client(raise_request_exception=False)
    client.force_login(make_user("gis-editor", staff=True, groups=[editors]))
    return client


def test_a_nul_in_the_admin_forms_changes_nothing(gis, layer, tmp_path):
    feature = Feature.objects.filter(layer=layer).first()
    before = state(layer.slug)
    response = gis.post(f"/admin/layers/feature/{feature.pk}/change/",
                        admin_form(layer, {"name": "a\x00b"}, feature.geom.json),
                        HTTP_ACCEPT="text/html")
    assert response.status_code == 400 and "attr_0" in response.content.decode()
    # the import's confirmation (a form of its own, read by the view itself)
    confirm = gis.post(f"/admin/layers/layer/{layer.pk}/import/",
                       "token=abc&options=%7B%7D&filename=x%00.csv",
                       content_type="application/x-www-form-urlencoded")
    assert confirm.status_code == 400 and "filename" in description(confirm)
    assert state(layer.slug) == before


@pytest.mark.parametrize("props,field", [
    ({"name": "x", "count": str(HUGE_INT)}, "attr_1"),
    ({"name": "x", "area": "1e400"}, "attr_5"),
])
def test_the_admin_form_refuses_values_out_of_range(gis, layer, props, field):
    feature = Feature.objects.filter(layer=layer).first()
    before = state(layer.slug)
    response = gis.post(f"/admin/layers/feature/{feature.pk}/change/",
                        admin_form(layer, props, feature.geom.json))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors or any("range" in e for e in errors.get("__all__", [])), errors
    assert state(layer.slug) == before


def test_the_admin_import_refuses_values_out_of_range(gis, layer, tmp_path):
    path = tmp_path / "duze.csv"
    path.write_text(f"name,count,lon,lat\nduży,{HUGE_INT},20.61,50.86\n", encoding="utf-8")
    before = state(layer.slug)
    response = gis.post(f"/admin/layers/layer/{layer.pk}/import/", {
        "file": SimpleUploadedFile("duze.csv", path.read_bytes()), "invalid": "reject",
        "mode": "append"})
    assert response.status_code == 400
    assert "count" in response.content.decode() and "range" in response.content.decode()
    assert state(layer.slug) == before


@pytest.mark.parametrize("content,field", [
    (f"name,count,lon,lat\nduży,{HUGE_INT},20.61,50.86\n", "count"),
    ("name,area,lon,lat\nduży,1e400,20.61,50.86\n", "area"),
    ("name,area,lon,lat\nduży,NaN,20.61,50.86\n", "area"),
    (json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [20.61, 50.86]},
         "properties": {"name": "duży", "count": HUGE_INT}}]}), "count"),
])
def test_imports_refuse_values_out_of_range_with_the_row_and_field(layer, users, tmp_path,
                                                                   content, field):
    suffix = "geojson" if content.startswith("{") else "csv"
    path = tmp_path / f"duze.{suffix}"
    path.write_text(content, encoding="utf-8")
    before = state(layer.slug)
    report = run_import(layer, path, ImportOptions(dry_run=False))
    assert not report.ok
    assert [(e.row, e.field) for e in report.errors] == [(1, field)]
    assert "range" in report.errors[0].reason or "number" in report.errors[0].reason
    response = api_client(users["editor"]).post(
        f"/api/layers/{layer.slug}/imports/",
        {"file": SimpleUploadedFile(path.name, path.read_bytes()), "dry_run": "false"},
        format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert state(layer.slug) == before


def test_the_reports_layer_refuses_values_out_of_range_like_any_other():
    # Reports write their layer through the same editing service as every other channel.
    from django.contrib.gis.geos import Point

    from layers import editing
    from reports.layer import ensure_layer

    layer = ensure_layer()
    before = Feature.objects.filter(layer=layer).count()
    props = {"report_id": 1, "title": "Dziura", "category": "x", "status": "new",
             "reported": "2026-01-01", "year": "2026", "supporters": HUGE_INT,
             "days_to_fix": float("inf")}
    with pytest.raises(editing.EditError) as refused:
        editing.create_feature(layer, Point(20.63, 50.87, srid=4326), props, channel="reports")
    assert sorted(e.split(":")[0] for e in refused.value.errors) == ["days_to_fix", "supporters"]
    assert Feature.objects.filter(layer=layer).count() == before


def test_a_type_change_to_integer_refuses_values_out_of_range(layer, registrar):
    from layers import editing

    feature = Feature.objects.filter(layer=layer).first()
    editing.update_feature(feature.pk, properties={"kind": "library", "name": str(HUGE_INT)},
                           replace=False, channel="test")
    schema = {"fields": [{**f, "type": "integer"} if f["name"] == "name" else f
                         for f in layer.fields]}
    response = api_client(registrar).patch(f"/api/layers/{layer.slug}/", {"schema": schema},
                                           format="json")
    assert response.status_code == 400 and str(feature.pk) in json.dumps(response.json())
    layer.refresh_from_db()
    assert layer.schema["fields"][0]["type"] == "string"


# --- on the live server --------------------------------------------------------------------

def test_the_live_server_answers_bad_input_with_4xx(live_url):
    # gunicorn and the WSGI front door (tiles.wsgi) in front of the same checks
    cases = [
        "/tiles/okregi-wyborcze/10/570/343.pbf?filter=NAZWA=a%00b",
        "/tiles/okr%00egi-wyborcze/10/570/343.pbf",
        "/ogc/collections/biblioteki/items?q=a%00b",
        "/api/indicators/values/?period=%00",
        f"/ogc/collections/biblioteki/items?bbox=0,0,1e30,1e30&bbox-crs={EPSG_2180}",
        "/tiles/granica-miasta/10/570/343.pbf?filter=area_epsg2180_m2>1e400",
    ]
    for path in cases:
        response = requests.get(live_url + path, timeout=30)
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert response.headers["Content-Type"].startswith("application/json"), path
