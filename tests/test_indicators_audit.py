"""The audit side of indicators: stale values after an edit, discrepancies between sources,
CSV imports (good and bad), the data inventory, quality checks and the information-gap matrix."""

import csv
import datetime
import io

import pytest
from django.contrib.gis.geos import GEOSGeometry, Point
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from indicators import computing, discrepancies, gaps, importing, inventory, quality, stale
from indicators.models import Discrepancy, Indicator, IndicatorValue
from layers import editing
from layers.models import Feature, Layer

pytestmark = pytest.mark.django_db

DISTRICTS = "okregi-wyborcze"


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what an edit schedules for after its commit (the layer_changed signal)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def statuses(code: str, **filters) -> set[str]:
    return set(IndicatorValue.objects.filter(indicator__code=code, **filters)
               .values_list("status", flat=True))


# --- stale ----------------------------------------------------------------------------------

def test_an_edit_marks_the_dependent_values_stale_and_recompute_clears_it(commit):
    aed = Feature.objects.filter(layer__slug="defibrylatory").order_by("id").first()
    with commit():
        editing.update_feature(aed.id, geom=Point(20.63, 50.87, srid=4326), channel="test")
    for code in ("aed-per-km2", "aed-coverage-500m", "aed-per-1000-residents"):
        assert statuses(code) == {"stale"}, code
    for code in ("schools-per-km2", "libraries", "population"):
        assert "stale" not in statuses(code), code
    recomputed = computing.compute_all(only_stale=True)
    assert set(recomputed) == {"aed-per-km2", "aed-coverage-500m", "aed-per-1000-residents"}
    assert statuses("aed-per-km2") == {"ok"}
    version = Layer.objects.get(slug="defibrylatory").version
    assert IndicatorValue.objects.filter(indicator__code="aed-per-km2").first() \
        .input_versions["defibrylatory"] == version


def test_editing_an_areas_layer_makes_only_that_layers_values_stale(commit):
    district = Feature.objects.filter(layer__slug=DISTRICTS).order_by("id").first()
    with commit():
        editing.update_feature(district.id, properties={"NAZWA": "OKRĘG 1 (test)"},
                               replace=False, channel="test")
    assert statuses("libraries", area__layer__slug=DISTRICTS) == {"stale"}
    assert "stale" not in statuses("libraries", area__layer__slug="obwody-glosowania")
    assert "stale" not in statuses("libraries", area__layer__slug="granica-miasta")


def test_a_version_change_without_the_signal_is_caught_by_refresh_marks():
    Layer.objects.get(slug="biblioteki").bump_version()  # as a bulk reload from file does
    assert "stale" not in statuses("libraries")
    assert stale.refresh_marks() >= 100
    assert statuses("libraries") == {"stale"}
    assert stale.indicators_to_recompute() == {"libraries"}


def test_a_value_computed_before_its_input_layer_existed_is_stale_once_it_does():
    assert not IndicatorValue.objects.filter(indicator__code="bike-racks-per-km2").exists()
    layer = Layer.objects.create(slug="stojaki-rowerowe", title_pl="TEST stojaki",
                                 geometry_type="Point", synthetic=True)
    bike_racks = Indicator.objects.get(code="bike-racks-per-km2")
    bike_racks.method = {**bike_racks.method, "period": "2024"}
    bike_racks.save()
    computing.compute_indicator(bike_racks)  # the layer is empty: no data
    assert statuses("bike-racks-per-km2") == {"missing"}
    Feature.objects.create(layer=layer, geom=Point(20.63, 50.87, srid=4326), properties={})
    layer.bump_version()
    stale.refresh_marks()
    assert statuses("bike-racks-per-km2") == {"stale"}
    computing.compute_indicator(bike_racks)
    assert statuses("bike-racks-per-km2", value__gt=0) == {"ok"}


# --- discrepancies --------------------------------------------------------------------------

def _import(code, slug, rows, **kwargs):
    out = io.StringIO()
    csv.writer(out).writerows([("area_code", "period", "value", "source"), *rows])
    return importing.import_values(Indicator.objects.get(code=code),
                                   Layer.objects.get(slug=slug), out.getvalue().encode(),
                                   **kwargs)


def _library_counts() -> dict[int, float]:
    """{district number: computed library count}"""
    return {v.area.properties["NR_OKR"]: v.value for v in IndicatorValue.objects.filter(
        indicator__code="libraries", area__layer__slug=DISTRICTS).select_related("area")}


def test_two_sources_beyond_the_tolerance_make_a_discrepancy_that_needs_an_explanation(
        client, django_user_model):
    libraries = Indicator.objects.get(code="libraries")
    libraries.tolerance = 1
    libraries.save()
    counts = _library_counts()
    # A second source (figures made up for this test): district 1 off by 1 (within the
    # tolerance), district 2 off by 3 (beyond it), the others equal.
    rows = [(n, 2018, counts[n] + {1: 1, 2: 3}.get(n, 0), "TEST second register")
            for n in sorted(counts)]
    result = _import("libraries", DISTRICTS, rows)
    assert result.discrepancies == 1
    record = Discrepancy.objects.get(indicator=libraries)
    assert record.status == "open" and record.spread == 3 and record.allowed == 1
    assert record.area.properties["NR_OKR"] == 2
    assert statuses("libraries", area_id=record.area_id) == {"disputed"}
    assert statuses("libraries", area__layer__slug=DISTRICTS,
                    area__properties__NR_OKR=1) == {"ok"}

    # Shown next to the figure in the API the pages read.
    row = next(r for r in client.get("/api/indicators/libraries/values/",
                                     {"areas": DISTRICTS, "period": "2018"}).json()
               if r["area_id"] == record.area_id)
    assert row["status"] == "disputed"
    assert row["discrepancy"]["values"] == {libraries.source: counts[2],
                                            "TEST second register": counts[2] + 3}

    # No review without an explanation: the service refuses, and so does the database.
    with pytest.raises(ValidationError, match="Write why"):
        discrepancies.review(record, "   ", None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Discrepancy.objects.filter(pk=record.pk).update(status="reviewed")
    staff = django_user_model.objects.create(username="auditor", is_staff=True,
                                             is_superuser=True)
    discrepancies.review(record, "The second register counts a closed branch.", staff)
    record.refresh_from_db()
    assert record.status == "reviewed" and record.reviewed_by == staff
    listed = client.get("/api/indicators/discrepancies/", {"indicator": "libraries"}).json()
    assert listed[0]["explanation"] == "The second register counts a closed branch."
    # Still disputed: the figures still disagree, now with the reason next to them.
    assert statuses("libraries", area_id=record.area_id) == {"disputed"}

    # New figures after the review reopen it; agreeing figures resolve it.
    _import("libraries", DISTRICTS, [(2, 2018, counts[2] + 5, "TEST second register")])
    record.refresh_from_db()
    assert record.status == "open" and record.reviewed_at is None
    _import("libraries", DISTRICTS, [(2, 2018, counts[2], "TEST second register")])
    record.refresh_from_db()
    assert record.status == "resolved"
    assert statuses("libraries", area_id=record.area_id) == {"ok"}
    assert client.get("/api/indicators/discrepancies/").json() == []


def test_a_relative_tolerance_scales_with_the_value():
    area = Indicator.objects.get(code="area-km2")
    area.tolerance_relative = 1  # 1 %
    area.save()
    computed = {v.area.properties["NR_OKR"]: v.value for v in IndicatorValue.objects.filter(
        indicator=area, area__layer__slug=DISTRICTS).select_related("area")}
    _import("area-km2", DISTRICTS, [(1, 2018, computed[1] * 1.005, "TEST survey"),
                                    (2, 2018, computed[2] * 1.02, "TEST survey")])
    disputed = Discrepancy.objects.filter(indicator=area)
    assert [d.area.properties["NR_OKR"] for d in disputed] == [2]


def test_recomputing_keeps_imported_sources_and_the_discrepancy():
    counts = _library_counts()
    _import("libraries", DISTRICTS, [(3, 2018, counts[3] + 4, "TEST second register")])
    computing.compute_indicator(Indicator.objects.get(code="libraries"))
    assert IndicatorValue.objects.filter(indicator__code="libraries",
                                         source="TEST second register").count() == 1
    assert Discrepancy.objects.get(indicator__code="libraries").status == "open"


# --- CSV import -----------------------------------------------------------------------------

def test_a_csv_with_errors_imports_nothing_and_names_every_bad_row():
    before = IndicatorValue.objects.count()
    csv = ("area_code;period;value;source\n"          # semicolons, as Excel writes in Poland
           "1;2021;25 431;GUS NSP 2021 (TEST)\n"      # fine: thousands space
           "9;2021;100;GUS NSP 2021 (TEST)\n"         # no district 9
           "2;2021/22;100;GUS NSP 2021 (TEST)\n"      # not a period
           "3;2021;many;GUS NSP 2021 (TEST)\n"        # not a number
           "4;2021;-5;GUS NSP 2021 (TEST)\n"          # population has min 0
           "5;2021;100;\n"                            # no source
           "1;2021;100;GUS NSP 2021 (TEST)\n"         # duplicate of row 2
           ";2021;100;GUS NSP 2021 (TEST)\n"          # no area code
           "2;2021;1e400;GUS NSP 2021 (TEST)\n"       # not finite
           "3;2021;7;GUS NSP 2021 (TEST);extra\n")    # a cell too many
    with pytest.raises(importing.CSVImportError) as exc:
        _import_raw("population", DISTRICTS, csv)
    errors = {(e.row, e.field): e for e in exc.value.errors}
    assert set(errors) == {(3, "area_code"), (4, "period"), (5, "value"), (6, "value"),
                           (7, "source"), (8, "area_code"), (9, "area_code"), (10, "value"),
                           (11, "row")}
    assert errors[(3, "area_code")].value == "9" and "NR_OKR" in errors[(3, "area_code")].reason
    assert "row 2" in errors[(8, "area_code")].reason
    assert "minimum" in errors[(6, "value")].reason
    assert IndicatorValue.objects.count() == before


def _import_raw(code, slug, text, **kwargs):
    return importing.import_values(Indicator.objects.get(code=code),
                                   Layer.objects.get(slug=slug),
                                   text if isinstance(text, bytes) else text.encode(), **kwargs)


@pytest.mark.parametrize("data,row,field,reason", [
    (b"area,period,value,source\n1,2021,5,x\n", 1, "header", "missing column(s): area_code"),
    (b"area_code,period,value,source,comment\n1,2021,5,x,y\n", 1, "header", "unknown column"),
    ("area_code,period,value,source\n1,2021,5,zr\u00f3d\u0142o\n".encode("cp1250"), 0, "file",
     "not UTF-8"),
    (b"area_code,period,value,source\n", 2, "file", "no data rows"),
    (b"", 1, "header", "missing column(s)"),
])
def test_malformed_csv_files_are_refused_precisely(data, row, field, reason):
    with pytest.raises(importing.CSVImportError) as exc:
        _import_raw("population", DISTRICTS, data)
    first = exc.value.errors[0]
    assert (first.row, first.field) == (row, field) and reason in first.reason


def test_an_imported_value_cannot_pose_as_the_computed_source():
    with pytest.raises(importing.CSVImportError, match="computed source"):
        _import("libraries", DISTRICTS,
                [(1, 2018, 3, Indicator.objects.get(code="libraries").source)])


def test_a_good_csv_replaces_the_placeholders_and_is_idempotent():
    rows = [(n, 2021, 20000 + n, "TEST figures (not real)") for n in range(1, 6)]
    first = _import("population", DISTRICTS, rows)
    assert (first.created, first.replaced) == (5, 0)
    values = IndicatorValue.objects.filter(indicator__code="population",
                                           area__layer__slug=DISTRICTS)
    assert values.count() == 5 and not values.filter(value=None).exists()
    assert set(values.values_list("origin", flat=True)) == {"imported"}
    second = _import("population", DISTRICTS, rows)
    assert (second.created, second.replaced) == (0, 5)
    # Per-resident values that read the population are now out of date.
    assert statuses("aed-per-1000-residents") == {"stale"}
    # Recomputing the imported indicator keeps the imported values (placeholders only where
    # nothing was imported: the precincts and the city).
    computing.compute_indicator(Indicator.objects.get(code="population"))
    assert values.count() == 5
    assert IndicatorValue.objects.filter(indicator__code="population", value=None).count() == 95


def test_import_into_a_layer_the_indicator_is_not_computed_for_is_refused():
    with pytest.raises(importing.CSVImportError, match="not computed for this layer"):
        _import("population", "biblioteki", [(1, 2021, 5, "x")])


# --- inventory, quality, gaps ---------------------------------------------------------------

def test_inventory_lists_every_dataset_with_owner_frequency_and_overdue():
    # The Kielce files are one-off copies, never updated (city.yaml); give two of them the
    # schedules their publishers keep, to see them fall behind.
    Layer.objects.filter(slug="placowki-oswiatowe").update(update_frequency="monthly")
    Layer.objects.filter(slug="granica-miasta").update(update_frequency="annual")
    report = inventory.inventory(today=datetime.date(2024, 6, 1))
    by_slug = {d["slug"]: d for d in report["datasets"]}
    assert set(Layer.objects.filter(visibility="public").values_list("slug", flat=True)) <= \
        set(by_slug)
    rspo = by_slug["placowki-oswiatowe"]
    assert rspo["owner"].startswith("Ministerstwo Edukacji")
    assert (rspo["update_frequency"], rspo["last_update"]) == ("monthly", "2022-03-14")
    assert rspo["overdue"] is True and rspo["next_update_due"] == "2022-04-14"
    assert by_slug["granica-miasta"]["overdue"] is None  # no reference date: unknown, not ok
    assert "no reference date" in by_slug["granica-miasta"]["reason"]
    assert by_slug["biblioteki"]["status"] == "unknown"  # never updated: nothing falls due
    assert by_slug["biblioteki"]["update_frequency"] == "never"
    for wanted in ("population-by-area", "stojaki-rowerowe", "przystanki-ztm", "tereny-zielone"):
        assert by_slug[wanted]["status"] == "missing"
    early = inventory.inventory(today=datetime.date(2022, 4, 1))
    assert next(d for d in early["datasets"] if d["slug"] == "placowki-oswiatowe")[
        "status"] == "current"


def test_inventory_hides_staff_only_layers_from_the_public():
    Layer.objects.filter(slug="biblioteki").update(visibility="staff")
    public = {d["slug"] for d in inventory.inventory()["datasets"]}
    staff = {d["slug"] for d in inventory.inventory(include_staff=True)["datasets"]}
    assert "biblioteki" not in public and "biblioteki" in staff


def test_quality_checks_count_each_problem_and_score_it():
    layer = Layer.objects.create(
        slug="test-quality", title_pl="TEST jakość", geometry_type="Point", native_crs="EPSG:2178",
        schema={"fields": [{"name": "name", "type": "string", "required": True}]})

    def add(wkt, **props):
        return Feature.objects.create(layer=layer, geom=GEOSGeometry(wkt, srid=4326),
                                      properties={"name": "x", **props})
    add("POINT(20.6300000 50.8700000)")
    twin = add("POINT(20.6300050 50.8700030)")      # 0.5 m away: a duplicate
    add("POINT(20.6301000 50.8700000)")             # 7 m away: not one
    blank = add("POINT(20.6400 50.8600)", name="  ")
    warsaw = add("POINT(21.0122 52.2297)")
    line = add("LINESTRING(20.62 50.86, 20.63 50.87)")
    report = quality.check_layer(layer, computing.city_layer())
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["duplicates_1m"]["flagged"] == 2
    assert twin.id in {e["id"] for e in checks["duplicates_1m"]["examples"]}
    assert [e["id"] for e in checks["required_empty"]["examples"]] == [blank.id]
    assert [e["id"] for e in checks["outside_city"]["examples"]] == [warsaw.id]
    assert [e["id"] for e in checks["geometry_type"]["examples"]] == [line.id]
    assert checks["invalid_geometry"]["flagged"] == 0 and checks["crs"]["flagged"] == 0
    assert checks["outside_city"]["score"] == pytest.approx(100 * 5 / 6, abs=0.05)
    assert report["score"] == pytest.approx(
        sum(c["score"] for c in report["checks"]) / len(report["checks"]), abs=0.05)


def test_quality_flags_invalid_geometry_and_crs_problems():
    layer = Layer.objects.create(slug="test-crs", title_pl="TEST crs", geometry_type="Polygon",
                                 native_crs="EPSG:999999")
    # Coordinates of a PL-2000 zone 7 file read as if they were degrees, then clamped: the
    # classic wrong-CRS signature is features nowhere near the city.
    Feature.objects.create(layer=layer, geom=GEOSGeometry(
        "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))", srid=4326))  # a bow-tie: invalid
    report = quality.check_layer(layer, computing.city_layer())
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["invalid_geometry"]["flagged"] == 1
    assert "Self-intersection" in checks["invalid_geometry"]["examples"][0]["detail"]
    assert "unknown to PROJ" in checks["crs"]["detail"]
    assert "1 of 1 features lie more than 20 km from the city" in checks["crs"]["detail"]
    assert checks["crs"]["score"] == 0


def test_a_layer_without_features_has_no_score():
    layer = Layer.objects.create(slug="test-empty", title_pl="TEST", geometry_type="Point")
    assert quality.check_layer(layer, computing.city_layer())["score"] is None


def test_the_real_kielce_layers_pass_most_checks():
    report = {la["layer"]: la for la in quality.quality_report()["layers"]}
    assert set(report) >= {"placowki-oswiatowe", "defibrylatory", "obwody-glosowania"}
    for la in report.values():
        checks = {c["check"]: c["flagged"] for c in la["checks"]}
        assert checks["invalid_geometry"] == 0  # repaired on load
        assert checks.get("outside_city", 0) == 0  # a CRS mistake would show here
        assert checks["crs"] == 0


def test_gap_matrix_shows_the_honest_kielce_gaps_and_what_would_fill_them():
    report = gaps.matrix()
    wanted = {w["code"]: w for w in report["wanted_datasets"]}
    assert {"population-by-area", "bike-racks", "public-transport-stops",
            "green-areas"} <= set(wanted)
    indicators = {i["code"]: i for i in report["indicators"]}
    expected = {"population": "population-by-area",
                "aed-per-1000-residents": "population-by-area",
                "bike-racks-per-km2": "bike-racks",
                "transit-stop-coverage-500m": "public-transport-stops",
                "green-area-share": "green-areas"}
    for code, filler in expected.items():
        ind = indicators[code]
        assert ind["summary"]["ok"] == 0 and ind["summary"]["missing"] == 100, code
        cell = next(iter(ind["layers"][0]["areas"][0]["cells"].values()))
        assert cell["status"] == "missing" and filler in cell["fill_with"], code
    assert indicators["schools-per-km2"]["summary"] == {"ok": 100, "missing": 0, "stale": 0,
                                                       "disputed": 0}
    # A share over precincts without a polling station is missing for a structural reason,
    # which no dataset fills.
    polling = indicators["accessible-polling-stations"]
    assert polling["summary"]["missing"] > 0 and polling["fill_with"] == []
    assert wanted["population-by-area"]["missing_cells_it_would_fill"] == 300


def test_gap_matrix_follows_stale_and_disputed_values(commit):
    counts = _library_counts()
    _import("libraries", DISTRICTS, [(4, 2018, counts[4] + 9, "TEST second register")])
    ind = next(i for i in gaps.matrix()["indicators"] if i["code"] == "libraries")
    assert ind["summary"]["disputed"] == 1
    aed = Feature.objects.filter(layer__slug="defibrylatory").first()
    with commit():
        editing.delete_feature(aed.id, channel="test")
    ind = next(i for i in gaps.matrix()["indicators"] if i["code"] == "aed-per-km2")
    assert ind["summary"]["stale"] == 100
