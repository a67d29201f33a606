"""Import of GeoJSON, GeoPackage, zipped Shapefile and CSV: dry run report, reprojection, atomic
writes, repair-or-reject, revert of a whole import, and every kind of bad file refused precisely
with the database left as it was. Files are written with GDAL (pyogrio), as QGIS would."""

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pyogrio.raw
import pytest
from pyproj import Transformer
from shapely import wkb as shapely_wkb
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from layers import history
from layers.importing import ImportOptions, run_import
from layers.models import Feature, FeatureHistory, ImportRun, Layer
from tests.layers_fixtures import api_client, make_layer
from tests.live_users import live_user

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.layers_fixtures"]

KIELCE = Path(__file__).resolve().parent.parent / "fixtures" / "kielce"
TO_2178 = Transformer.from_crs(4326, 2178, always_xy=True)
TO_2180 = Transformer.from_crs(4326, 2180, always_xy=True)
BOWTIE = Polygon([(20.60, 50.85), (20.62, 50.87), (20.62, 50.85), (20.60, 50.87), (20.60, 50.85)])


def write(path: Path, geoms, columns: dict, crs="EPSG:4326", driver=None, geometry_type=None,
          **kwargs) -> Path:
    """A file written by GDAL; `columns` maps field names to numpy arrays."""
    wkb = np.array([None if g is None else shapely_wkb.dumps(g) for g in geoms], dtype=object)
    gtype = geometry_type or next(g.geom_type for g in geoms if g is not None)
    pyogrio.raw.write(str(path), wkb, list(columns.values()), list(columns), crs=crs,
                      driver=driver, geometry_type=gtype, **kwargs)
    return path


def points_file(tmp_path, name="points.geojson", n=3, crs="EPSG:4326", transform=None,
                **kwargs):
    coords = [(20.60 + i / 100, 50.85 + i / 200) for i in range(n)]
    if transform:
        coords = [transform.transform(x, y) for x, y in coords]
    return write(tmp_path / name, [Point(c) for c in coords], {
        "name": np.array([f"Punkt {i}" for i in range(n)], dtype=object),
        "count": np.arange(n, dtype=np.int64),
        "kind": np.array(["library", "school", "library"][:n] * (n // 3 + 1), dtype=object)[:n],
    }, crs=crs, **kwargs)


def options(**kwargs) -> ImportOptions:
    return ImportOptions(**{"dry_run": False, **kwargs})


def state(layer):
    return (sorted(Feature.objects.filter(layer=layer).values_list("pk", "version")),
            Layer.objects.get(pk=layer.pk).version, FeatureHistory.objects.filter(
                layer=layer).count())


@pytest.fixture
def empty(editors):
    return make_layer("import-target", editors, n=0)


# --- good files ------------------------------------------------------------------------------

def test_dry_run_reports_count_crs_mapping_and_writes_nothing(empty, tmp_path):
    path = points_file(tmp_path)
    before = state(empty)
    report = run_import(empty, path, ImportOptions(dry_run=True))
    assert report.ok and report.dry_run
    assert (report.format, report.features, report.crs) == ("GeoJSON", 3, "EPSG:4326")
    assert report.detected_crs == "EPSG:4326"
    assert report.geometry_types == {"POINT": 3}
    assert report.mapping == [{"source": "name", "target": "name", "type": "string"},
                              {"source": "count", "target": "count", "type": "integer"},
                              {"source": "kind", "target": "kind", "type": "string"}]
    assert report.written == 0 and report.batch is None
    assert state(empty) == before


def test_geojson_import_writes_all_rows_with_history_in_one_batch(empty, tmp_path, users):
    version = empty.version
    report = run_import(empty, points_file(tmp_path), options(), user=users["editor"])
    assert report.ok and report.written == 3, report.as_dict()
    features = list(Feature.objects.filter(layer=empty).order_by("pk"))
    assert [f.properties for f in features] == [
        {"name": "Punkt 0", "count": 0, "kind": "library"},
        {"name": "Punkt 1", "count": 1, "kind": "school"},
        {"name": "Punkt 2", "count": 2, "kind": "library"}]
    assert features[1].geom.coords == pytest.approx((20.61, 50.855))
    entries = FeatureHistory.objects.filter(batch=report.batch)
    assert entries.count() == 3
    assert {(e.action, e.channel, e.user.username) for e in entries} == {
        ("create", "import", "editor")}
    assert Layer.objects.get(pk=empty.pk).version == version + 1  # once, not per row
    run = ImportRun.objects.get(batch=report.batch)
    assert (run.filename, run.features, run.user.username) == ("points.geojson", 3, "editor")


@pytest.mark.parametrize("srid,transform", [(2178, TO_2178), (2180, TO_2180)])
def test_geopackage_in_polish_crs_is_reprojected(empty, tmp_path, srid, transform):
    path = points_file(tmp_path, "points.gpkg", crs=f"EPSG:{srid}", transform=transform,
                       driver="GPKG")
    report = run_import(empty, path, options())
    assert report.ok, report.as_dict()
    assert (report.detected_crs, report.crs) == (f"EPSG:{srid}", f"EPSG:{srid}")
    feature = Feature.objects.filter(layer=empty).order_by("pk")[1]
    # Back in degrees, within millimetres of where the points were made.
    assert feature.geom.srid == 4326
    assert feature.geom.coords == pytest.approx((20.61, 50.855), abs=1e-7)


def _zip(tmp_path, shp: Path, drop=(), extra=None) -> Path:
    target = tmp_path / "upload.zip"
    with zipfile.ZipFile(target, "w") as z:
        for part in shp.parent.glob(shp.stem + ".*"):
            if part.suffix not in drop:
                z.write(part, f"dane/{part.name}")
        for name, content in (extra or {}).items():
            z.writestr(name, content)
    return target


def test_zipped_shapefile_with_a_stray_shp_xml_imports(empty, tmp_path):
    shp = points_file(tmp_path, "punkty.shp", crs="EPSG:2180", transform=TO_2180,
                      driver="ESRI Shapefile")
    metadata = "<?xml version='1.0'?><metadata><title>ArcGIS metadata</title></metadata>"
    upload = _zip(tmp_path, shp, extra={"dane/punkty.shp.xml": metadata,
                                        "__MACOSX/dane/._punkty.shp": "junk"})
    report = run_import(empty, upload, options())
    assert report.ok, report.as_dict()
    assert report.format == "Shapefile (zip)" and report.crs == "EPSG:2180"
    assert Feature.objects.filter(layer=empty).count() == 3


def test_shapefile_attributes_in_cp1250_without_cpg_are_read_right(empty, tmp_path):
    shp = write(tmp_path / "ulice.shp", [Point(TO_2180.transform(20.61, 50.86))],
                {"name": np.array(["Źródłowa łąka"], dtype=object)}, crs="EPSG:2180",
                driver="ESRI Shapefile", encoding="cp1250")
    upload = _zip(tmp_path, shp, drop={".cpg"})
    report = run_import(empty, upload, options())
    assert report.ok and report.encoding == "cp1250", report.as_dict()
    assert Feature.objects.get(layer=empty).properties["name"] == "Źródłowa łąka"


def test_csv_with_lon_lat_in_utf8(empty, tmp_path):
    path = tmp_path / "punkty.csv"
    path.write_text("name,count,lon,lat\nŻabka,1,20.61,50.86\n\"Kiosk, róg\",2,20.62,50.87\n",
                    encoding="utf-8")
    report = run_import(empty, path, options())
    assert report.ok, report.as_dict()
    assert report.crs == "EPSG:4326" and report.encoding == "utf-8"
    names = sorted(f.properties["name"] for f in Feature.objects.filter(layer=empty))
    assert names == ["Kiosk, róg", "Żabka"]
    assert Feature.objects.get(layer=empty, properties__name="Żabka").properties["count"] == 1


def test_csv_in_cp1250_with_semicolons_and_x_y_in_2178(empty, tmp_path):
    x, y = TO_2178.transform(20.61, 50.86)
    path = tmp_path / "punkty.csv"
    path.write_bytes(f"name;count;X;Y\nŚwiętokrzyska łąka;3;{x};{y}\n".encode("cp1250"))
    report = run_import(empty, path, options(srid=2178))
    assert report.ok, report.as_dict()
    assert report.encoding == "cp1250"
    feature = Feature.objects.get(layer=empty)
    assert feature.properties == {"name": "Świętokrzyska łąka", "count": 3}
    assert feature.geom.coords == pytest.approx((20.61, 50.86), abs=1e-7)


POLISH_SCHEMA = {"fields": [{"name": "nazwa", "type": "string"},
                            {"name": "wartość", "type": "decimal"},
                            {"name": "liczba", "type": "integer"}]}


@pytest.mark.parametrize("encoding", ["utf-8", "cp1250"])
def test_a_polish_csv_with_semicolons_and_decimal_commas(editors, tmp_path, encoding):
    """As Excel in Polish saves it: ';' between fields, ',' before decimals, spaces between
    thousands; coordinates in degrees (the X/Y columns with EPSG:4326) and in PL-2000."""
    layer = make_layer("przecinki", editors, n=0, schema=POLISH_SCHEMA)
    x, y = TO_2178.transform(20.64, 50.86)
    path = tmp_path / "punkty.csv"
    path.write_bytes(("X;Y;wartość;liczba;nazwa\n"
                      "20,63;50,87;3,5;1 200;Łąka\n"
                      "20,635;50,875;-0,25;7;Źródło\n").encode(encoding))
    dry = run_import(layer, path, ImportOptions(dry_run=True, srid=4326))
    assert dry.ok, dry.as_dict()
    assert (dry.features, dry.crs, dry.encoding) == (2, "EPSG:4326", encoding)
    assert "fields separated by ';'" in dry.notes
    assert Feature.objects.filter(layer=layer).count() == 0
    report = run_import(layer, path, options(srid=4326))
    assert report.ok, report.as_dict()
    features = {f.properties["nazwa"]: f for f in Feature.objects.filter(layer=layer)}
    assert features["Łąka"].properties == {"nazwa": "Łąka", "wartość": 3.5, "liczba": 1200}
    assert features["Łąka"].geom.coords == pytest.approx((20.63, 50.87), abs=1e-9)
    assert features["Źródło"].properties["wartość"] == -0.25
    assert features["Źródło"].geom.coords == pytest.approx((20.635, 50.875), abs=1e-9)
    # PL-2000 metres with decimal commas and spaces between thousands.
    metric = tmp_path / "metry.csv"
    metric.write_bytes((f"nazwa;X;Y;wartość\nPL-2000;{x:,.2f};{y:,.2f};12.5\n"
                        .replace(",", " ").replace(".", ",")).encode(encoding))
    report = run_import(layer, metric, options(srid=2178))
    assert report.ok, report.as_dict()
    feature = Feature.objects.get(layer=layer, properties__nazwa="PL-2000")
    assert feature.geom.coords == pytest.approx((20.64, 50.86), abs=1e-7)
    assert feature.properties["wartość"] == 12.5


def test_ambiguous_or_wrong_numbers_in_a_polish_csv_are_row_errors(editors, tmp_path):
    layer = make_layer("przecinki-zle", editors, n=0, schema=POLISH_SCHEMA)
    path = tmp_path / "zle.csv"
    path.write_bytes("X;Y;wartość;liczba\n"
                     "20,63;50,87;3,5;1\n"
                     "20,64;50,88;1.234;2\n"
                     "20,65;50,89;2,5;1.500\n"
                     "20.6.1;50,9;1,5;3\n"
                     "abc;50,9;1,5;4\n"
                     ";50,9;1,5;5\n"
                     "20,66;1.234,5;1,5;6\n"
                     "20,67;50,91;7,5;8;9\n".encode("cp1250"))
    before = state(layer)
    report = run_import(layer, path, ImportOptions(dry_run=True, srid=4326))
    assert not report.ok and report.fatal is None
    assert [(e.row, e.field, e.value, e.reason) for e in report.errors] == [
        (8, "", "20,67;50,91;7,5;8;9", "5 values for 4 columns"),
        (4, "X", "20.6.1", "not a number: more than one decimal separator"),
        (5, "X", "abc", "not a number"),
        (6, "X", "", "no value"),
        (7, "Y", "1.234,5", "ambiguous number: both ',' and '.' in it (a thousands "
                            "separator?); write e.g. 1234,5 or 1234.5"),
        (2, "wartość", "1.234", "ambiguous number: this column writes decimals with ',', so "
                                "1.234 may be 1234 (with a thousands separator); write it "
                                "with ','"),
        (3, "liczba", "1.500", "ambiguous number: 1.500 may be 1500 (with a thousands "
                               "separator) or not a whole number; write it without "
                               "separators"),
    ]
    assert state(layer) == before
    # The same file, written for real, is refused as a whole.
    assert not run_import(layer, path, options(srid=4326)).ok
    assert state(layer) == before


def test_decimal_commas_in_a_comma_separated_csv(editors, tmp_path):
    """Unquoted, "20,63" splits into two values: GDAL alone would take 20 and 63 as the
    coordinates. Such rows are errors; quoted decimal commas read right."""
    layer = make_layer("przecinki-csv", editors, n=0, schema=POLISH_SCHEMA)
    bad = tmp_path / "zle.csv"
    bad.write_text("nazwa,lon,lat\nA,20.63,50.87\nB,20,63,50,87\n", encoding="utf-8")
    report = _refused(layer, bad, options())
    assert [(e.row, e.field, e.reason) for e in report.errors] == [
        (2, "", "5 values for 3 columns (decimal commas in a comma-separated file? quote "
                "such values, or separate the fields with ';')")]
    good = tmp_path / "dobre.csv"
    good.write_text('nazwa,lon,lat,wartość\nA,"20,63","50,87","3,5"\n', encoding="utf-8")
    report = run_import(layer, good, options())
    assert report.ok, report.as_dict()
    feature = Feature.objects.get(layer=layer)
    assert feature.geom.coords == pytest.approx((20.63, 50.87), abs=1e-9)
    assert feature.properties == {"nazwa": "A", "wartość": 3.5}


def test_the_citys_own_budget_csv_imports_from_x_y_in_2178(editors):
    """The real hackathon file: X/Y in EPSG:2178 next to its own LAT/LNG, which must agree."""
    layer = make_layer("budzet-import", editors, n=0, schema={"fields": []})
    report = run_import(layer, KIELCE / "budzet-obywatelski-2017.csv",
                        options(srid=2178, add_fields=True))
    assert report.ok, report.as_dict()
    assert report.written == 48
    assert {"NAZWA", "SUMA GŁOSÓW WAŻNYCH"} <= {f["name"] for f in report.added_fields}
    votes = next(f for f in Layer.objects.get(pk=layer.pk).fields
                 if f["name"] == "SUMA GŁOSÓW WAŻNYCH")
    assert votes["type"] == "integer"
    for feature in Feature.objects.filter(layer=layer):
        lat, lng = float(feature.properties["LAT"]), float(feature.properties["LNG"])
        assert feature.geom.coords == pytest.approx((lng, lat), abs=5e-5)


def test_import_with_a_field_mapping_and_skipped_columns(empty, tmp_path):
    path = write(tmp_path / "inne.geojson", [Point(20.61, 50.86)], {
        "NAZWA": np.array(["Biblioteka"], dtype=object),
        "LICZBA": np.array([4], dtype=np.int64),
        "uwagi": np.array(["pomiń"], dtype=object)})
    report = run_import(empty, path, options(mapping={"NAZWA": "name", "LICZBA": "count",
                                                      "uwagi": ""}))
    assert report.ok, report.as_dict()
    assert report.ignored_fields == ["uwagi"]
    assert Feature.objects.get(layer=empty).properties == {"name": "Biblioteka", "count": 4}


def test_polygons_go_into_a_multipolygon_layer_and_invalid_ones_are_repaired_on_request(
        editors, tmp_path):
    layer = make_layer("import-areas", editors, geometry_type="MultiPolygon", n=0,
                       schema={"fields": [{"name": "name", "type": "string"}]})
    square = Polygon([(20.63, 50.85), (20.64, 50.85), (20.64, 50.86), (20.63, 50.86)])
    path = write(tmp_path / "areas.geojson", [square, BOWTIE, MultiPolygon([square])],
                 {"name": np.array(["ok", "bowtie", "multi"], dtype=object)},
                 geometry_type="Unknown")
    rejected = run_import(layer, path, options())
    assert not rejected.ok
    assert [(e.row, e.field) for e in rejected.errors] == [(2, "geometry")]
    assert rejected.errors[0].reason.startswith("invalid geometry: Self-intersection")
    assert not Feature.objects.filter(layer=layer).exists()
    repaired = run_import(layer, path, options(invalid="repair"))
    assert repaired.ok, repaired.as_dict()
    assert [r["row"] for r in repaired.repaired] == [2]
    assert "Self-intersection" in repaired.repaired[0]["reason"]
    stored = Feature.objects.filter(layer=layer)
    assert {f.geom.geom_type for f in stored} == {"MultiPolygon"}
    assert all(f.geom.valid for f in stored)
    bowtie = stored.get(properties__name="bowtie")
    assert len(bowtie.geom) == 2  # the two triangles of the bow tie


def test_replace_mode_swaps_all_features_and_revert_brings_them_back(layer, tmp_path, users):
    before = sorted((f.pk, f.properties["name"]) for f in Feature.objects.filter(layer=layer))
    report = run_import(layer, points_file(tmp_path, n=2), options(mode="replace"),
                        user=users["editor"])
    assert report.ok and (report.deleted, report.written) == (3, 2)
    assert Feature.objects.filter(layer=layer).count() == 2
    result = history.revert_batch(layer, report.batch, user=users["editor"])
    assert (result["deleted"], result["restored"]) == (2, 3)
    after = sorted((f.pk, f.properties["name"]) for f in Feature.objects.filter(layer=layer))
    assert after == before  # the very same ids
    assert ImportRun.objects.get(batch=report.batch).reverted_at is not None
    with pytest.raises(history.RevertError, match="reverted already"):
        history.revert_batch(layer, report.batch)


def test_an_import_is_all_or_nothing_even_when_the_database_fails_midway(empty, tmp_path,
                                                                         monkeypatch):
    before = state(empty)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")
    # After the features and their history are inserted, recording the run fails.
    monkeypatch.setattr(ImportRun.objects, "create", fail)
    with pytest.raises(RuntimeError):
        run_import(empty, points_file(tmp_path), options())
    assert state(empty) == before


def test_an_import_tells_its_progress_and_a_progress_that_raises_stops_it(empty, tmp_path):
    seen = []
    report = run_import(empty, points_file(tmp_path), options(),
                        progress=lambda *counts: seen.append(counts))
    assert report.ok and seen == [("read", 3, 3), ("validated", 3, 3), ("written", 3, 3)]
    seen.clear()
    run_import(empty, points_file(tmp_path), ImportOptions(dry_run=True),
               progress=lambda *counts: seen.append(counts))
    assert seen == [("read", 3, 3), ("validated", 3, 3)]
    before = state(empty)

    def cancel(stage, done, total):  # as a job's progress does once the job is cancelled
        if stage == "written":
            raise RuntimeError("cancelled")
    with pytest.raises(RuntimeError):
        run_import(empty, points_file(tmp_path), options(), progress=cancel)
    assert state(empty) == before


def test_replacing_an_areas_layer_drops_the_indicator_values_of_its_old_areas(tmp_path):
    from indicators.models import IndicatorValue

    layer = Layer.objects.get(slug="okregi-wyborcze")
    old = list(Feature.objects.filter(layer=layer).values_list("pk", flat=True))
    assert IndicatorValue.objects.filter(area_id__in=old).exists()
    square = Polygon([(20.6, 50.85), (20.65, 50.85), (20.65, 50.9), (20.6, 50.9)])
    path = write(tmp_path / "okregi.geojson", [square], {
        "NAZWA": np.array(["Okręg 1"], dtype=object), "NR_OKR": np.array([1], dtype=np.int64)})
    report = run_import(layer, path, options(mode="replace"))
    assert report.ok and (report.deleted, report.written) == (5, 1), report.as_dict()
    assert not IndicatorValue.objects.filter(area_id__in=old).exists()


# --- bad files -------------------------------------------------------------------------------

def _refused(layer, path, opts=None):
    before = state(layer)
    report = run_import(layer, path, opts or options())
    assert not report.ok
    assert report.written == 0 and report.batch is None
    assert state(layer) == before
    return report


def test_rows_violating_the_schema_are_listed_with_row_field_value_reason(empty, tmp_path):
    path = tmp_path / "zle.csv"
    path.write_text("name,count,kind,since,lon,lat\n"
                    "dobry,1,library,2020-01-01,20.61,50.86\n"
                    ",2,library,,20.61,50.86\n"
                    "zły,dwa,pub,31.02.2020,20.61,50.86\n", encoding="utf-8")
    report = _refused(empty, path)
    assert [(e.row, e.field, e.value, e.reason) for e in report.errors] == [
        (2, "name", "", "required"),
        (3, "count", "dwa", "expected an integer"),
        (3, "kind", "pub", "not one of ['library', 'school']"),
        (3, "since", "31.02.2020", "expected a date YYYY-MM-DD"),
    ]
    assert report.error_count == 4


def test_wrong_geometry_type_for_the_layer(empty, tmp_path):
    path = write(tmp_path / "lines.geojson",
                 [LineString([(20.6, 50.8), (20.7, 50.9)]), Point(20.6, 50.8)],
                 {"name": np.array(["a", "b"], dtype=object)}, geometry_type="Unknown")
    report = _refused(empty, path)
    assert [(e.row, e.reason) for e in report.errors] == [
        (1, "LINESTRING given, layer holds Point")]


def test_coordinates_outside_the_crs_area_are_refused_as_a_wrong_crs(empty, tmp_path):
    # PL-2000 metres in a file that says (by GeoJSON's default) WGS84 degrees.
    path = points_file(tmp_path, transform=TO_2178, crs="EPSG:4326")
    report = _refused(empty, path)
    assert report.error_count == 3
    x, y = TO_2178.transform(20.60, 50.85)
    assert report.errors[0].reason == (f"coordinates outside the area of use of EPSG:4326 "
                                       f"({x:.3f} {y:.3f}): wrong CRS?")
    # Degrees declared as PUWG 1992 metres: outside EPSG:2180's area (Poland) too.
    degrees = tmp_path / "stopnie.csv"
    degrees.write_text("name,x,y\na,20.61,50.86\n", encoding="utf-8")
    report = _refused(empty, degrees, options(srid=2180))
    assert "outside the area of use of EPSG:2180" in report.errors[0].reason


def test_a_shapefile_without_prj_asks_for_the_crs_then_imports(empty, tmp_path):
    shp = points_file(tmp_path, "bez.shp", crs="EPSG:2180", transform=TO_2180,
                      driver="ESRI Shapefile")
    upload = _zip(tmp_path, shp, drop={".prj"})
    report = _refused(empty, upload)
    assert report.fatal == ("bez.prj is missing, so the CRS is unknown: choose it (e.g. "
                            "EPSG:2178 for PL-2000 zone 7, EPSG:2180 for PUWG 1992)")
    assert run_import(empty, upload, options(srid=2180)).ok


@pytest.mark.parametrize("name,content,fatal", [
    ("pusty.geojson", b"", "the file is empty"),
    ("pusty.csv", b"", "the file is empty"),
    ("naglowek.csv", b"name,lon,lat\n", "the CSV has no data rows"),
    ("zero.geojson", b'{"type": "FeatureCollection", "features": []}',
     "the file has no features"),
    ("zepsuty.zip", b"PK\x03\x04 this is not really a zip",
     "the file is not a valid zip archive (corrupt or truncated)"),
    ("smieci.geojson", b"{ not json", "GDAL could not read the file as GeoJSON"),
    ("nie.gpkg", b"plain text", "the file is not a GeoPackage (no SQLite header)"),
    ("dane.xlsx", b"PK\x03\x04", "unsupported file type .xlsx"),
    ("bez-wspolrzednych.csv", b"name,count\na,1\n", "no coordinate columns found among name"),
    ("xy.csv", b"name,X,Y\na,7473914.7,5638645.4\n", "choose the CRS of the coordinates in "
                                                     "columns X/Y"),
    ("mieszany.csv", "name,lon,lat\nŁódź,20.6,50.8\n".encode() + "Kraków,20.6,50.8\n".encode(
        "cp1250"), "mixed text encodings: line(s) 2 are UTF-8 but line(s) 3 are not (CP1250?)"),
])
def test_bad_files_are_refused_with_a_precise_message(empty, tmp_path, name, content, fatal):
    path = tmp_path / name
    path.write_bytes(content)
    report = _refused(empty, path)
    assert report.fatal.startswith(fatal), report.fatal


def test_a_zip_with_a_bad_checksum_is_corrupt(empty, tmp_path):
    shp = points_file(tmp_path, "p.shp", driver="ESRI Shapefile")
    upload = bytearray(_zip(tmp_path, shp).read_bytes())
    offset = upload.index(b"p.dbf") + 40  # inside the stored .dbf data
    upload[offset] ^= 0xFF
    path = tmp_path / "flip.zip"
    path.write_bytes(bytes(upload))
    report = _refused(empty, path)
    assert report.fatal.startswith("the zip is corrupt") or "not a valid zip" in report.fatal


def test_a_zip_without_a_shapefile_or_with_two(empty, tmp_path):
    none = tmp_path / "none.zip"
    with zipfile.ZipFile(none, "w") as z:
        z.writestr("readme.txt", "hello")
    assert _refused(empty, none).fatal == "no .shp file in the zip"
    a = points_file(tmp_path, "a.shp", driver="ESRI Shapefile")
    points_file(tmp_path, "b.shp", driver="ESRI Shapefile")
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as z:
        for part in a.parent.glob("[ab].*"):
            z.write(part, part.name)
    assert _refused(empty, two).fatal == "the zip holds 2 shapefiles (a, b): choose one"


def test_a_required_field_without_a_column_is_named(empty, tmp_path):
    path = write(tmp_path / "bez.geojson", [Point(20.61, 50.86)],
                 {"count": np.array([1], dtype=np.int64)})
    report = _refused(empty, path)
    assert report.fatal == "required field 'name' has no column in the file: map one to it"


def test_bad_mapping_is_refused(empty, tmp_path):
    report = _refused(empty, points_file(tmp_path), options(mapping={"name": "nazwa",
                                                                    "nope": "count"}))
    assert "mapping: no field 'nope' in the file" in report.fatal
    assert "mapping: 'name' -> 'nazwa', but the layer has no field 'nazwa'" in report.fatal


def test_properties_named_like_sql_keywords_import_as_plain_keys(editors, tmp_path):
    layer = make_layer("sql-import", editors, n=0, schema={"fields": []})
    path = write(tmp_path / "sql.geojson", [Point(20.61, 50.86)], {
        "select": np.array(["x"], dtype=object),
        "drop table layers_feature;--": np.array([1], dtype=np.int64)})
    report = run_import(layer, path, options(add_fields=True))
    assert report.ok, report.as_dict()
    assert Feature.objects.get(layer=layer).properties == {
        "select": "x", "drop table layers_feature;--": 1}
    assert Feature.objects.filter(layer__slug="biblioteki").count() == 16


# --- over HTTP -------------------------------------------------------------------------------

def _upload(path: Path):
    from django.core.files.uploadedfile import SimpleUploadedFile
    return SimpleUploadedFile(path.name, path.read_bytes())


def test_rest_import_dry_run_then_write_then_revert(layer, tmp_path, users):
    client = api_client(users["editor"])
    path = points_file(tmp_path, "nowe.gpkg", crs="EPSG:2180", transform=TO_2180, driver="GPKG")
    url = f"/api/layers/{layer.slug}/imports/"
    dry = client.post(url, {"file": _upload(path)}, format="multipart")
    assert dry.status_code == 200, dry.content
    assert dry.json()["dry_run"] and dry.json()["features"] == 3
    assert Feature.objects.filter(layer=layer).count() == 3
    done = client.post(url, {"file": _upload(path), "dry_run": "false"}, format="multipart")
    assert done.status_code == 201, done.content
    batch = done.json()["batch"]
    assert Feature.objects.filter(layer=layer).count() == 6
    listed = client.get(url).json()
    assert listed[0]["batch"] == batch and listed[0]["features"] == 3
    reverted = client.post(f"{url}{batch}/revert/")
    assert reverted.status_code == 200 and reverted.json()["deleted"] == 3
    assert Feature.objects.filter(layer=layer).count() == 3
    again = client.post(f"{url}{batch}/revert/")
    assert again.status_code == 409 and "reverted already" in again.json()["detail"]


def test_rest_import_errors_are_400_with_the_report(layer, tmp_path, users):
    path = tmp_path / "zle.csv"
    path.write_text("name,count,lon,lat\na,jeden,20.6,50.8\n", encoding="utf-8")
    response = api_client(users["editor"]).post(
        f"/api/layers/{layer.slug}/imports/", {"file": _upload(path), "dry_run": "false"},
        format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"row": 1, "field": "count", "value": "jeden",
                                          "reason": "expected an integer"}]
    bad_options = api_client(users["editor"]).post(
        f"/api/layers/{layer.slug}/imports/", {"file": _upload(path), "crs": "EPSG:99999",
                                               "mode": "merge"}, format="multipart")
    assert bad_options.status_code == 400
    assert bad_options.json()["errors"] == ["mode: expected append or replace, got 'merge'",
                                            "crs: EPSG:99999 is not a known CRS"]
    missing = api_client(users["editor"]).post(f"/api/layers/{layer.slug}/imports/", {},
                                               format="multipart")
    assert missing.status_code == 400 and "file" in missing.json()["detail"]


def test_rest_import_needs_edit_rights(layer, tmp_path, users):
    path = points_file(tmp_path)
    url = f"/api/layers/{layer.slug}/imports/"
    assert api_client().post(url, {"file": _upload(path)}).status_code == 401
    assert api_client(users["staff"]).post(url, {"file": _upload(path)}).status_code == 403


@pytest.fixture
def committed_token(db):
    """A superuser's token the live server knows."""
    with live_user("import-413", superuser=True, token=True) as user:
        yield user.token


def test_a_500_mb_upload_is_refused_before_it_is_read(live_url, committed_token):
    """Against gunicorn: the client announces 500 MB, sends a little, and gets 413 at once."""
    import http.client
    import time
    from urllib.parse import urlsplit

    host = urlsplit(live_url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    started = time.monotonic()
    conn.putrequest("POST", "/api/layers/biblioteki/imports/")
    conn.putheader("Authorization", f"Token {committed_token}")
    conn.putheader("Content-Type", "multipart/form-data; boundary=xyz")
    conn.putheader("Content-Length", str(500 * 1024 * 1024))
    conn.endheaders()
    conn.send(b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; "
              b"filename=\"big.gpkg\"\r\n\r\n" + b"\0" * 65536)
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 413
    assert body["detail"].startswith("the upload is 500.0 MB; the limit is 200 MB")
    assert time.monotonic() - started < 5
    assert Feature.objects.filter(layer__slug="biblioteki").count() == 16


# --- uploads sent in chunks (Transfer-Encoding: chunked, no Content-Length) -----------------

def _multipart(fields: dict, filename: str, content: bytes) -> tuple[bytes, str]:
    import urllib3

    return urllib3.encode_multipart_formdata({**fields, "file": (filename, content, "text/csv")})


def _chunked_post(base_url: str, path: str, headers: dict, pieces, stop_on_response=False):
    """POST `pieces` as an HTTP/1.1 chunked body (no Content-Length), the way curl or a
    streaming client sends a file of unknown size. With `stop_on_response`, stop sending as
    soon as the server answers. Returns (status, headers, body, bytes sent)."""
    import http.client
    import select
    from urllib.parse import urlsplit

    host = urlsplit(base_url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    conn.putrequest("POST", path)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    sent = 0
    try:
        for piece in pieces:
            if stop_on_response and select.select([conn.sock], [], [], 0)[0]:
                break
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        else:
            conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed while the body was still coming
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body, sent


def _split(data: bytes, size: int = 1000):
    return [data[i:i + size] for i in range(0, len(data), size)]


CSV_ROWS = "nazwa;X;Y\n" + "".join(
    f"Łąka {i};{x:.2f};{y:.2f}\n".replace(".", ",")
    for i, (x, y) in enumerate(TO_2178.transform(20.60 + i / 1000, 50.85) for i in range(300)))


def test_a_chunked_upload_of_normal_size_is_read_whole_by_the_rest_import(live_url,
                                                                           committed_token):
    body, content_type = _multipart({"crs": "EPSG:2178", "add_fields": "true"}, "punkty.csv",
                                    CSV_ROWS.encode("cp1250"))
    status, _, raw, sent = _chunked_post(
        live_url, "/api/layers/biblioteki/imports/",
        {"Authorization": f"Token {committed_token}", "Content-Type": content_type},
        _split(body))
    report = json.loads(raw)
    assert status == 200, report
    assert sent == len(body) > 9_000
    assert (report["dry_run"], report["features"], report["crs"]) == (True, 300, "EPSG:2178")
    assert report["ok"] and report["encoding"] == "cp1250"
    assert Feature.objects.filter(layer__slug="biblioteki").count() == 16  # a dry run


def test_a_chunked_body_that_is_not_a_form_gets_a_precise_400(live_url, committed_token):
    status, _, raw, _ = _chunked_post(
        live_url, "/api/layers/biblioteki/imports/",
        {"Authorization": f"Token {committed_token}",
         "Content-Type": "multipart/form-data; boundary=xyz"}, [b"no parts here"])
    assert status == 400
    assert json.loads(raw)["detail"] == "file: upload a file in the `file` field"


def test_a_malformed_chunked_body_gets_a_precise_400(live_url, committed_token):
    import http.client
    from urllib.parse import urlsplit

    host = urlsplit(live_url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    conn.putrequest("POST", "/api/layers/biblioteki/imports/")
    conn.putheader("Authorization", f"Token {committed_token}")
    conn.putheader("Content-Type", "multipart/form-data; boundary=xyz")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"zz\r\nnot a chunk size\r\n0\r\n\r\n")
    response = conn.getresponse()
    detail = json.loads(response.read())["detail"]
    conn.close()
    assert response.status == 400
    assert detail.startswith("the chunked body is malformed or was cut off after 0.0 MB"), detail


@pytest.fixture
def committed_admin(db):
    """A superuser with a password, so that gunicorn can log them in."""
    with live_user("import-chunked", superuser=True,
                   password="chunked-upload-test-password") as user:
        yield user.username, user.password


def _admin_session(base_url: str, username: str, password: str):
    """A logged-in admin session over HTTP: (cookie header, CSRF token)."""
    import http.cookiejar
    import urllib.parse
    import urllib.request

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base_url}/admin/login/").read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrfmiddlewaretoken": token, "next": "/admin/"}).encode()
    opener.open(urllib.request.Request(f"{base_url}/admin/login/", data=form, headers={
        "Referer": f"{base_url}/admin/login/"})).read()
    cookies = {c.name: c.value for c in jar}
    assert "sessionid" in cookies, "admin login failed"
    return "; ".join(f"{k}={v}" for k, v in cookies.items()), cookies["csrftoken"]


def test_a_chunked_upload_in_the_admin_import_form_gets_its_dry_run(live_url,
                                                                     committed_admin):
    cookie, csrf = _admin_session(live_url, *committed_admin)
    layer = Layer.objects.get(slug="biblioteki")
    body, content_type = _multipart({"csrfmiddlewaretoken": csrf, "crs": "EPSG:2178",
                                     "invalid": "reject", "mode": "append",
                                     "add_fields": "on"}, "punkty.csv", CSV_ROWS.encode())
    headers = {"Cookie": cookie, "Content-Type": content_type,
               "Referer": f"{live_url}/admin/layers/layer/{layer.pk}/import/"}
    status, _, raw, _ = _chunked_post(live_url, f"/admin/layers/layer/{layer.pk}/import/",
                                      headers, _split(body))
    page = raw.decode()
    assert status == 200, page[:2000]
    assert "EPSG:2178" in page and "300" in page and 'name="token"' in page
    # The CSRF check still holds, after the size check: without the token, 403.
    body, content_type = _multipart({"crs": "EPSG:2178"}, "punkty.csv", CSV_ROWS.encode())
    status, _, _, _ = _chunked_post(live_url, f"/admin/layers/layer/{layer.pk}/import/",
                                    {**headers, "Content-Type": content_type}, _split(body))
    assert status == 403
    assert Feature.objects.filter(layer=layer).count() == 16


@pytest.fixture(scope="module")
def small_limit_url(kielce, django_db_blocker):
    """gunicorn as live_url, but with a 1 MB import limit: passing it costs the test little."""
    from tests.servers import live_gunicorn

    with django_db_blocker.unblock(), live_gunicorn(
            "test-gunicorn-import-limit.log", {"LAYER_IMPORT_MAX_MB": "1"}, workers=1,
            threads=2) as url:
        yield url


def _pending_uploads() -> set:
    from layers.importing import pending_dir

    return set(pending_dir().iterdir()) if pending_dir().is_dir() else set()


def test_a_chunked_upload_over_the_limit_is_refused_once_it_passes_it(small_limit_url,
                                                                      committed_token,
                                                                      committed_admin):
    """The client streams 64 MB with no Content-Length; the server stops reading just past
    1 MB and answers 413 while the client is still sending. Nothing is written."""
    before = (Feature.objects.filter(layer__slug="biblioteki").count(),
              ImportRun.objects.count(), _pending_uploads())
    head = (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
            b"Content-Type: text/csv\r\n\r\nname,lon,lat\n")
    pieces = [head] + [b"a,20.6,50.8\n" * 5461] * 1024  # 64 KB each, 64 MB in all
    status, headers, raw, sent = _chunked_post(
        small_limit_url, "/api/layers/biblioteki/imports/",
        {"Authorization": f"Token {committed_token}",
         "Content-Type": "multipart/form-data; boundary=xyz"}, pieces, stop_on_response=True)
    assert status == 413
    detail = json.loads(raw)["detail"]
    # Read 64 KB at a time: refused within one read of the limit.
    assert re.fullmatch(r"the upload passed the limit of 1 MB \(it was sent in chunks, without "
                        r"Content-Length, and refused after 1\.[01] MB had arrived; split the "
                        r"file, or load it with manage\.py\)", detail), detail
    assert sent < 32 * 2**20  # refused long before the end of the body
    # The admin form: refused the same way, before the CSRF check would read the body.
    cookie, csrf = _admin_session(small_limit_url, *committed_admin)
    layer = Layer.objects.get(slug="biblioteki")
    status, _, raw, sent = _chunked_post(
        small_limit_url, f"/admin/layers/layer/{layer.pk}/import/",
        {"Cookie": cookie, "Content-Type": "multipart/form-data; boundary=xyz"}, pieces,
        stop_on_response=True)
    assert status == 413
    assert "the upload passed the limit of 1 MB" in raw.decode()
    assert sent < 32 * 2**20
    after = (Feature.objects.filter(layer__slug="biblioteki").count(),
             ImportRun.objects.count(), _pending_uploads())
    assert after == before
