"""The Kielce city config loads every spatial file correctly, idempotently and honestly."""

import json
import re
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import connection
from pyproj import Transformer

from layers import history
from layers.city import CityLoadError, find_city_dir, load_city, read_config
from layers.models import Feature, FeatureHistory, ImportRun, Layer

pytestmark = pytest.mark.django_db

SOURCES_MD = Path(read_config("kielce")[1]) / "SOURCES.md"


def test_every_spatial_file_is_a_layer():
    config, data_dir = read_config("kielce")
    files = {s["file"] for e in config["layers"] for s in e["sources"]}
    spatial = {p.name for p in data_dir.iterdir() if p.suffix in (".geojson", ".csv")}
    assert files == spatial
    assert Layer.objects.count() == len(config["layers"])


@pytest.mark.parametrize("slug,count", [
    ("granica-miasta", 1), ("okregi-wyborcze", 5), ("obwody-glosowania", 94),
    ("lokale-wyborcze", 94), ("biblioteki", 16), ("placowki-oswiatowe", 340),
    ("defibrylatory", 30), ("budzet-obywatelski", 127 + 48),
])
def test_feature_counts_match_sources(slug, count):
    assert Feature.objects.filter(layer__slug=slug).count() == count


def test_every_feature_lies_inside_the_city_boundary():
    # EPSG:2178 sources read as WGS84 would land near the North Pole / off the map; a 30 m
    # tolerance covers the districts' own boundary drawn on a different survey.
    with connection.cursor() as cur:
        cur.execute("""
            SELECT l.slug, count(*) FROM layers_feature f JOIN layers_layer l ON l.id = f.layer_id,
              (SELECT geom FROM layers_feature b JOIN layers_layer bl ON bl.id = b.layer_id
               WHERE bl.slug = 'granica-miasta') city
            WHERE NOT ST_DWithin(f.geom::geography, city.geom::geography, 0)
              AND NOT ST_Within(f.geom, ST_Buffer(city.geom::geography, 30)::geometry)
            GROUP BY l.slug""")
        assert cur.fetchall() == []


def test_2178_reprojection_agrees_with_the_files_own_wgs84_columns():
    # The budget CSVs carry both EPSG:2178 X/Y (used) and WGS84 LAT/LNG (dropped): they must
    # agree to within a few metres after our reprojection.
    import csv

    config, data_dir = read_config("kielce")
    with open(data_dir / "budzet-obywatelski-2017.csv", encoding="utf-8") as fh:
        first = next(csv.DictReader(fh))
    with connection.cursor() as cur:
        cur.execute("""
            SELECT ST_Distance(f.geom::geography,
                               ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)
            FROM layers_feature f JOIN layers_layer l ON l.id = f.layer_id
            WHERE l.slug = 'budzet-obywatelski' AND f.properties->>'nazwa' = %s
              AND f.properties->>'rok' = '2017'""",
                    [float(first["LNG"]), float(first["LAT"]), first["NAZWA"]])
        (distance,) = cur.fetchone()
    assert distance < 5


def test_invalid_precincts_were_repaired_and_noted():
    layer = Layer.objects.get(slug="obwody-glosowania")
    assert len(layer.load_report["repaired"]) == 2
    assert "Self-intersection" in layer.load_report["repaired"][0]["reason"]
    assert "repaired on load with ST_MakeValid" in layer.quality_notes_en
    assert "naprawione przy wczytaniu (ST_MakeValid)" in layer.quality_notes
    invalid = Feature.objects.filter(layer=layer).extra(where=["NOT ST_IsValid(geom)"]).count()
    assert invalid == 0


def test_areas_layers_are_the_districts_and_precincts():
    assert set(Layer.objects.filter(role="areas").values_list("slug", flat=True)) == {
        "okregi-wyborcze", "obwody-glosowania"}


def test_licence_and_attribution_are_copied_from_sources_md():
    text = re.sub(r"\s+", " ", SOURCES_MD.read_text(encoding="utf-8"))
    for layer in Layer.objects.all():
        assert layer.licence and layer.attribution, layer.slug
        assert layer.attribution.strip('"') in text.replace("**", ""), layer.slug


def test_second_load_is_idempotent():
    before = {x.slug: (x.version, x.features.count()) for x in Layer.objects.all()}
    call_command("load_city", "kielce", verbosity=0)
    after = {x.slug: (x.version, x.features.count()) for x in Layer.objects.all()}
    assert after == before


def test_config_is_plain_yaml():
    raw = yaml.safe_load((find_city_dir("kielce") / "city.yaml").read_text(encoding="utf-8"))
    assert raw["city"]["teryt"] == "2661011"


# --- a city's files take the import path ---------------------------------------------------------

def _city(tmp_path, settings, layers: str, files: dict) -> str:
    """A city `proba` in tmp_path: its config (the `layers:` part given) and its files."""
    folder = tmp_path / "proba"
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content, encoding="utf-8")
    (folder / "city.yaml").write_text("city: {name: Próba, data_dir: proba}\nlayers:\n" + layers,
                                      encoding="utf-8")
    settings.CITY_DATA_DIRS = [str(tmp_path)]
    return "proba"


def _points(coords, **props) -> str:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(c)},
         "properties": {"n": i, **props}} for i, c in enumerate(coords)]})


LAYER = """  - slug: proba-punkty
    title_pl: 'Dane syntetyczne: próba'
    geometry_type: Point
    sources:
"""


def test_a_city_file_not_in_its_declared_crs_is_refused_naming_file_and_row(tmp_path, settings):
    """The classic mistake the area-of-use check catches: degrees declared as PL-2000 metres.
    (The city loader's own check used to accept them: they transform to somewhere on Earth.)"""
    city = _city(tmp_path, settings, LAYER + "      - {file: punkty.geojson, srs: 'EPSG:2178'}\n",
                 {"punkty.geojson": _points([(20.61, 50.86), (7473914.7, 5638645.4)])})
    with pytest.raises(CityLoadError) as refusal:
        load_city(city)
    assert refusal.value.errors == [
        "punkty.geojson row 1: geometry: coordinates outside the area of use of EPSG:2178 "
        "(20.610 50.860): wrong CRS?"]
    assert not Layer.all_objects.filter(slug="proba-punkty").exists()
    with pytest.raises(CommandError, match="punkty.geojson row 1: geometry: coordinates outside"):
        call_command("load_city", city, verbosity=0)


@pytest.mark.parametrize("content,error", [
    ("<OGRVRTDataSource/>",
     "punkty.geojson is not GeoJSON: it holds XML (GeoJSON is JSON text starting with {)"),
    ('{"type": "FeatureCollection", "features": []}', "punkty.geojson: the file has no features"),
])
def test_a_city_file_that_cannot_be_read_is_named(tmp_path, settings, content, error):
    city = _city(tmp_path, settings, LAYER + "      - {file: punkty.geojson}\n",
                 {"punkty.geojson": content})
    with pytest.raises(CityLoadError) as refusal:
        load_city(city)
    assert refusal.value.errors == [error]


def test_values_that_do_not_fit_a_declared_field_are_named(tmp_path, settings):
    layer = LAYER.replace("    sources:", "    fields: {n: {type: integer}, kod: {required: "
                          "true}}\n    sources:")
    city = _city(tmp_path, settings, layer + "      - {file: punkty.geojson}\n",
                 {"punkty.geojson": _points([(20.61, 50.86), (20.62, 50.87)], n="x", kod="")})
    with pytest.raises(CityLoadError) as refusal:
        load_city(city)
    assert refusal.value.errors == [
        "punkty.geojson row 1: n: expected an integer (got 'x')",
        "punkty.geojson row 2: n: expected an integer (got 'x')",
        "punkty.geojson row 1: kod: required (got '')",
        "punkty.geojson row 2: kod: required (got '')"]
    assert not Layer.all_objects.filter(slug="proba-punkty").exists()


def test_a_city_layer_from_files_in_two_crss_is_one_revertible_import(tmp_path, settings):
    to_2178 = Transformer.from_crs(4326, 2178, always_xy=True)
    x, y = to_2178.transform(20.62, 50.87)
    layers = LAYER + ("      - {file: metry.csv, srs: 'EPSG:2178', csv: {x: X, y: Y}, "
                      "set: {rok: 2016}}\n"
                      "      - {file: stopnie.geojson, set: {rok: 2017}}\n"
                      "    rename: {NAZWA: nazwa}\n    drop: [uwagi]\n")
    files = {"metry.csv": f"NAZWA;X;Y;uwagi;glosy\nA;{x:.2f};{y:.2f};pomiń;12\nB;{x:.2f};"
                          f"{y:.2f};;\n".replace(".", ","),
             "stopnie.geojson": _points([(20.61, 50.86)], NAZWA="C", glosy=None)}
    city = _city(tmp_path, settings, layers, files)
    [result] = load_city(city)
    assert (result.status, result.features) == ("created", 3)
    layer = Layer.objects.get(slug="proba-punkty")
    assert layer.native_crs == "EPSG:2178, EPSG:4326"
    assert [(f["name"], f["type"]) for f in layer.fields] == [
        ("nazwa", "string"), ("glosy", "integer"), ("rok", "integer"), ("n", "integer")]
    stored = {f.properties["nazwa"]: f for f in Feature.objects.filter(layer=layer)}
    assert stored["A"].properties == {"nazwa": "A", "glosy": 12, "rok": 2016}
    assert stored["B"].properties == {"nazwa": "B", "glosy": None, "rok": 2016}
    assert stored["C"].properties == {"nazwa": "C", "glosy": None, "rok": 2017, "n": 0}
    assert stored["A"].geom.coords == pytest.approx((20.62, 50.87), abs=1e-6)
    assert stored["C"].geom.coords == pytest.approx((20.61, 50.86), abs=1e-9)
    run = ImportRun.objects.get(layer=layer)
    assert (run.filename, run.mode, run.features) == ("metry.csv; stopnie.geojson", "replace", 3)
    assert set(FeatureHistory.objects.filter(layer=layer).values_list(
        "batch", "action", "channel")) == {(run.batch, "create", "import")}
    assert load_city(city)[0].status == "unchanged"
    # A changed file replaces the features, recorded as deletions in the new batch.
    (tmp_path / "proba" / "stopnie.geojson").write_text(_points([(20.6, 50.85)], NAZWA="D"))
    assert load_city(city)[0].status == "updated"
    assert sorted(f.properties["nazwa"] for f in Feature.objects.filter(layer=layer)) == [
        "A", "B", "D"]
    latest = ImportRun.objects.filter(layer=layer).latest("pk")
    assert FeatureHistory.objects.filter(batch=latest.batch, action="delete").count() == 3
    history.revert_batch(layer, latest.batch)
    assert sorted(f.properties["nazwa"] for f in Feature.objects.filter(layer=layer)) == [
        "A", "B", "C"]
