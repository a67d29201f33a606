"""Resident pages (server side): area slugs, profiles, CSV, compare, the map's data endpoints and
the open data catalogue, against the real Kielce data in PostGIS. Expected figures are read from
the database independently of the code under test."""

import csv
import io
import json
import math
import re
import subprocess
from html import unescape

import mapbox_vector_tile
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone, translation

from indicators.models import Indicator, IndicatorValue
from layers.models import Feature, Layer
from portal import areas as area_lib
from portal import queries
from portal.templatetags.portal import figure
from portal.text import UNIT_FORMS, fold, plural_category, unit_after, unit_forms

pytestmark = pytest.mark.django_db


def en_client() -> Client:
    c = Client()
    c.cookies["django_language"] = "en"
    return c


def _value(code, area_id, period):
    ind = Indicator.objects.get(code=code)
    rows = list(IndicatorValue.objects.filter(indicator=ind, area_id=area_id, period=period))
    preferred = [r for r in rows if r.source == ind.source] or sorted(rows, key=lambda r: r.source)
    return preferred[0].value if preferred else None


def _area(slug):
    area, layer = area_lib.find(slug)
    return area, layer


# ---- text and slugs ------------------------------------------------------------------------

@pytest.mark.parametrize("raw, folded", [
    ("Szkoły", "szkoly"), ("SZKOŁY", "szkoly"), ("szkoly", "szkoly"),
    ("Łódź Żółć Gęś", "lodz zolc ges"), ("OKRĘG 1", "okreg 1"), ("", ""),
])
def test_fold_removes_polish_diacritics_and_case(raw, folded):
    assert fold(raw) == folded


def test_every_area_has_a_unique_readable_slug_from_the_portal_config():
    found = area_lib.all_areas()
    districts = found["okregi-wyborcze"]
    precincts = found["obwody-glosowania"]
    assert [a.slug for a in districts] == [f"okreg-{n}" for n in range(1, 6)]
    expected = {f"obwod-{f.properties['OBWOD']}" for f in
                Feature.objects.filter(layer__slug="obwody-glosowania")}
    assert {a.slug for a in precincts} == expected and len(expected) == 94
    slugs = [a.slug for group in found.values() for a in group]
    assert len(slugs) == len(set(slugs))
    okreg = area_lib.find("okreg-3")[0]
    assert okreg.name("pl") == "Okręg 3" and okreg.name("en") == "District 3"
    assert Feature.objects.get(pk=okreg.id).properties["NR_OKR"] in (3, "3")


def test_area_without_portal_config_is_named_by_its_name_field_with_diacritics_folded():
    layer = Layer.objects.create(slug="osiedla-test", title_pl="Osiedla", role="areas",
                                 name_field="nazwa", geometry_type="MultiPolygon")
    square = "SRID=4326;MULTIPOLYGON((({x} 50.8,{x}1 50.8,{x}1 50.81,{x} 50.8)))"
    Feature.objects.create(layer=layer, properties={"nazwa": "Śródmieście Łódzkie"},
                           geom=square.format(x="20.6"))
    f2 = Feature.objects.create(layer=layer, properties={"nazwa": 7}, geom=square.format(x="20.7"))
    slugs = {a.name_pl: a.slug for a in area_lib.all_areas()["osiedla-test"]}
    assert slugs["Śródmieście Łódzkie"] == "srodmiescie-lodzkie"
    assert slugs["7"] == "osiedla-test-7"  # a bare number is qualified by its layer
    assert area_lib.find("osiedla-test-7")[0].id == f2.id


def test_staff_only_areas_layer_is_not_listed():
    Layer.objects.filter(slug="obwody-glosowania").update(visibility="staff")
    assert "obwody-glosowania" not in area_lib.all_areas()
    assert area_lib.find("obwod-12") is None
    assert Client().get("/districts/obwod-12/").status_code == 404
    assert Client().get("/districts/obwod-12.json").status_code == 404


# ---- ranks and values ----------------------------------------------------------------------

def _tiles_over_kielce(z):
    """XYZ tiles covering the PRG city boundary's bbox (20.5105–20.7206 E, 50.7933–50.9151 N)."""
    def tile(lon, lat):
        n = 2 ** z
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return int((lon + 180) / 360 * n), int(y)
    (x0, y0), (x1, y1) = tile(20.5105, 50.9151), tile(20.7206, 50.7933)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def _tile_ranks(code, areas, period):
    """Ranks as the indicator tiles give them (z=10 tiles covering Kielce)."""
    ranks = {}
    for x, y in _tiles_over_kielce(10):
        r = Client().get(f"/tiles/indicators/{code}/10/{x}/{y}.pbf?areas={areas}&period={period}")
        assert r.status_code in (200, 204)
        if r.content:
            for f in mapbox_vector_tile.decode(r.content)["indicator"]["features"]:
                ranks[f["properties"]["id"]] = f["properties"].get("rank")
    return ranks


@pytest.mark.parametrize("code, areas, period", [
    ("schools-per-km2", "obwody-glosowania", "2022"),
    ("budget-votes", "okregi-wyborcze", "2016"),
    ("accessible-polling-stations", "obwody-glosowania", "2018"),
])
def test_table_ranks_match_the_map_tiles(code, areas, period):
    ind = Indicator.objects.get(code=code)
    rows = queries.ranking(ind, Layer.objects.get(slug=areas), period)
    tile = _tile_ranks(code, areas, period)
    assert len(rows) == Feature.objects.filter(layer__slug=areas).count()
    assert {r["id"]: r["rank"] for r in rows} == {k: tile.get(k) for k in tile} | {
        r["id"]: r["rank"] for r in rows if r["id"] not in tile}
    assert set(tile) == {r["id"] for r in rows}


def test_ranks_follow_polarity_and_ties_share_a_rank():
    ind = Indicator.objects.get(code="area-km2")
    layer = Layer.objects.get(slug="okregi-wyborcze")
    values = {v.area_id: v.value for v in IndicatorValue.objects.filter(
        indicator=ind, area__layer=layer, period="2018")}
    biggest = max(values, key=values.get)
    rows = queries.ranking(ind, layer, "2018")
    assert rows[0]["id"] == biggest and rows[0]["rank"] == 1
    Indicator.objects.filter(pk=ind.pk).update(polarity="lower")
    ind.refresh_from_db()
    rows = queries.ranking(ind, layer, "2018")
    assert rows[0]["id"] == min(values, key=values.get)
    # A tie: two districts given the same value share the rank, the next rank is skipped.
    a, b = sorted(values)[:2]
    IndicatorValue.objects.filter(indicator=ind, area_id__in=[a, b]).update(value=0.5)
    rows = {r["id"]: r["rank"] for r in queries.ranking(ind, layer, "2018")}
    assert rows[a] == rows[b] == 1
    assert sorted(rows.values()) == [1, 1, 3, 4, 5]


def test_area_with_no_value_has_no_rank_and_shows_no_data_never_zero():
    ind = Indicator.objects.get(code="accessible-polling-stations")
    missing = IndicatorValue.objects.filter(indicator=ind, value__isnull=True,
                                            area__layer__slug="obwody-glosowania").first()
    assert missing is not None, "the real data have precincts without the information"
    area = next(a for a in area_lib.all_areas()["obwody-glosowania"] if a.id == missing.area_id)
    row = next(r for r in queries.ranking(ind, Layer.objects.get(slug="obwody-glosowania"),
                                          "2018") if r["id"] == area.id)
    assert row["value"] is None and row["rank"] is None
    html = Client().get(f"/districts/{area.slug}/").content.decode()
    cell = re.search(r'<tr data-code="accessible-polling-stations">.*?</tr>', html, re.S).group(0)
    value_cell = re.search(r'<td class="num value[^"]*"[^>]*>(.*?)</td>', cell, re.S).group(1)
    assert "brak danych" in value_cell and not re.search(r">\s*0\s*<", value_cell)
    assert figure(None) == "brak danych"


# ---- district profile ----------------------------------------------------------------------

def test_profile_lists_every_indicator_with_value_rank_source_and_licence():
    area, layer = _area("okreg-2")
    html = Client().get("/districts/okreg-2/").content.decode()
    assert "<h1>Okręg 2</h1>" in html
    indicators = Indicator.objects.filter(area_layers=layer)
    with_values = indicators.filter(values__area__layer=layer).distinct()
    assert with_values.count() >= 8
    for ind in with_values:
        row = re.search(rf'<tr data-code="{ind.code}">.*?</tr>', html, re.S)
        assert row, ind.code
        assert ind.name_pl in row.group(0)
        assert ind.source in row.group(0).replace("&amp;", "&")
    # Indicators the city lacks data for are named as gaps, not shown as zeros.
    gaps = html.split('id="gaps"')[1] if 'id="gaps"' in html else ""
    for ind in indicators.exclude(pk__in=with_values):
        assert f'data-code="{ind.code}"' not in html and ind.name_pl in gaps
    # budget votes 2017 for this district, as stored, formatted the Polish way
    votes = _value("budget-votes", area.id, "2017")
    row = re.search(r'<tr data-code="budget-votes">.*?</tr>', html, re.S).group(0)
    shown = re.search(r'<td class="num value"[^>]*>\s*([^<]+?)\s*<', row).group(1)
    assert shown.replace("\xa0", "").replace(" ", "") == str(round(votes))
    assert "2016:" in row and "2017:" in row  # the trend over the two editions
    assert re.search(r"\d of 5|\d z 5", row)
    # licences of the input layers, in the page's language, linked to their texts
    assert re.search(r'<a href="https://opendatacommons.org/licenses/odbl/1-0/" rel="license '
                     r'noopener">ODbL 1.0', html)
    assert re.search(r'<a href="https://isap.sejm.gov.pl/[^"]+" rel="license noopener">'
                     r'Informacja sektora publicznego Miasta Kielce', html)
    assert "Public-sector information" not in html
    assert 'href="/districts/okreg-2.csv"' in html


def test_profile_csv_matches_the_database():
    area, layer = _area("obwod-12")
    r = Client().get("/districts/obwod-12.csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert 'filename="obwod-12.csv"' in r["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    expected = {(v.indicator.code, v.period) for v in IndicatorValue.objects.filter(
        area_id=area.id).select_related("indicator")}
    assert {(row["indicator"], row["period"]) for row in rows} == expected
    for row in rows:
        stored = _value(row["indicator"], area.id, row["period"])
        if stored is None:
            assert row["value"] == "" and row["rank"] == ""
        else:
            assert float(row["value"]) == pytest.approx(stored)
        assert row["licence"] and row["source"]
        assert int(row["ranked_areas"]) <= 94


def test_profile_json_carries_trend_and_outline():
    area, _ = _area("okreg-1")
    data = Client().get("/districts/okreg-1.json").json()
    assert data["id"] == area.id and data["areas_count"] == 5
    assert data["outline"]["type"] in ("Polygon", "MultiPolygon")
    budget = next(i for i in data["indicators"] if i["code"] == "budget-projects")
    assert [p["period"] for p in budget["periods"]] == ["2016", "2017"]
    for p in budget["periods"]:
        assert p["value"] == pytest.approx(_value("budget-projects", area.id, p["period"]))
        assert 1 <= p["rank"] <= 5 and p["of"] == 5


@pytest.mark.parametrize("slug", ["okreg-99", "nope", "obwod-0", "OKREG-1", "żółw"])
def test_unknown_area_page_explains_and_offers_the_areas(slug):
    r = Client().get(f"/districts/{slug}/")
    assert r.status_code == 404
    html = r.content.decode()
    if re.fullmatch(r"[-a-zA-Z0-9_]+", slug):  # a slug the address pattern accepts
        assert "Nieznany obszar" in html and 'href="/districts/okreg-1/"' in html


def test_unknown_area_csv_and_json_are_404():
    assert Client().get("/districts/okreg-99.csv").status_code == 404
    r = Client().get("/districts/okreg-99.json")
    assert r.status_code == 404 and "okreg-99" in r.json()["detail"]


def test_districts_index_links_every_area():
    html = Client().get("/districts/").content.decode()
    assert html.count('href="/districts/okreg-') == 5
    assert html.count('href="/districts/obwod-') == 94


# ---- map page and its endpoints ------------------------------------------------------------

def _config(html):
    return json.loads(re.search(r'<script id="map-config" type="application/json">(.*?)</script>',
                                html, re.S).group(1))


def test_map_page_defaults_and_deep_link_state():
    r = Client().get("/?indicator=budget-votes&areas=okregi-wyborcze&period=2016&area=okreg-2"
                     "&layers=biblioteki,defibrylatory")
    assert r.status_code == 200
    cfg = _config(r.content.decode())
    assert cfg["state"] == {"indicator": "budget-votes", "areas": "okregi-wyborcze",
                            "period": "2016", "area": "okreg-2",
                            "layers": ["biblioteki", "defibrylatory"]}
    overlays = {o["slug"] for o in cfg["overlays"]}
    assert {"placowki-oswiatowe", "biblioteki", "defibrylatory", "budzet-obywatelski"} <= overlays
    assert not overlays & {"okregi-wyborcze", "obwody-glosowania", "granica-miasta"}
    assert cfg["basemap"]["url"] == ""  # no basemap in tests; nothing leaves the server
    budget = next(i for i in cfg["indicators"] if i["code"] == "budget-votes")
    assert budget["unit"] == "głosy" and budget["periods"] == ["2016", "2017"]


@pytest.mark.parametrize("query, notice", [
    ("indicator=no-such-thing", 'Nie ma wskaźnika „no-such-thing”'),
    ("indicator=budget-votes&period=1999", "Brak wartości dla okresu „1999”"),
    ("indicator=budget-votes&areas=osiedla", "Nie ma obszarów „osiedla”"),
    ("area=okreg-77", "Nie ma obszaru „okreg-77”"),
    ("layers=granica-miasta,<script>", "Nie ma warstwy mapy „&lt;script&gt;”"),
])
def test_map_page_explains_bad_address_and_falls_back(query, notice):
    r = Client().get(f"/?{query}")
    assert r.status_code == 200
    html = r.content.decode()
    assert notice in html
    cfg = _config(html)
    codes = [i["code"] for i in cfg["indicators"]]
    assert cfg["state"]["indicator"] in codes
    ind = next(i for i in cfg["indicators"] if i["code"] == cfg["state"]["indicator"])
    assert cfg["state"]["period"] in ind["periods"]
    assert cfg["state"]["areas"] in ind["areas"]
    assert cfg["state"]["layers"] == [] and cfg["state"]["area"] in ("", None)


def test_staff_only_layers_stay_off_the_map_and_the_catalogue():
    Layer.objects.filter(slug="defibrylatory").update(visibility="staff")
    cfg = _config(Client().get("/?layers=defibrylatory").content.decode())
    assert "defibrylatory" not in {o["slug"] for o in cfg["overlays"]}
    assert cfg["state"]["layers"] == []
    assert "defibrylatory" not in Client().get("/data/").content.decode()
    assert Client().get("/data/defibrylatory/").status_code == 404
    assert Client().get("/data/?q=defibrylator").content.decode().count('class="dataset"') == 0


def test_map_table_endpoint_lists_every_area_with_the_api_values():
    r = Client().get("/map/table.json?indicator=budget-votes&areas=okregi-wyborcze&period=2017")
    assert r.status_code == 200
    rows = r.json()["rows"]
    api = {v["area_id"]: v["value"] for v in Client().get(
        "/api/indicators/budget-votes/values/?areas=okregi-wyborcze&period=2017").json()}
    assert {row["id"]: row["value"] for row in rows} == api
    assert [row["rank"] for row in rows] == sorted(row["rank"] for row in rows)
    assert rows[0]["value"] == max(api.values())


@pytest.mark.parametrize("query, status", [
    ("indicator=nope", 404), ("indicator=budget-votes&period=1800", 404),
    ("indicator=budget-votes&areas=biblioteki", 404), ("", 404),
])
def test_map_table_endpoint_rejects_unknown_input(query, status):
    r = Client().get(f"/map/table.json?{query}")
    assert r.status_code == status and r.json()["detail"]


def test_area_at_point_finds_the_district_postgis_puts_the_point_in():
    area, layer = _area("okreg-4")
    with connection.cursor() as cur:
        cur.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p "
                    "FROM layers_feature WHERE id = %s) x", [area.id])
        lon, lat = cur.fetchone()
    r = Client().get(f"/districts/at.json?areas=okregi-wyborcze&lat={lat}&lon={lon}")
    assert r.status_code == 200 and r.json()["slug"] == "okreg-4"


@pytest.mark.parametrize("query, status", [
    ("areas=okregi-wyborcze&lat=0&lon=0", 404),
    ("areas=okregi-wyborcze&lat=abc&lon=20", 400),
    ("areas=okregi-wyborcze&lat=95&lon=20", 400),
    ("areas=okregi-wyborcze&lon=20", 400),
    ("areas=biblioteki&lat=50.87&lon=20.63", 404),
    ("areas=&lat=50.87&lon=20.63", 404),
])
def test_area_at_point_bad_input(query, status):
    r = Client().get(f"/districts/at.json?{query}")
    assert r.status_code == status and r.json()["detail"]


# ---- compare -------------------------------------------------------------------------------

def test_compare_two_districts_side_by_side():
    a1, _ = _area("okreg-1")
    a3, _ = _area("okreg-3")
    r = Client().get("/compare/?areas=okreg-1,okreg-3")
    html = r.content.decode()
    assert r.status_code == 200
    row = re.search(r'<tr>\s*<th scope="row">Ważne głosy.*?</tr>', html, re.S).group(0)
    shown = [re.sub(r"\D", "", c) for c in re.findall(
        r'<td class="num"[^>]*>\s*([\d\s\xa0]+)', row)]
    assert shown == [str(round(_value("budget-votes", a.id, "2017"))) for a in (a1, a3)]
    data = json.loads(re.search(r'<script id="compare-data" type="application/json">(.*?)'
                                r'</script>', html, re.S).group(1))
    assert data["areas"] == ["Okręg 1", "Okręg 3"]


def test_compare_mixed_layers_and_bad_input():
    r = Client().get("/compare/?areas=okreg-1&areas=obwod-5,nowhere")
    html = r.content.decode()
    assert r.status_code == 200
    assert "Nie ma obszaru „nowhere”" in html and "Obwód 5" in html
    r = Client().get("/compare/?areas=okreg-1")
    assert "Wybierz co najmniej dwa obszary" in r.content.decode()
    assert Client().get("/compare/?areas=;;,").status_code == 200
    # a NUL is refused before any page (sdi.input_guard), on a page in the page's language
    nul = Client().get("/compare/?areas=%00,;;", HTTP_ACCEPT="text/html")
    assert nul.status_code == 400 and "areas" in nul.content.decode()


# ---- catalogue -----------------------------------------------------------------------------

def _found(html):
    return re.findall(r'<article class="dataset" data-slug="([^"]+)"', html)


@pytest.mark.parametrize("q", ["szkoły", "szkoly", "SZKOŁY", "Szkoly RSPO"])
def test_catalogue_search_folds_diacritics(q):
    assert "placowki-oswiatowe" in _found(Client().get("/data/", {"q": q}).content.decode())


def test_catalogue_lists_every_public_layer_with_counts_and_extent():
    html = Client().get("/data/").content.decode()
    public = Layer.objects.filter(visibility="public")
    assert sorted(_found(html)) == sorted(public.values_list("slug", flat=True))
    for layer in public:
        article = re.search(rf'data-slug="{layer.slug}">.*?</article>', html, re.S).group(0)
        assert f"<dd>{layer.features.count()} (" in article
        assert f'href="/data/{layer.slug}.geojson"' in article
        assert f'href="/data/{layer.slug}.gpkg"' in article


def test_catalogue_filters_and_no_match():
    c = Client()
    assert _found(c.get("/data/", {"theme": "Health"}).content.decode()) == ["defibrylatory"]
    odbl = Layer.objects.get(slug="defibrylatory").licence
    assert _found(c.get("/data/", {"licence": odbl}).content.decode()) == ["defibrylatory"]
    assert "biblioteki" in _found(c.get("/data/", {"keyword": "libraries"}).content.decode())
    html = c.get("/data/", {"q": "zzzz nothing"}).content.decode()
    assert _found(html) == [] and "Żaden zbiór" in html
    assert c.get("/data/", {"theme": "<b>", "licence": "x" * 5000}).status_code == 200


def test_dataset_page_has_schema_org_dataset_markup_and_api_addresses():
    layer = Layer.objects.get(slug="placowki-oswiatowe")
    html = Client().get("/data/placowki-oswiatowe/").content.decode()
    ld = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html,
                              re.S).group(1))
    assert ld["@type"] == "Dataset" and ld["@context"] == "https://schema.org"
    # schema.org's licence is the address of its terms (fixtures/kielce/licences.yaml).
    assert ld["name"] == layer.title_pl and ld["license"] == (
        "https://isap.sejm.gov.pl/isap.nsf/DocDetails.xsp?id=WDU20210001641")
    assert ld["creditText"] == layer.attribution
    assert ld["publisher"]["name"] == layer.publisher
    urls = {d["contentUrl"] for d in ld["distribution"]}
    assert "http://testserver/data/placowki-oswiatowe.geojson" in urls
    assert "http://testserver/data/placowki-oswiatowe.gpkg" in urls
    south, west, north, east = map(float, ld["spatialCoverage"]["geo"]["box"].split())
    assert 50.7 < south < north < 51 and 20.4 < west < east < 20.8
    assert 'value="http://testserver/ogc"' in html
    assert 'value="http://testserver/tiles/placowki-oswiatowe/{z}/{x}/{y}.pbf"' in html
    assert "<code>amenity</code>" in html


def test_json_ld_cannot_break_out_of_its_script_element():
    Layer.objects.filter(slug="biblioteki").update(title_pl="</script><script>alert(1)</script>")
    html = Client().get("/data/biblioteki/").content.decode()
    ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1)
    assert json.loads(ld)["name"] == "</script><script>alert(1)</script>"
    assert "<script>alert(1)" not in html


def test_synthetic_layer_is_labelled_in_the_catalogue():
    Layer.objects.filter(slug="biblioteki").update(synthetic=True)
    html = Client().get("/data/").content.decode()
    article = re.search(r'data-slug="biblioteki">.*?</article>', html, re.S).group(0)
    assert "dane syntetyczne" in article
    ld = Client().get("/data/biblioteki/").content.decode()
    assert "[SYNTHETIC DATA]" in ld


# ---- language ------------------------------------------------------------------------------

def test_pages_are_polish_by_default_and_english_on_request():
    pl = Client().get("/districts/okreg-1/").content.decode()
    en = en_client().get("/districts/okreg-1/").content.decode()
    assert '<html lang="pl">' in pl and "Pobierz tabelę: CSV" in pl
    assert '<html lang="en">' in en and "Download the table: CSV" in en
    assert "<h1>District 1</h1>" in en
    assert "Schools per km²" in en and "per km²" in en
    cfg = _config(en_client().get("/").content.decode())
    assert cfg["strings"]["noData"] == "no data"
    assert _config(Client().get("/").content.decode())["strings"]["noData"] == "brak danych"
    assert "Open data" in en_client().get("/data/").content.decode()
    assert "Otwarte dane" in Client().get("/data/").content.decode()


def test_every_portal_string_is_translated_to_polish():
    """gettext's own msgattrib lists untranslated and fuzzy entries; none may be the portal's."""
    po = "locale/pl/LC_MESSAGES/django.po"
    leftovers = ""
    for flag in ("--untranslated", "--only-fuzzy"):
        leftovers += subprocess.run(["msgattrib", flag, "--no-obsolete", po], check=True,
                                    capture_output=True, text=True).stdout
    assert not re.search(r"^#: .*portal/", leftovers, re.M), leftovers


# ---- discrepancies, basemap ----------------------------------------------------------------

SECOND = "TEST second register (figures made up for this test)"


def _fresh_libraries():
    """Values computed now: a committed edit by an earlier test may have left them stale, and
    "stale" takes precedence over "disputed"."""
    from indicators.computing import compute_indicator  # noqa: PLC0415
    compute_indicator(Indicator.objects.get(code="libraries"))


def _second_source(area, value):
    """A second source for the libraries of one district, through the CSV import (which
    compares the sources and records the discrepancy)."""
    from indicators import importing  # noqa: PLC0415
    ind = Indicator.objects.get(code="libraries")
    number = Feature.objects.get(pk=area.id).properties["NR_OKR"]
    data = f"area_code,period,value,source\n{number},2018,{value},{SECOND}\n"
    importing.import_values(ind, Layer.objects.get(slug="okregi-wyborcze"), data.encode())
    return ind


def _cell_text(html, code):
    """The visible text of an indicator's row of the profile table."""
    row = re.search(rf'<tr data-code="{code}">.*?</tr>', html, re.S).group(0)
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", row)).split())
    return re.sub(r" ([:.,])", r"\1", text)


def test_open_discrepancy_shows_each_source_with_its_figure_and_explanation_pending():
    from indicators.models import Discrepancy  # noqa: PLC0415

    area, _ = _area("okreg-2")
    ind = Indicator.objects.get(code="libraries")
    _fresh_libraries()
    computed = _value("libraries", area.id, "2018")
    _second_source(area, computed + 3)
    record = Discrepancy.objects.get(indicator=ind, area_id=area.id)
    assert record.status == "open"

    data = Client().get("/districts/okreg-2.json").json()
    shown = next(i for i in data["indicators"] if i["code"] == "libraries")["latest"]
    assert shown["status"] == "disputed"
    assert shown["discrepancies"] == [{
        "values": {ind.source: computed, SECOND: computed + 3},
        "figures": [{"source": ind.source, "label": ind.source, "value": computed,
                     "shown": True},
                    {"source": SECOND, "label": SECOND, "value": computed + 3, "shown": False}],
        "difference": 3, "allowed": record.allowed, "reviewed": False, "explanation": "",
        "reviewed_on": None}]

    with translation.override("pl"):
        a, b = figure(computed, ind.decimals), figure(computed + 3, ind.decimals)
    pl = _cell_text(Client().get("/districts/okreg-2/").content.decode(), "libraries")
    assert "Źródła się różnią (2018)" in pl and "Źródła podają różne wartości:" in pl
    assert f"{ind.source}: {a} szt. (ta wartość jest pokazana)" in pl
    assert f"{SECOND}: {b} szt." in pl and "Różnica: 3 szt." in pl
    assert "Wyjaśnienie w przygotowaniu" in pl
    en = _cell_text(en_client().get("/districts/okreg-2/").content.decode(), "libraries")
    assert "Sources disagree (2018)" in en and f"{SECOND}: " in en
    assert "(the figure shown)" in en and "Explanation pending" in en
    # Only the district whose sources disagree.
    other = _cell_text(Client().get("/districts/okreg-1/").content.decode(), "libraries")
    assert "Źródła się różnią" not in other

    # The map: the legend counts the disputed areas, the table marks the area.
    legend = Client().get("/api/indicators/libraries/legend/",
                          {"areas": "okregi-wyborcze", "period": "2018"}).json()
    assert legend["disputed_count"] == 1
    rows = Client().get("/map/table.json?indicator=libraries&areas=okregi-wyborcze"
                        "&period=2018").json()["rows"]
    assert [r["slug"] for r in rows if r["discrepancies"]] == ["okreg-2"]

    # Compare: the same box, folded in the narrow cell, its state in the summary.
    html = Client().get("/compare/?areas=okreg-1,okreg-2").content.decode()
    row = re.search(r'<tr>\s*<th scope="row">Biblioteki.*?</tr>', html, re.S).group(0)
    cells = re.findall(r"<td class=\"num.*?</td>", row, re.S)
    assert "discrepancy" not in cells[0]
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", cells[1])).split())
    assert "Źródła się różnią – wyjaśnienie w przygotowaniu" in text and SECOND in text


def test_reviewed_discrepancy_shows_staffs_explanation_until_the_figures_change(
        django_user_model):
    from indicators import discrepancies  # noqa: PLC0415
    from indicators.models import Discrepancy  # noqa: PLC0415

    area, _ = _area("okreg-2")
    _fresh_libraries()
    computed = _value("libraries", area.id, "2018")
    ind = _second_source(area, computed + 3)
    record = Discrepancy.objects.get(indicator=ind, area_id=area.id)
    staff = django_user_model.objects.create(username="auditor-portal", is_staff=True)
    explanation = "The second register still lists a branch that closed in 2017 & moved."
    discrepancies.review(record, explanation, staff)
    record.refresh_from_db()
    day = timezone.localdate(record.reviewed_at).isoformat()

    shown = next(i for i in Client().get("/districts/okreg-2.json").json()["indicators"]
                 if i["code"] == "libraries")["latest"]["discrepancies"][0]
    assert shown["reviewed"] and shown["explanation"] == explanation
    assert shown["reviewed_on"] == day
    pl = _cell_text(Client().get("/districts/okreg-2/").content.decode(), "libraries")
    assert f"Wyjaśnienie pracowników urzędu miasta ({day}): {explanation}" in pl
    assert "w przygotowaniu" not in pl and SECOND in pl
    en = _cell_text(en_client().get("/districts/okreg-2/").content.decode(), "libraries")
    assert f"Explanation from the city's staff ({day}): {explanation}" in en
    html = Client().get("/compare/?areas=okreg-1,okreg-2").content.decode()
    assert "Źródła się różnią – wyjaśniono" in unescape(html)

    # New figures reopen it: the old explanation is not shown as if it covered them.
    _second_source(area, computed + 5)
    pl = _cell_text(Client().get("/districts/okreg-2/").content.decode(), "libraries")
    assert "Wyjaśnienie w przygotowaniu" in pl and explanation not in pl
    # Agreeing figures resolve it: nothing left to show.
    _second_source(area, computed)
    pl = _cell_text(Client().get("/districts/okreg-2/").content.decode(), "libraries")
    assert "Źródła się różnią" not in pl
    assert Client().get("/api/indicators/libraries/legend/", {
        "areas": "okregi-wyborcze", "period": "2018"}).json()["disputed_count"] == 0


def test_basemap_comes_from_settings_with_its_attribution(settings):
    settings.BASEMAP_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    settings.BASEMAP_ATTRIBUTION = "&copy; OpenStreetMap contributors"
    cfg = _config(Client().get("/").content.decode())
    assert cfg["basemap"] == {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                              "attribution": "&copy; OpenStreetMap contributors"}
    html = Client().get("/data/biblioteki/").content.decode()
    preview = json.loads(re.search(r'<script id="preview-config" type="application/json">'
                                   r'(.*?)</script>', html, re.S).group(1))
    assert preview["basemap"]["url"].startswith("https://tile.openstreetmap.org/")


def test_units_and_themes_are_translated():
    en = _config(en_client().get("/").content.decode())
    pl = _config(Client().get("/").content.decode())
    units_en = {i["code"]: i["unit"] for i in en["indicators"]}
    units_pl = {i["code"]: i["unit"] for i in pl["indicators"]}
    assert units_en["budget-votes"] == "votes" and units_pl["budget-votes"] == "głosy"
    assert units_en["libraries"] == "count" and units_pl["libraries"] == "szt."
    forms_en = {i["code"]: i["unit_forms"] for i in en["indicators"]}
    forms_pl = {i["code"]: i["unit_forms"] for i in pl["indicators"]}
    assert forms_pl["budget-votes"]["many"] == "głosów" and forms_en["budget-votes"] == {
        "one": "vote", "other": "votes"}
    assert forms_pl["libraries"] is None  # an abbreviation: shown as stored
    assert forms_en["libraries"] == {"one": "", "other": ""}  # nothing after a count
    assert "Edukacja" in Client().get("/data/placowki-oswiatowe/").content.decode()
    assert "Education" in en_client().get("/data/placowki-oswiatowe/").content.decode()


@pytest.mark.parametrize(("value", "decimals", "pl", "en"), [
    (1, 0, "one", "one"), (2, 0, "few", "other"), (4, 0, "few", "other"),
    (5, 0, "many", "other"), (0, 0, "many", "other"), (11, 0, "many", "other"),
    (12, 0, "many", "other"), (14, 0, "many", "other"), (21, 0, "many", "other"),
    (22, 0, "few", "other"), (104, 0, "few", "other"), (112, 0, "many", "other"),
    (23716, 0, "many", "other"), (2.5, 1, "other", "other"), (1.5, 2, "other", "other"),
    # As shown: 2.04 at one decimal is "2", 0.999 at two is "1".
    (2.04, 1, "few", "other"), (0.999, 2, "one", "one"), (-3, 0, "few", "other"),
])
def test_plural_category_follows_cldr_for_the_figure_as_shown(value, decimals, pl, en):
    assert plural_category(value, decimals, "pl") == pl
    assert plural_category(value, decimals, "en") == en


def test_units_agree_with_the_number_before_them():
    with translation.override("pl"):
        forms = unit_forms("głosy")
        shown = [unit_after(v, 1, "głosy", forms) for v in (1, 3, 5, 12, 22, 2.5)]
        assert shown == ["głos", "głosy", "głosów", "głosów", "głosy", "głosu"]
        assert unit_after(7, 0, "osoby", unit_forms("osoby")) == "osób"
        assert unit_after(5, 0, "szt.", unit_forms("szt.")) == "szt."
        assert unit_after(None, 0, "głosy", forms) == ""
    with translation.override("en"):
        forms = unit_forms("głosy")
        assert [unit_after(v, 1, "votes", forms) for v in (1, 2, 1.5)] == [
            "vote", "votes", "votes"]
        assert unit_after(3, 0, "count", unit_forms("szt.")) == ""  # "3", not "3 count"
    assert set(UNIT_FORMS["głosy"]["pl"]) == {"one", "few", "many", "other"}


def test_discrepancy_figures_and_difference_carry_the_agreeing_unit():
    from django.template.loader import render_to_string  # noqa: PLC0415

    d = {"figures": [{"source": "A", "value": 5, "shown": True},
                     {"source": "B", "value": 22, "shown": False}],
         "difference": 17, "allowed": None, "reviewed": False}
    with translation.override("pl"):
        html = render_to_string("portal/_discrepancy.html", {
            "d": d, "unit": "głosy", "unit_forms": unit_forms("głosy"),
            "decimals": 0})
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
    assert "A : 5 głosów" in text and "B : 22 głosy" in text
    assert "17 głosów" in text


def test_catalogue_shows_the_quality_score_of_the_layer_checks():
    from indicators.quality import check_layer  # noqa: PLC0415

    layer = Layer.objects.get(slug="obwody-glosowania")
    boundary = Layer.objects.get(slug="granica-miasta")
    expected = check_layer(layer, boundary)["score"]
    html = Client().get("/data/obwody-glosowania/").content.decode()
    shown = re.search(r"<dt>Jakość</dt><dd>([\d,]+) / 100", html).group(1)
    assert float(shown.replace(",", ".")) == pytest.approx(expected)


def test_map_page_without_any_indicator_value_explains_instead_of_failing():
    IndicatorValue.objects.all().delete()
    r = Client().get("/")
    assert r.status_code == 200 and "Brak wskaźników" in r.content.decode()
    assert Client().get("/districts/okreg-1/").status_code == 200
    assert Client().get("/compare/?areas=okreg-1,okreg-2").status_code == 200


def test_big_layers_are_not_scored_while_a_visitor_waits(monkeypatch):
    from portal import catalogue  # noqa: PLC0415

    monkeypatch.setattr(catalogue, "QUALITY_LIVE_MAX_FEATURES", 10)
    Layer.objects.filter(slug="placowki-oswiatowe").update(version=987654)  # nothing cached
    html = Client().get("/data/placowki-oswiatowe/").content.decode()
    assert "<dt>Jakość</dt><dd>jeszcze nie oceniono" in html
