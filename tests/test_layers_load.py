"""The Kielce city config loads every spatial file correctly, idempotently and honestly."""

import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.db import connection

from layers.city import find_city_dir, read_config
from layers.models import Feature, Layer

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
