"""Every method kind checked against an independent computation (tests/indicators_reference.py:
shapely + pyproj, numpy for rasters) on the real Kielce layers, plus the edge cases: an invalid
area polygon, empty and missing input layers, a raster that misses an area.

Tolerances, and why:
  * counts and sums: exact;
  * densities, shares, means: relative 1e-6 (PostGIS and pyproj use the same PROJ pipeline);
  * coverage: 0.05 percentage points. Both sides approximate each disk by a 128-gon; PostGIS
    takes a Voronoi cell wholly within the distance as it is, where the reference clips it by
    the polygon, so PostGIS can only be larger, by at most the sliver between a chord and
    its arc (well under 0.05 % of a disk);
  * raster statistics: 1e-9 relative (the same pixels, float64 arithmetic).
"""

import numpy as np
import pytest
import rasterio
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection
from rasterio.transform import from_origin

from indicators import methods
from indicators.computing import compute_indicator
from indicators.models import Indicator, IndicatorValue
from layers.models import Feature, Layer
from tests.test_indicators_reference import TO_2180, coverage_pct, km2, shapes, to_2180

pytestmark = pytest.mark.django_db

DISTRICTS = "okregi-wyborcze"
PRECINCTS = "obwody-glosowania"
CITY = "granica-miasta"


def stored(code: str, slug: str, period: str) -> dict[int, float | None]:
    return dict(IndicatorValue.objects.filter(indicator__code=code, area__layer__slug=slug,
                                              period=period)
                .values_list("area_id", "value"))


@pytest.mark.parametrize("code,layer,where,distance,period", [
    ("aed-coverage-500m", "defibrylatory", {}, 500, "2023"),
    ("primary-school-coverage-500m", "placowki-oswiatowe",
     {"amenity": "school", "isced:level": "1;2"}, 500, "2022"),
])
@pytest.mark.parametrize("areas", [DISTRICTS, CITY])
def test_coverage_matches_a_union_of_buffers(code, layer, where, distance, period, areas):
    points = [g for g, p in shapes(layer).values()
              if all(p.get(k) == v for k, v in where.items())]
    assert points, "the fixture must hold input features"
    values = stored(code, areas, period)
    for area_id, (geom, _) in shapes(areas).items():
        expected = coverage_pct(geom, points, distance)
        assert values[area_id] == pytest.approx(expected, abs=0.05), area_id


@pytest.mark.parametrize("code,layer,distance,period", [
    ("aed", "defibrylatory", 500, "2023"),
    ("schools", "placowki-oswiatowe", 300, "2022"),
    ("schools", "placowki-oswiatowe", 1500, "2022"),
])
def test_coverage_through_the_grid_of_squares_gives_the_same_values(
        monkeypatch, code, layer, distance, period):
    # Dense point sets (GRID_MIN_SITES and more) go through a grid of squares first
    # (indicators.methods); the Kielce layers are sparse, so force that path here. At 1500 m
    # most squares over the city hold a school or are within reach of one: the shortcuts run.
    monkeypatch.setattr(methods, "GRID_MIN_SITES", 0)
    points = [g for g, _ in shapes(layer).values()]
    for slug in (DISTRICTS, CITY):
        rows = methods.compute({"kind": "coverage", "layer": layer, "distance": distance,
                                "period": period}, Layer.objects.get(slug=slug))
        for r in rows:
            geom = shapes(slug)[r.area_id][0]
            assert r.value == pytest.approx(coverage_pct(geom, points, distance), abs=0.05)


def test_counts_follow_an_edit_of_the_input_layer():
    """The point-in-area membership is cached per layer versions: an edit must not be
    answered from the old cache."""
    from layers import editing
    district_id, (geom, _) = next(iter(shapes(DISTRICTS).items()))
    method = {"kind": "count", "layer": "biblioteki", "period": "2018"}
    districts = Layer.objects.get(slug=DISTRICTS)
    before = {r.area_id: r.value for r in methods.compute(method, districts)}
    inside = shapely.Point(*geom.representative_point().coords[0])
    editing.create_feature(Layer.objects.get(slug="biblioteki"),
                           GEOSGeometry(inside.wkt, srid=4326), {"NAZWA": "TEST"})
    after = {r.area_id: r.value for r in methods.compute(method, districts)}
    assert after[district_id] == before[district_id] + 1


def _pair_rows(areas: Layer, layer: Layer) -> dict[tuple[int, int], int]:
    with connection.cursor() as cur:
        cur.execute(f"""SELECT areas_version, input_version, count(*) FROM {methods.MEMBERSHIP}
                        WHERE areas_layer_id = %s AND input_layer_id = %s GROUP BY 1, 2""",
                    [areas.pk, layer.pk])
        return {(av, lv): n for av, lv, n in cur.fetchall()}


def _estimated_rows(areas: Layer, layer: Layer) -> float:
    with connection.cursor() as cur:
        cur.execute(f"""EXPLAIN (FORMAT JSON) SELECT * FROM {methods.MEMBERSHIP}
                        WHERE areas_layer_id = %s AND input_layer_id = %s
                          AND areas_version = %s AND input_version = %s""",
                    [areas.pk, layer.pk, areas.version, layer.version])
        return cur.fetchone()[0][0]["Plan"]["Plan Rows"]


def test_membership_keeps_one_version_per_pair_and_a_big_fill_updates_the_statistics(
        monkeypatch):
    """A refill replaces the pair's rows of other versions (and only those); a fill of at
    least ANALYZE_AFTER_ROWS rows analyzes the table, so that the planner knows the pair's size
    (with the stale statistics of a new fill it expects one row and plans index lookups)."""
    monkeypatch.setattr(methods, "ANALYZE_AFTER_ROWS", 1)  # the Kielce layers are small
    precincts, schools = Layer.objects.get(slug=PRECINCTS), Layer.objects.get(
        slug="placowki-oswiatowe")
    other = Layer.objects.get(slug="biblioteki")
    method = {"kind": "count", "layer": schools.slug, "period": "2022"}
    points = [g for g, _ in shapes(schools.slug).values()]
    expected = {area_id: sum(1 for p in points if geom.intersects(p))
                for area_id, (geom, _) in shapes(PRECINCTS).items()}
    for _ in range(2):
        schools.bump_version()
        schools.refresh_from_db()
        rows = methods.compute(method, precincts)
        assert {r.area_id: r.value for r in rows} == expected
        members = sum(expected.values()) + 1  # and the marker row of the pair
        assert _pair_rows(precincts, schools) == {(precincts.version, schools.version):
                                                  members}
        assert _estimated_rows(precincts, schools) == pytest.approx(members, rel=0.5)
    # Another pair is left alone.
    methods.compute({"kind": "count", "layer": other.slug, "period": "2018"}, precincts)
    assert list(_pair_rows(precincts, schools)) == [(precincts.version, schools.version)]


def test_coverage_matches_a_union_of_buffers_on_a_sample_of_precincts():
    points = [g for g, _ in shapes("defibrylatory").values()]
    values = stored("aed-coverage-500m", PRECINCTS, "2023")
    precincts = list(shapes(PRECINCTS).items())
    for area_id, (geom, _) in precincts[::9]:  # 11 of 94: the union per precinct is slow
        assert values[area_id] == pytest.approx(coverage_pct(geom, points, 500), abs=0.05)


def test_density_and_count_match_point_in_polygon():
    libraries = [g for g, _ in shapes("biblioteki").values()]
    kindergartens = [g for g, p in shapes("placowki-oswiatowe").values()
                     if p.get("amenity") == "kindergarten"]
    counts = stored("libraries", PRECINCTS, "2018")
    density = stored("kindergartens-per-km2", PRECINCTS, "2022")
    for area_id, (geom, _) in shapes(PRECINCTS).items():
        assert counts[area_id] == sum(1 for p in libraries if geom.intersects(p))
        expected = sum(1 for p in kindergartens if geom.intersects(p)) / km2(geom)
        assert density[area_id] == pytest.approx(expected, rel=1e-6)


def test_mean_pools_the_features_of_each_area():
    projects = [(g, p) for g, p in shapes("budzet-obywatelski").values()
                if p["dopuszczenie"] == "ZADANIE DOPUSZCZONE DO GŁOSOWANIA"]
    for year in ("2016", "2017"):
        values = stored("budget-votes-per-project", DISTRICTS, year)
        for area_id, (geom, _) in shapes(DISTRICTS).items():
            votes = [p["glosy"] for g, p in projects
                     if str(p["rok"]) == year and geom.intersects(g) and p["glosy"] is not None]
            expected = sum(votes) / len(votes) if votes else None
            assert values[area_id] == pytest.approx(expected, rel=1e-9)


def test_city_wide_values_are_weighted_not_averages_of_district_values():
    """The city is one more area computed by the same query, so its value is the pooled one:
    total count over total area, covered area over total area, all votes over all projects.
    The districts tile the city (PRG and the district union differ by 0.039 km²), so the
    district figures, weighted properly, must give the city's value."""
    district_shapes = shapes(DISTRICTS)
    area = {i: km2(g) for i, (g, _) in district_shapes.items()}
    total_area = sum(area.values())

    density = stored("schools-per-km2", DISTRICTS, "2022")
    counts = {i: density[i] * area[i] for i in density}
    city_density = next(iter(stored("schools-per-km2", CITY, "2022").values()))
    weighted = sum(counts.values()) / total_area
    naive = sum(density.values()) / len(density)
    assert city_density == pytest.approx(weighted, rel=1e-3)
    assert abs(naive - weighted) > 0.05, "the example must tell weighting from averaging"
    assert abs(city_density - naive) > 0.05

    coverage = stored("aed-coverage-500m", DISTRICTS, "2023")
    city_coverage = next(iter(stored("aed-coverage-500m", CITY, "2023").values()))
    assert city_coverage == pytest.approx(
        sum(coverage[i] * area[i] for i in area) / total_area, abs=0.05)

    for year in ("2016", "2017"):
        means = stored("budget-votes-per-project", DISTRICTS, year)
        admitted = stored("budget-projects-admitted", DISTRICTS, year)
        city_mean = next(iter(stored("budget-votes-per-project", CITY, year).values()))
        pooled = (sum(means[i] * admitted[i] for i in means if means[i] is not None)
                  / sum(admitted[i] for i in means if means[i] is not None))
        assert city_mean == pytest.approx(pooled, rel=1e-9)

    assert next(iter(stored("area-km2", CITY, "2018").values())) == pytest.approx(
        total_area, abs=0.05)


def test_share_with_numeric_and_negated_conditions_matches_python():
    areas = Layer.objects.get(slug=DISTRICTS)
    method = {"kind": "share", "layer": "budzet-obywatelski", "period_field": "rok",
              "where": {"dopuszczenie": {"not": "ZADANIE ODRZUCONE"}},
              "match": {"glosy": {"gte": 1000}}}
    rows = methods.compute(method, areas)
    projects = list(shapes("budzet-obywatelski").values())
    for r in rows:
        geom = shapes(DISTRICTS)[r.area_id][0]
        inside = [p for g, p in projects if str(p["rok"]) == r.period and geom.intersects(g)
                  and p["dopuszczenie"] != "ZADANIE ODRZUCONE"]
        expected = (100 * sum(1 for p in inside if (p["glosy"] or 0) >= 1000) / len(inside)
                    if inside else None)
        assert r.value == pytest.approx(expected)


def _test_layer(slug, geometry_type, geoms, props=None):
    """A layer made in the test (rolled back), from geometry derived from the real layers."""
    layer = Layer.objects.create(slug=slug, title_pl=f"TEST {slug}", geometry_type=geometry_type,
                                 synthetic=True)
    for i, g in enumerate(geoms):
        Feature.objects.create(layer=layer, geom=GEOSGeometry(g.wkt, srid=4326),
                               properties=(props or [{}] * len(geoms))[i])
    return layer


def test_length_density_matches_shapely():
    # Lines made by the test: a path through the schools in register order (real positions,
    # made-up links; no segment runs along a district border, where either side's rounding
    # would decide whether it counts).
    schools = [g for g, p in shapes("placowki-oswiatowe").values() if p.get("amenity") == "school"]
    lines = [shapely.LineString([a, b]) for a, b in zip(schools, schools[1:], strict=False)]
    _test_layer("test-lines", "LineString", lines)
    rows = methods.compute({"kind": "length_density", "layer": "test-lines", "period": "t"},
                           Layer.objects.get(slug=DISTRICTS))
    metric_lines = [to_2180(line) for line in lines]
    for r in rows:
        district = to_2180(shapes(DISTRICTS)[r.area_id][0])
        length_km = sum(district.intersection(line).length for line in metric_lines) / 1000
        assert r.value == pytest.approx(length_km / (district.area / 1e6), rel=1e-6)


def test_area_share_counts_overlaps_once_and_matches_shapely():
    # Polygons: 800 m discs around the libraries; several overlap in the centre.
    discs = [shapely.transform(to_2180(g).buffer(800), lambda xy: np.column_stack(
        TO_2180.transform(*xy.T, direction="INVERSE"))) for g, _ in shapes("biblioteki").values()]
    _test_layer("test-polygons", "Polygon", discs)
    rows = methods.compute({"kind": "area_share", "layer": "test-polygons", "period": "t"},
                           Layer.objects.get(slug=DISTRICTS))
    union = shapely.union_all([to_2180(d) for d in discs])
    assert sum(to_2180(d).area for d in discs) > union.area * 1.05, "discs must overlap"
    for r in rows:
        district = to_2180(shapes(DISTRICTS)[r.area_id][0])
        assert r.value == pytest.approx(100 * district.intersection(union).area / district.area,
                                        rel=1e-6)


def test_per_1000_residents_divides_by_the_imported_population():
    from indicators.importing import import_values
    # Population figures invented for this test only (the city has none), as CSV: the source
    # column says so.
    csv = "area_code,period,value,source\n" + "".join(
        f"{n},2021,{20000 + 1000 * n},TEST figures (not real)\n" for n in range(1, 6))
    population = Indicator.objects.get(code="population")
    import_values(population, Layer.objects.get(slug=DISTRICTS), csv.encode())
    import_values(population, Layer.objects.get(slug=CITY),
                  b"area_code,period,value,source\n2661011,2021,115000,TEST figures (not real)\n")
    indicator = Indicator.objects.get(code="aed-per-1000-residents")
    compute_indicator(indicator)
    aeds = [g for g, _ in shapes("defibrylatory").values()]
    values = IndicatorValue.objects.filter(indicator=indicator, area__layer__slug=DISTRICTS)
    for v in values:
        geom, props = shapes(DISTRICTS)[v.area_id]
        count = sum(1 for p in aeds if geom.intersects(p))
        assert v.value == pytest.approx(1000 * count / (20000 + 1000 * props["NR_OKR"]))
        assert "2021" in v.note
    city = IndicatorValue.objects.get(indicator=indicator, area__layer__slug=CITY)
    assert city.value == pytest.approx(1000 * len(aeds) / 115000)


def test_per_1000_without_population_is_no_data_not_zero():
    values = IndicatorValue.objects.filter(indicator__code="kindergartens-per-1000-residents")
    assert values.count() == 100
    assert not values.exclude(value=None).exists()
    assert set(values.values_list("status", flat=True)) == {"missing"}
    assert set(values.values_list("note", flat=True)) == {"no population figure for this area"}


# --- rasters --------------------------------------------------------------------------------

RASTER_ORIGIN = (600_000.0, 346_000.0)  # EPSG:2180 west / north edge; Kielce lies inside
PIXEL = 100.0


def _make_geotiff(path, width=250, height=220):
    """A small GeoTIFF made by this test (synthetic: values are a formula of the pixel's
    position, not a measurement). EPSG:2180, 100 m pixels, a nodata stripe and a NaN pixel."""
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    data = (cols * 0.5 + rows * 0.25 + np.sin(cols / 7.0) * 3).astype("float32")
    data[:, 150:152] = -9999  # nodata stripe through the middle of the city
    data[100, 140] = np.nan
    transform = from_origin(*RASTER_ORIGIN, PIXEL, PIXEL)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1,
                       dtype="float32", crs="EPSG:2180", transform=transform,
                       nodata=-9999) as dst:
        dst.write(data, 1)
    return data, transform


def _pixel_values(data, transform, polygon_2180):
    """Independent: pixel centres tested with shapely, no rasterio masking involved."""
    height, width = data.shape
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    xs = transform.c + (cols + 0.5) * transform.a
    ys = transform.f + (rows + 0.5) * transform.e
    inside = shapely.contains_xy(polygon_2180, xs, ys)
    values = data[inside].astype(float)
    return values[(values != -9999) & np.isfinite(values)]


@pytest.mark.parametrize("stat", ["mean", "min", "max", "median", "p90", "count"])
def test_raster_zonal_statistics_match_numpy(tmp_path, settings, stat):
    (tmp_path / "test").mkdir()
    data, transform = _make_geotiff(tmp_path / "test" / "synthetic.tif")
    settings.RASTER_DIRS = [tmp_path]
    method = {"kind": "raster", "raster": "test/synthetic.tif", "stat": stat, "period": "t"}
    for slug in (DISTRICTS, CITY):
        for r in methods.compute(method, Layer.objects.get(slug=slug)):
            values = _pixel_values(data, transform, to_2180(shapes(slug)[r.area_id][0]))
            expected = {"mean": np.mean, "min": np.min, "max": np.max, "median": np.median,
                        "p90": lambda v: np.percentile(v, 90), "count": len}[stat](values)
            assert r.value == pytest.approx(float(expected), rel=1e-9)


def test_raster_city_mean_pools_pixels_consistently_with_districts(tmp_path, settings):
    data, transform = _make_geotiff(tmp_path / "synthetic.tif")
    settings.RASTER_DIRS = [tmp_path]
    mean = {"kind": "raster", "raster": "synthetic.tif", "stat": "mean", "period": "t"}
    count = {**mean, "stat": "count"}
    districts = Layer.objects.get(slug=DISTRICTS)
    means = {r.area_id: r.value for r in methods.compute(mean, districts)}
    counts = {r.area_id: r.value for r in methods.compute(count, districts)}
    city = methods.compute(mean, Layer.objects.get(slug=CITY))[0].value
    weighted = sum(means[i] * counts[i] for i in means) / sum(counts.values())
    # Pixel centres in the slivers between PRG and the district union shift it slightly.
    assert city == pytest.approx(weighted, rel=1e-3)


def test_raster_outside_an_area_is_no_data_and_paths_cannot_escape(tmp_path, settings):
    small = tmp_path / "small.tif"
    with rasterio.open(small, "w", driver="GTiff", width=5, height=5, count=1, dtype="uint8",
                       crs="EPSG:2180", transform=from_origin(0, 5000, 1000, 1000)) as dst:
        dst.write(np.ones((5, 5), dtype="uint8"), 1)
    settings.RASTER_DIRS = [tmp_path]
    rows = methods.compute({"kind": "raster", "raster": "small.tif", "period": "t"},
                           Layer.objects.get(slug=DISTRICTS))
    assert [r.value for r in rows] == [None] * 5
    assert all("no raster pixel" in r.note for r in rows)
    escaped = methods.compute({"kind": "raster", "raster": "../../etc/passwd", "period": "t"},
                              Layer.objects.get(slug=DISTRICTS))
    assert all(r.value is None and "not found" in r.note for r in escaped)


# --- edge cases -----------------------------------------------------------------------------

def test_areas_layer_with_an_invalid_polygon_is_computed_on_the_repaired_geometry():
    areas = Layer.objects.create(slug="test-areas", title_pl="TEST obszary", role="areas",
                                 geometry_type="Polygon")
    district = to_2180(shapes(DISTRICTS)[min(shapes(DISTRICTS))][0])
    cx, cy = district.centroid.x, district.centroid.y
    # A bow-tie (self-intersecting ring) of 2 × 2 km around the district centre: invalid.
    bowtie = shapely.Polygon([(cx - 2000, cy - 2000), (cx + 2000, cy + 2000),
                              (cx + 2000, cy - 2000), (cx - 2000, cy + 2000)])
    square = shapely.box(cx - 500, cy - 500, cx + 500, cy + 500)
    back = lambda g: shapely.transform(g, lambda xy: np.column_stack(  # noqa: E731
        TO_2180.transform(*xy.T, direction="INVERSE")))
    bad = Feature.objects.create(layer=areas, geom=GEOSGeometry(back(bowtie).wkt, srid=4326))
    good = Feature.objects.create(layer=areas, geom=GEOSGeometry(back(square).wkt, srid=4326))
    assert not bad.geom.valid
    schools = [g for g, p in shapes("placowki-oswiatowe").values() if p.get("amenity") == "school"]
    for method in ({"kind": "area", "period": "t"},
                   {"kind": "density", "layer": "placowki-oswiatowe",
                    "where": {"amenity": "school"}, "period": "t"},
                   {"kind": "coverage", "layer": "placowki-oswiatowe",
                    "where": {"amenity": "school"}, "period": "t"}):
        rows = {r.area_id: r for r in methods.compute(method, areas)}
        assert "repaired" in rows[bad.id].note and "repaired" not in rows[good.id].note
        repaired = shapely.make_valid(shapes("test-areas")[bad.id][0])
        if method["kind"] == "area":
            assert rows[bad.id].value == pytest.approx(km2(repaired), rel=1e-6)
        elif method["kind"] == "density":
            n = sum(1 for s in schools if repaired.intersects(s))
            assert rows[bad.id].value == pytest.approx(n / km2(repaired), rel=1e-6)
        else:
            assert rows[bad.id].value == pytest.approx(coverage_pct(repaired, schools, 500),
                                                       abs=0.05)


def test_empty_and_missing_input_layers_are_no_data_without_division_errors():
    """Documented in indicators.methods: a layer that does not exist or has no features gives
    no data (the register is empty, which is no evidence of absence); features that exist but
    fall outside an area give 0; share and mean over nothing are no data."""
    Layer.objects.create(slug="empty-points", title_pl="TEST pusta", geometry_type="Point")
    districts = Layer.objects.get(slug=DISTRICTS)
    for kind in ("count", "density", "coverage", "sum", "mean", "share", "length_density",
                 "area_share", "per_1000"):
        extra = {"sum": {"field": "x"}, "mean": {"field": "x"}, "share": {"match": {"x": 1}},
                 "per_1000": {"population": "population"}}.get(kind, {})
        for slug, note in (("empty-points", "has no features"),
                           ("no-such-layer", "does not exist")):
            rows = methods.compute({"kind": kind, "layer": slug, "period": "2024", **extra},
                                   districts)
            assert len(rows) == 5 and all(r.value is None for r in rows), (kind, slug)
            assert all(note in r.note for r in rows)


def test_a_filter_matching_nothing_gives_zero_counts_and_no_data_shares():
    districts = Layer.objects.get(slug=DISTRICTS)
    nothing = {"amenity": "no-such-amenity"}
    for kind, expected in (("count", 0.0), ("density", 0.0), ("coverage", 0.0),
                           ("sum", 0.0), ("mean", None)):
        extra = {"field": "ref:rspo"} if kind in ("sum", "mean") else {}
        rows = methods.compute({"kind": kind, "layer": "placowki-oswiatowe", "where": nothing,
                                "period": "2022", **extra}, districts)
        assert [r.value for r in rows] == [expected] * 5, kind


@pytest.mark.parametrize("method,message", [
    ({"kind": "coverage", "layer": "defibrylatory", "distance": -5}, "distance"),
    ({"kind": "coverage", "layer": "defibrylatory", "distance": "500"}, "distance"),
    ({"kind": "count", "layer": "biblioteki", "were": {"a": 1}}, "unknown option"),
    ({"kind": "count", "layer": "biblioteki", "where": {"a": {"like": "%"}}}, "condition"),
    ({"kind": "count", "layer": "biblioteki", "where": {"a": {"gt": "x"}}}, "needs a number"),
    ({"kind": "count", "layer": "bib lioteki"}, "layer slug"),
    ({"kind": "count", "layer": "biblioteki", "period": "2018", "period_field": "rok"},
     "not both"),
    ({"kind": "sum", "layer": "biblioteki"}, "needs `field`"),
    ({"kind": "raster", "raster": "x.tif", "stat": "p101"}, "stat"),
    ({"kind": "per_1000", "layer": "biblioteki"}, "needs `population`"),
    ({"kind": "median-happiness"}, "unknown method kind"),
    ("count", "a mapping"),
])
def test_invalid_methods_are_refused_with_a_reason(method, message):
    assert any(message in e for e in methods.validate(method))
    with pytest.raises(methods.MethodError, match=message):
        methods.compute(method, Layer.objects.get(slug=DISTRICTS))


def test_non_numeric_properties_are_ignored_by_sums_not_a_cast_error():
    layer = _test_layer("test-numbers", "Point",
                        [shapes("biblioteki")[i][0] for i in list(shapes("biblioteki"))[:4]],
                        [{"n": 5}, {"n": "7,5"}, {"n": "n/a"}, {"n": None}])
    rows = methods.compute({"kind": "sum", "layer": layer.slug, "field": "n", "period": "t"},
                           Layer.objects.get(slug=CITY))
    assert rows[0].value == pytest.approx(12.5)
