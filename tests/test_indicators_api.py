"""The indicator API (filters, CSV/JSON export, legend options, writes and their permissions),
the staff pages in the admin, and indicator values as an OGC API collection (Django client and
GDAL against the live server)."""

import csv
import io
import json
import re
import subprocess

import mapclassify
import numpy as np
import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token

from indicators.models import Discrepancy, Indicator, IndicatorValue
from layers.models import Layer

pytestmark = pytest.mark.django_db

DISTRICTS = "okregi-wyborcze"
PRECINCTS = "obwody-glosowania"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create(username="gis", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def token_headers(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def csv_upload(text: str, name="values.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


# --- reading --------------------------------------------------------------------------------

def test_indicator_list_and_detail_carry_the_registry(client):
    listing = {i["code"]: i for i in client.get("/api/indicators/").json()}
    assert len(listing) == Indicator.objects.count()
    votes = listing["budget-votes"]
    assert votes["name"] == "Ważne głosy na projekty budżetu obywatelskiego"
    assert votes["name_en"] == "Valid votes for participatory budget projects"
    assert votes["city_layer"] == "granica-miasta" and votes["licence"]
    assert listing["bike-racks-per-km2"]["periods"] == []
    detail = client.get("/api/indicators/population/").json()
    assert detail["theme"] == "Population and social conditions"
    assert detail["eurostat_reference"].startswith("Eurostat City Statistics DE1001V")
    assert detail["wanted_datasets"] == ["population-by-area"]
    aed = client.get("/api/indicators/aed-coverage-500m/").json()
    assert aed["inputs"] == [{"layer": "defibrylatory", "exists": True,
                              "licence": "ODbL 1.0 (Open Database License)",
                              "attribution": "© OpenStreetMap contributors"}]
    assert client.get("/api/indicators/nope/").status_code == 404


def test_every_kielce_indicator_has_a_source_and_the_licence_of_its_input_layers():
    for indicator in Indicator.objects.all():
        assert indicator.source and indicator.licence, indicator.code
        for slug in indicator.method.get("layer", "") and [indicator.method["layer"]]:
            layer = Layer.objects.filter(slug=slug).first()
            if layer is not None:
                assert layer.licence in indicator.licence, indicator.code
    assert Indicator.objects.exclude(values__value=None).distinct().count() >= 8


def test_values_filter_by_indicator_layer_area_and_period_in_json_and_csv(client):
    base = "/api/indicators/values/"
    rows = client.get(base, {"indicator": "budget-votes", "areas": DISTRICTS,
                             "period": "2017"}).json()
    assert len(rows) == 5 and {r["period"] for r in rows} == {"2017"}
    area_id = rows[0]["area_id"]
    one = client.get(base, {"indicator": "budget-votes", "area": area_id}).json()
    assert [r["period"] for r in one] == ["2016", "2017"]
    every = client.get(base, {"area": area_id}).json()
    assert {r["indicator"] for r in every} >= {"budget-votes", "schools-per-km2", "area-km2"}
    missing = client.get(base, {"status": "missing", "indicator": "population"}).json()
    assert len(missing) == 100 and all(r["value"] is None for r in missing)

    response = client.get(base, {"indicator": "budget-votes", "areas": DISTRICTS,
                                 "period": "2017", "f": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(int(r["area_id"]), float(r["value"])) for r in parsed] == \
        [(r["area_id"], r["value"]) for r in rows]


@pytest.mark.parametrize("query,status,message", [
    ({"area": "abc"}, 400, "must be an integer"),
    ({"status": "lost"}, 400, "`status` must be one of"),
    ({"f": "xml"}, 400, "json or csv"),
    ({"areas": "no-such-layer"}, 404, "unknown areas layer"),
    ({"indicator": "nope"}, 404, "unknown indicator"),
])
def test_values_endpoint_refuses_bad_filters_precisely(client, query, status, message):
    response = client.get("/api/indicators/values/", query)
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_city_values_are_reachable_but_never_the_default_layer(client):
    city = client.get("/api/indicators/schools-per-km2/values/",
                      {"areas": "granica-miasta"}).json()
    assert len(city) == 1 and city[0]["area_name"] == "Kielce"
    default = client.get("/api/indicators/schools-per-km2/values/").json()
    assert len(default) == 5


def _area_ids(slug: str) -> list[int]:
    return list(Layer.objects.get(slug=slug).features.order_by("id").values_list("id", flat=True))


@pytest.mark.parametrize("areas", [DISTRICTS, PRECINCTS])
def test_an_indicator_waiting_for_data_lists_every_area_as_missing(client, areas):
    """The contract: values carry status `missing`. An indicator whose input layer does not
    exist yet answers one missing row per area (as the map shows "no data"), with the reason
    and the wanted dataset that would fill it (as the gap matrix names them)."""
    response = client.get("/api/indicators/bike-racks-per-km2/values/", {"areas": areas})
    assert response.status_code == 200, response.content
    rows = response.json()
    assert [r["area_id"] for r in rows] == _area_ids(areas)
    for row in rows:
        assert row["value"] is None and row["status"] == "missing"
        assert row["period"] is None and row["area_name"]
        assert "stojaki-rowerowe" in row["note"] and "does not exist" in row["note"]
        assert row["fill_with"] == ["bike-racks"]
    gaps = client.get("/api/audit/gaps/", {"indicator": "bike-racks-per-km2"}).json()
    assert gaps["indicators"][0]["fill_with"] == ["bike-racks"]
    table = list(csv.DictReader(io.StringIO(client.get(
        "/api/indicators/bike-racks-per-km2/values/",
        {"areas": areas, "f": "csv"}).content.decode())))
    assert len(table) == len(rows) and {r["status"] for r in table} == {"missing"}
    assert {r["value"] for r in table} == {""}


def test_an_indicator_waiting_for_data_has_a_legend_of_no_data_only(client):
    legend = client.get("/api/indicators/bike-racks-per-km2/legend/").json()
    assert legend["breaks"] == [] and legend["classes"] == []
    assert legend["no_data_count"] == 5 and legend["period"] is None


def test_an_area_without_a_value_row_is_listed_as_missing(client):
    """Rows can be absent for some areas (an area added after the computation, a value deleted):
    the listing still has one row per area, so a client never mistakes absence for nothing."""
    first, *_ = _area_ids(DISTRICTS)
    IndicatorValue.objects.filter(indicator__code="schools-per-km2", area_id=first).delete()
    rows = client.get("/api/indicators/schools-per-km2/values/", {"areas": DISTRICTS}).json()
    assert [r["area_id"] for r in rows] == _area_ids(DISTRICTS)
    gone = rows[0]
    assert gone["value"] is None and gone["status"] == "missing" and gone["period"] == "2022"
    assert gone["note"] and gone["computed_at"] is None
    assert all(r["status"] != "missing" for r in rows[1:])
    one = client.get("/api/indicators/schools-per-km2/values/",
                     {"areas": DISTRICTS, "area": first}).json()
    assert one == [gone]


@pytest.mark.parametrize("query,message", [
    ({"period": "2020"}, "no values for period '2020'"),
    ({"areas": "biblioteki"}, "'biblioteki'"),
    ({"area": "1"}, "no area 1 in okregi-wyborcze"),
])
def test_missing_rows_do_not_invent_periods_or_areas(client, query, message):
    response = client.get("/api/indicators/bike-racks-per-km2/values/", query)
    assert response.status_code == 404 and message in response.json()["detail"]


def test_record_listings_hold_stored_values_only(client):
    """`/api/indicators/values/` and the OGC collection list stored values (each an item with
    its own id): an indicator waiting for data has none there; its gaps are in the gap matrix
    and the per-indicator listing."""
    assert client.get("/api/indicators/values/", {"indicator": "bike-racks-per-km2"}).json() == []
    items = client.get("/ogc/collections/indicator-values/items",
                       {"indicator": "bike-racks-per-km2"}).json()
    assert items["numberMatched"] == 0
    collection = client.get("/ogc/collections/indicator-values", {"f": "json"}).json()
    assert "/api/audit/gaps/" in collection["description"]


def test_indicator_api_links_its_tilejson_per_areas_layer(client):
    listing = {i["code"]: i for i in client.get("/api/indicators/").json()}
    detail = client.get("/api/indicators/aed-coverage-500m/").json()
    for doc in (listing["aed-coverage-500m"], detail):
        links = doc["tilejson"]
        assert set(links) == set(doc["area_layers"]) | {doc["city_layer"]}
        for slug, url in links.items():
            assert url == f"http://testserver/tiles/indicators/aed-coverage-500m.json?areas={slug}"
            assert client.get(url).status_code == 200


def test_staff_only_areas_layers_are_invisible_everywhere(client):
    Layer.objects.filter(slug=PRECINCTS).update(visibility="staff")
    listing = {i["code"]: i for i in client.get("/api/indicators/").json()}
    assert PRECINCTS not in listing["libraries"]["area_layers"]
    assert client.get("/api/indicators/libraries/values/",
                      {"areas": PRECINCTS}).status_code == 404
    assert client.get("/api/indicators/libraries/legend/",
                      {"areas": PRECINCTS}).status_code == 404
    assert client.get("/api/indicators/values/", {"areas": PRECINCTS}).status_code == 404
    every = client.get("/api/indicators/values/", {"indicator": "libraries"}).json()
    assert {r["areas"] for r in every} == {DISTRICTS, "granica-miasta"}
    items = client.get("/ogc/collections/indicator-values/items",
                       {"areas": PRECINCTS, "limit": 5}).json()
    assert items["numberMatched"] == 0
    gaps = client.get("/api/audit/gaps/", {"indicator": "libraries"}).json()
    assert PRECINCTS not in {la["slug"] for la in gaps["indicators"][0]["layers"]}


def test_legend_classification_options_follow_mapclassify(client):
    url = "/api/indicators/kindergartens-per-km2/legend/"
    values = [r["value"] for r in client.get(
        "/api/indicators/kindergartens-per-km2/values/", {"areas": PRECINCTS}).json()]
    for name, classifier in (("natural_breaks", mapclassify.FisherJenks),
                             ("equal_interval", mapclassify.EqualInterval),
                             ("quantiles", mapclassify.Quantiles)):
        legend = client.get(url, {"areas": PRECINCTS, "classification": name, "k": 4}).json()
        expected = sorted(set(float(b) for b in classifier(np.array(values), k=4).bins))
        assert legend["breaks"] == pytest.approx(expected)
        assert sum(c["count"] for c in legend["classes"]) == len(values)
    jenks = client.get(url, {"areas": PRECINCTS, "classification": "jenks", "k": 4}).json()
    assert jenks["classification"] == "natural_breaks"


def test_legend_colours_are_colorbrewer_oriented_by_polarity(client):
    higher = client.get("/api/indicators/schools-per-km2/legend/",
                        {"areas": PRECINCTS, "scheme": "RdYlGn", "k": 5,
                         "classification": "equal_interval"}).json()
    # ColorBrewer RdYlGn, 5 classes: red for the worst, green for the best.
    assert [c["colour"] for c in higher["classes"]] == [
        "#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"]
    assert higher["scheme_type"] == "diverging"
    Indicator.objects.filter(code="schools-per-km2").update(polarity="lower")
    lower = client.get("/api/indicators/schools-per-km2/legend/",
                       {"areas": PRECINCTS, "scheme": "RdYlGn", "k": 5,
                         "classification": "equal_interval"}).json()
    assert [c["colour"] for c in lower["classes"]] == [
        "#1a9641", "#a6d96a", "#ffffbf", "#fdae61", "#d7191c"]
    default = client.get("/api/indicators/schools-per-km2/legend/",
                         {"areas": PRECINCTS}).json()
    assert default["scheme"] == "OrRd" and default["scheme_type"] == "sequential"


@pytest.mark.parametrize("query,message", [
    ({"k": 12}, "between 3 and 9"),
    ({"k": "many"}, "must be an integer"),
    ({"classification": "headtail"}, "unknown classification"),
    ({"scheme": "Rainbow"}, "unknown ColorBrewer scheme"),
])
def test_legend_refuses_bad_options(client, query, message):
    response = client.get("/api/indicators/schools-per-km2/legend/", query)
    assert response.status_code == 400 and message in response.json()["detail"]


# --- writing --------------------------------------------------------------------------------

def test_recompute_needs_the_right_permission(client, django_user_model, staff):
    url = "/api/indicators/libraries/recompute/"
    assert client.post(url).status_code == 401
    reader = django_user_model.objects.create(username="reader")
    assert client.post(url, **token_headers(reader)).status_code == 403
    response = client.post(url, **token_headers(staff))
    assert response.status_code == 200 and response.json()["values"] == 100
    IndicatorValue.objects.filter(indicator__code="libraries").update(status="stale")
    everything = client.post("/api/indicators/recompute/?stale=1", **token_headers(staff))
    assert everything.json()["recomputed"] == {"libraries": 100}


def test_import_through_the_api_reports_row_errors_and_then_imports(client, django_user_model):
    url = f"/api/indicators/population/import/?areas={DISTRICTS}"
    good = "area_code,period,value,source\n1,2021,21000,TEST figures (not real)\n"
    assert client.post(url, {"file": csv_upload(good)}).status_code == 401
    importer = django_user_model.objects.create(username="importer")
    headers = token_headers(importer)
    assert client.post(url, {"file": csv_upload(good)}, **headers).status_code == 403
    importer.user_permissions.add(Permission.objects.get(codename="add_indicatorvalue"))

    bad = client.post(url, {"file": csv_upload(good + "7,2021,x,\n")}, **headers)
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {"row": 3, "field": "area_code", "value": "7",
         "reason": "no area with NR_OKR = '7' in layer okregi-wyborcze"},
        {"row": 3, "field": "value", "value": "x", "reason": "not a number"},
        {"row": 3, "field": "source", "value": "",
         "reason": "required: say where the figure comes from"}]
    assert not IndicatorValue.objects.filter(indicator__code="population",
                                             origin="imported").exists()
    assert client.post(url, {}, **headers).status_code == 400
    assert client.post("/api/indicators/population/import/?areas=nope",
                       {"file": csv_upload(good)}, **headers).status_code == 404

    ok = client.post(url, {"file": csv_upload(good)}, **headers)
    assert ok.status_code == 201 and ok.json()["created"] == 1
    value = IndicatorValue.objects.get(indicator__code="population", origin="imported")
    assert value.value == 21000 and value.imported_by == importer


def test_reviewing_a_discrepancy_through_the_api(client, staff):
    libraries = Indicator.objects.get(code="libraries")
    computed = IndicatorValue.objects.filter(indicator=libraries,
                                             area__layer__slug=DISTRICTS).first()
    from indicators.importing import import_values
    code = computed.area.properties["NR_OKR"]
    import_values(libraries, Layer.objects.get(slug=DISTRICTS),
                  f"area_code,period,value,source\n{code},2018,{computed.value + 5},"
                  "TEST register\n".encode())
    record = Discrepancy.objects.get(indicator=libraries)
    url = f"/api/indicators/discrepancies/{record.id}/review/"
    assert client.post(url, {"explanation": "x"}, content_type="application/json"
                       ).status_code == 401
    empty = client.post(url, {"explanation": " "}, content_type="application/json",
                        **token_headers(staff))
    assert empty.status_code == 400 and "explanation" in empty.json()
    done = client.post(url, {"explanation": "Different counting date."},
                       content_type="application/json", **token_headers(staff))
    assert done.status_code == 200 and done.json()["status"] == "reviewed"
    assert client.post("/api/indicators/discrepancies/999999/review/", {},
                       content_type="application/json",
                       **token_headers(staff)).status_code == 404


def test_audit_json_endpoints(client):
    inventory = client.get("/api/audit/inventory/").json()
    assert inventory["summary"]["missing"] >= 4
    quality = client.get("/api/audit/quality/").json()
    assert {la["layer"] for la in quality["layers"]} >= {"biblioteki", "placowki-oswiatowe"}
    gaps = client.get("/api/audit/gaps/").json()
    assert gaps["totals"]["missing"] > 0 and len(gaps["indicators"]) == Indicator.objects.count()
    assert client.get("/api/audit/gaps/", {"indicator": "nope"}).status_code == 404


# --- staff pages ----------------------------------------------------------------------------

@pytest.mark.parametrize("page", ["audit/inventory/", "audit/quality/", "audit/gaps/",
                                  "import/"])
def test_staff_pages_need_a_login(client, page):
    response = client.get(f"/admin/indicators/indicator/{page}")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_gap_page_shows_the_missing_datasets_in_polish(staff_client):
    html = staff_client.get("/admin/indicators/indicator/audit/gaps/").content.decode()
    for title in ("Liczba mieszkańców według okręgów i obwodów", "Stojaki rowerowe",
                  "Przystanki komunikacji miejskiej (ZTM Kielce)", "Tereny zieleni"):
        assert title in html
    assert "Luki informacyjne" in html  # the page title, translated
    assert re.search(r'data-indicator="population".*?st-missing">100<', html, re.S)


def test_inventory_and_quality_pages_list_every_layer(staff_client):
    # The Kielce copies are never updated (city.yaml); give one a schedule to fall behind.
    Layer.objects.filter(slug="placowki-oswiatowe").update(update_frequency="monthly")
    inventory = staff_client.get("/admin/indicators/indicator/audit/inventory/")
    quality = staff_client.get("/admin/indicators/indicator/audit/quality/")
    for slug in Layer.objects.values_list("slug", flat=True):
        assert f'data-slug="{slug}"' in inventory.content.decode()
        assert f'data-layer="{slug}"' in quality.content.decode()
    assert 'data-slug="placowki-oswiatowe" data-status="overdue"' in inventory.content.decode()


def test_admin_import_page_lists_errors_and_imports_nothing(staff_client):
    population = Indicator.objects.get(code="population")
    districts = Layer.objects.get(slug=DISTRICTS)
    response = staff_client.post("/admin/indicators/indicator/import/", {
        "indicator": population.pk, "areas": districts.pk, "code_field": "",
        "file": csv_upload("area_code,period,value,source\n1,2021,-3,TEST\n")})
    assert response.status_code == 200
    assert "below the minimum 0" in response.content.decode()
    assert not IndicatorValue.objects.filter(indicator=population, origin="imported").exists()
    response = staff_client.post("/admin/indicators/indicator/import/", {
        "indicator": population.pk, "areas": districts.pk, "code_field": "",
        "file": csv_upload("area_code,period,value,source\n1,2021,30,TEST\n")})
    assert 'id="import-result"' in response.content.decode()


def test_admin_refuses_an_invalid_method_and_a_review_without_explanation(staff_client):
    indicator = Indicator.objects.get(code="libraries")
    url = f"/admin/indicators/indicator/{indicator.pk}/change/"
    form = {"code": "libraries", "name_pl": indicator.name_pl, "name_en": indicator.name_en,
            "description_pl": "", "description_en": "", "unit": "szt.",
            "theme": "Sport and culture", "iso_reference": "", "eurostat_reference": "",
            "polarity": "higher", "order": 5, "methodology": "",
            "method": json.dumps({"kind": "count", "layer": "biblioteki", "period": "2018",
                                  "distance": 5}),
            "area_layers": [Layer.objects.get(slug=DISTRICTS).pk], "city_wide": "on",
            "source": "x", "licence": "y", "decimals": 0, "classes": 5,
            "classification": "quantiles", "colour_scheme": "", "tolerance": 0,
            "tolerance_relative": 0}
    refused = staff_client.post(url, form)
    assert refused.status_code == 200 and "unknown option(s) for count: distance" in \
        refused.content.decode()
    form["method"] = json.dumps({"kind": "count", "layer": "biblioteki", "period": "2018"})
    assert staff_client.post(url, form).status_code == 302
    indicator.refresh_from_db()
    assert indicator.source == "x"

    from indicators.importing import import_values
    import_values(indicator, Layer.objects.get(slug=DISTRICTS),
                  b"area_code,period,value,source\n1,2018,40,TEST register\n")
    record = Discrepancy.objects.get(indicator=indicator)
    review = f"/admin/indicators/discrepancy/{record.pk}/change/"
    response = staff_client.post(review, {"status": "reviewed", "explanation": ""})
    assert response.status_code == 200 and "Write why" in response.content.decode()
    assert staff_client.post(review, {"status": "reviewed",
                                      "explanation": "Counted differently."}).status_code == 302
    record.refresh_from_db()
    assert record.status == "reviewed" and record.reviewed_by is not None


# --- OGC API --------------------------------------------------------------------------------

def test_indicator_values_are_an_ogc_collection(client):
    collections = {c["id"] for c in client.get("/ogc/collections").json()["collections"]}
    assert "indicator-values" in collections
    items = client.get("/ogc/collections/indicator-values/items", {
        "indicator": "schools-per-km2", "areas": DISTRICTS, "period": "2022",
        "limit": 50}).json()
    api = {r["area_id"]: r["value"] for r in client.get(
        "/api/indicators/schools-per-km2/values/", {"areas": DISTRICTS}).json()}
    assert items["numberMatched"] == 5
    assert {f["properties"]["area_id"]: f["properties"]["value"]
            for f in items["features"]} == api
    assert all(f["geometry"]["type"] == "MultiPolygon" for f in items["features"])
    one = items["features"][0]
    item = client.get(f"/ogc/collections/indicator-values/items/{one['id']}").json()
    assert item["properties"] == one["properties"]
    assert client.get("/ogc/collections/indicator-values/items/999999999").status_code == 404
    assert client.get("/ogc/collections/indicator-values/items/abc").status_code == 404
    bad = client.get("/ogc/collections/indicator-values/items", {"area_id": "x"})
    assert bad.status_code == 400


def test_gdal_reads_the_indicator_collection(live_url):
    result = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-geom=NO", "-where", "indicator = 'area-km2'",
         f"OAPIF:{live_url}/ogc", "indicator-values"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    areas = [float(v) for v in re.findall(r"^\s+value \(Real\) = (\S+)$", result.stdout, re.M)]
    expected = IndicatorValue.objects.filter(indicator__code="area-km2",
                                             area__layer__visibility="public")
    assert len(areas) == expected.count()
    assert sorted(areas) == pytest.approx(sorted(expected.values_list("value", flat=True)),
                                          rel=1e-9)
