"""Every CSV download in two forms: the plain one (RFC 4180: UTF-8, comma, decimal point, CRLF)
and, with `?excel=1`, the one Excel set to Polish opens by a double click (UTF-8 with a BOM,
semicolon, decimal comma, CRLF); both linked on the pages. Read back by pandas with the
conventions each form announces, so a wrong separator or decimal mark shows as wrong numbers."""

import csv
import io
import re

import pandas as pd
import pytest
from django.contrib.gis.geos import Point
from django.test import Client

from indicators.models import IndicatorValue
from layers import editing
from layers.models import Feature, Layer
from portal import areas as area_lib
from portal import queries as portal_queries
from tests.layers_fixtures import api_client, make_layer

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.layers_fixtures"]

BOM = "\ufeff"
# Every CSV the site serves, each with a query that gives it rows.
DOWNLOADS = [
    "/data/granica-miasta.csv",
    "/data/biblioteki.csv?geometry=lonlat",
    "/api/indicators/area-km2/values/?areas=okregi-wyborcze&f=csv",
    "/api/indicators/values/?indicator=area-km2&f=csv",
    "/districts/okreg-1.csv",
    "/compare.csv?areas=okreg-1,okreg-2,okreg-5",
]


def content(response) -> str:
    data = b"".join(response.streaming_content) if response.streaming else response.content
    return data.decode("utf-8")


def with_excel(url: str, value: str = "1") -> str:
    return url + ("&" if "?" in url else "?") + f"excel={value}"


def plain_frame(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), sep=",", decimal=".", dtype=str, keep_default_na=False)


def excel_frame(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text.removeprefix(BOM)), sep=";", decimal=",", dtype=str,
                       keep_default_na=False)


@pytest.mark.parametrize("url", DOWNLOADS)
def test_plain_and_excel_forms_hold_the_same_table(client, url):
    plain = client.get(url)
    excel = client.get(with_excel(url))
    assert plain.status_code == excel.status_code == 200, (plain.status_code, excel.status_code)
    for response in (plain, excel):
        assert response["Content-Type"].startswith("text/csv")
        assert "charset=utf-8" in response["Content-Type"]
    plain_text, excel_text = content(plain), content(excel)
    # Plain: no BOM, commas; Excel: a BOM, semicolons; both end every line with CRLF.
    assert not plain_text.startswith(BOM) and excel_text.startswith(BOM)
    for text in (plain_text, excel_text):
        assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert excel_text.splitlines()[0].count(";") == plain_text.splitlines()[0].count(",") > 0
    assert 'filename="' in excel["Content-Disposition"]
    assert "-excel.csv" in excel["Content-Disposition"]
    assert excel["Content-Disposition"] != plain["Content-Disposition"]

    a, b = plain_frame(plain_text), excel_frame(excel_text)
    assert list(a.columns) == list(b.columns) and len(a) == len(b) > 0
    numbers = 0
    for column in a.columns:
        for x, y in zip(a[column], b[column], strict=True):
            if re.fullmatch(r"-?\d+\.\d+", x):
                # A decimal in the plain form is the same figure with a comma in Excel's.
                assert y == x.replace(".", ","), (column, x, y)
                numbers += 1
            else:
                assert y == x, (column, x, y)
    assert numbers > 0, "no decimal figure to compare"


def test_excel_form_numbers_are_numbers_to_a_polish_reader(client):
    """pandas with sep=';' and decimal=',' (what Excel in Polish does) reads the figures as
    floats equal to the database's."""
    response = client.get("/api/indicators/area-km2/values/",
                          {"areas": "okregi-wyborcze", "f": "csv", "excel": "1"})
    frame = pd.read_csv(io.StringIO(content(response).removeprefix(BOM)), sep=";", decimal=",")
    assert frame["value"].dtype == float
    stored = dict(IndicatorValue.objects.filter(
        indicator__code="area-km2", area__layer__slug="okregi-wyborcze").values_list(
        "area_id", "value"))
    got = dict(zip(frame["area_id"], frame["value"], strict=True))
    assert got == pytest.approx(stored)


def test_layer_csv_excel_form_keeps_wkt_and_quotes_text(client, editors):
    layer = make_layer("csv-points", editors, n=0)
    editing.create_feature(layer, Point(20.61234567, 50.8712345, srid=4326),
                           {"name": "Sklep; 1, parter \"A\"", "count": 3, "area": 12.5},
                           channel="test")
    editing.create_feature(layer, Point(20.62, 50.88, srid=4326),
                           {"name": "Bez powierzchni", "count": 0}, channel="test")
    response = client.get("/data/csv-points.csv", {"excel": "1"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(content(response).removeprefix(BOM)), delimiter=";"))
    assert rows[0] == ["id", "name", "count", "kind", "open", "since", "area", "wkt"]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["name"] == 'Sklep; 1, parter "A"'
    assert first["area"] == "12,5" and first["count"] == "3"
    # WKT is text with its own syntax: its decimal points stay.
    assert first["wkt"] == "POINT(20.6123457 50.8712345)"
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["area"] == "" and second["count"] == "0"
    lonlat = list(csv.DictReader(io.StringIO(content(client.get(
        "/data/csv-points.csv", {"geometry": "lonlat", "excel": "1"})).removeprefix(BOM)),
        delimiter=";"))
    assert (lonlat[0]["lon"], lonlat[0]["lat"]) == ("20,6123457", "50,8712345")


def test_the_two_forms_of_a_layer_csv_have_their_own_etags(client):
    plain = client.get("/data/biblioteki.csv")
    excel = client.get("/data/biblioteki.csv", {"excel": "1"})
    assert plain["ETag"] != excel["ETag"]
    again = client.get("/data/biblioteki.csv", {"excel": "1"}, headers={
        "If-None-Match": plain["ETag"]})
    assert again.status_code == 200 and content(again).startswith(BOM)
    assert client.get("/data/biblioteki.csv", {"excel": "1"}, headers={
        "If-None-Match": excel["ETag"]}).status_code == 304


@pytest.mark.parametrize("url", DOWNLOADS)
@pytest.mark.parametrize("value", ["yes", "2", "excel", "1.0", "on", "-1"])
def test_odd_excel_values_are_400_naming_the_parameter(client, url, value):
    response = client.get(with_excel(url, value))
    assert response.status_code == 400, (url, value, response.status_code)
    text = content(response)
    assert "excel" in text and repr(value) in text


@pytest.mark.parametrize("url", DOWNLOADS)
def test_excel_given_twice_differently_is_400(client, url):
    response = client.get(with_excel(url) + "&excel=0")
    assert response.status_code == 400 and "given twice" in content(response)


@pytest.mark.parametrize("url", DOWNLOADS)
@pytest.mark.parametrize("value", ["0", "false", ""])
def test_excel_off_is_the_plain_form(client, url, value):
    assert content(client.get(with_excel(url, value))) == content(client.get(url))


def test_excel_applies_to_csv_only_in_the_indicator_api(client):
    response = client.get("/api/indicators/area-km2/values/", {"excel": "1"})
    assert response.status_code == 400 and "f=csv" in response.json()["detail"]


def test_compare_csv_lists_each_area_and_indicator(client):
    slugs = ["okreg-1", "okreg-3"]
    response = client.get("/compare.csv", {"areas": ",".join(slugs)})
    assert response.status_code == 200
    assert 'filename="compare-okreg-1-okreg-3.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(content(response))))
    areas = {s: area_lib.find(s)[0] for s in slugs}
    assert {r["area"] for r in rows} == set(slugs)
    for row in rows:
        area = areas[row["area"]]
        stored = list(IndicatorValue.objects.filter(
            indicator__code=row["indicator"], area_id=area.id, period=row["period"]))
        if row["value"] == "":
            assert all(v.value is None for v in stored)
        else:
            assert float(row["value"]) in [pytest.approx(v.value) for v in stored]
    # Every indicator of the compare table is there, for both areas.
    shown = [r["code"] for r in portal_queries.compare(list(areas.values()))]
    assert shown and sorted({r["indicator"] for r in rows}) == sorted(shown)
    assert len(rows) == 2 * len(shown)


@pytest.mark.parametrize("query", ["", "?areas=okreg-1", "?areas=nope,okreg-99"])
def test_compare_csv_needs_two_known_areas(client, query):
    response = client.get("/compare.csv" + query)
    assert response.status_code == 400
    assert "two" in content(response)


# --- the links on the pages -----------------------------------------------------------------

def links(html: str) -> list[tuple[str, str]]:
    """(link text, href) of the page's links."""
    return [(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip(), href.replace("&amp;", "&"))
            for href, text in re.findall(r'<a [^>]*href="([^"]+)"[^>]*>(.*?)</a>', html, re.S)]


@pytest.mark.parametrize("lang,excel_label", [("pl", "CSV (Excel)"), ("en", "CSV (Excel)")])
def test_every_page_with_a_csv_link_offers_the_excel_form_next_to_it(lang, excel_label):
    c = Client()
    c.cookies["django_language"] = lang
    pages = {
        "/data/biblioteki/": "/data/biblioteki.csv",
        "/data/": "/data/biblioteki.csv",
        "/districts/okreg-1/": "/districts/okreg-1.csv",
        "/compare/?areas=okreg-1,okreg-2": "/compare.csv?areas=okreg-1,okreg-2",
    }
    for page, plain in pages.items():
        html = c.get(page).content.decode()
        found = links(html)
        hrefs = {href for _, href in found}
        assert plain in hrefs, (page, plain)
        assert with_excel(plain) in hrefs, (page, with_excel(plain))
        assert any(text.endswith(excel_label) and href == with_excel(plain)
                   for text, href in found), page
        # Next to each other: the Excel link follows the plain one.
        assert html.index(f'href="{with_excel(plain).replace("&", "&amp;")}"') > \
            html.index(f'href="{plain.replace("&", "&amp;")}"')


def test_excel_link_explains_itself_in_the_visitors_language():
    pl = Client().get("/data/biblioteki/").content.decode()
    assert "średnik" in pl.lower()
    en = Client()
    en.cookies["django_language"] = "en"
    assert "semicolon" in en.get("/data/biblioteki/").content.decode().lower()


def test_the_layer_api_links_both_csv_forms(layer):
    body = api_client().get("/api/layers/test-points/").json()
    assert body["links"]["csv"].endswith("/data/test-points.csv")
    assert body["links"]["csv_excel"].endswith("/data/test-points.csv?excel=1")


def test_compare_page_has_a_print_button_without_inline_script():
    html = Client().get("/compare/?areas=okreg-1,okreg-2").content.decode()
    assert re.search(r'<button[^>]*data-print', html)
    assert "onclick" not in html
    # (tests/e2e/test_portal_pages.py prints it in Chromium)


def test_layer_csv_still_streams(client):
    response = client.get("/data/biblioteki.csv", {"excel": "1"})
    assert response.streaming
    assert Layer.objects.get(slug="biblioteki").features.count() == \
        len(content(response).removeprefix(BOM).strip().split("\r\n")) - 1
    assert Feature.objects.exists()
