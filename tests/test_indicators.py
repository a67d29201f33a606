"""Indicators computed in PostGIS agree with an independent computation (shapely + pyproj)."""

import json

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely import from_geojson

from indicators import classify, methods
from indicators.computing import compute_indicator
from indicators.models import Indicator, IndicatorValue
from layers.models import Feature, Layer

pytestmark = pytest.mark.django_db

TO_2180 = Transformer.from_crs(4326, 2180, always_xy=True)


def km2(geom) -> float:
    metric = shapely.transform(geom, lambda xy: np.column_stack(TO_2180.transform(*xy.T)))
    return metric.area / 1e6


def _shapes(slug):
    return {f.id: (from_geojson(f.geom.geojson), f.properties)
            for f in Feature.objects.filter(layer__slug=slug)}


def _value(code, area_id, period):
    return IndicatorValue.objects.get(indicator__code=code, area_id=area_id, period=period).value


def test_at_least_three_real_indicators_have_values_for_every_district():
    districts = Feature.objects.filter(layer__slug="okregi-wyborcze")
    codes = set(IndicatorValue.objects.filter(area__in=districts, value__isnull=False)
                .values_list("indicator__code", flat=True))
    assert len(codes) >= 3
    for code in ("schools-per-km2", "accessible-polling-stations", "budget-votes"):
        assert IndicatorValue.objects.filter(indicator__code=code, area__in=districts,
                                             value__isnull=False).count() >= 5


def test_schools_per_km2_matches_shapely():
    schools = [g for g, p in _shapes("placowki-oswiatowe").values() if p.get("amenity") == "school"]
    for area_id, (area, _) in _shapes("okregi-wyborcze").items():
        count = sum(1 for s in schools if area.intersects(s))
        expected = count / km2(area)
        assert _value("schools-per-km2", area_id, "2022") == pytest.approx(expected, rel=1e-3)


def test_accessible_polling_station_share_matches_python():
    stations = list(_shapes("lokale-wyborcze").values())
    for area_id, (area, _) in _shapes("okregi-wyborcze").items():
        inside = [p["NIEPELNOSP"] for g, p in stations
                  if area.intersects(g) and p.get("NIEPELNOSP") in ("TAK", "NIE")]
        expected = 100 * inside.count("TAK") / len(inside)
        assert _value("accessible-polling-stations", area_id, "2018") == pytest.approx(expected)


def test_budget_votes_is_a_real_time_series_and_sums_match():
    projects = list(_shapes("budzet-obywatelski").values())
    for year in (2016, 2017):
        total = sum(p["glosy"] or 0 for _, p in projects if p["rok"] == year)
        stored = sum(v.value for v in IndicatorValue.objects.filter(
            indicator__code="budget-votes", period=str(year), area__layer__slug="okregi-wyborcze"))
        # Districts tile the city, so every project falls in at least one district; a project
        # exactly on a shared border would count twice, which this equality rules out here.
        assert stored == pytest.approx(total)


def test_district_areas_add_up_to_the_city():
    total = sum(v.value for v in IndicatorValue.objects.filter(
        indicator__code="area-km2", area__layer__slug="okregi-wyborcze"))
    assert total == pytest.approx(109.53, abs=0.05)  # PRG: 109.529 km²


def test_values_carry_source_period_and_input_versions():
    value = IndicatorValue.objects.filter(indicator__code="aed-per-km2").first()
    assert value.source.startswith("OpenStreetMap")
    assert value.period == "2023"
    assert set(value.input_versions) == {"defibrylatory", value.area.layer.slug}


def test_share_over_an_empty_selection_is_no_data_not_zero():
    layer = Layer.objects.get(slug="okregi-wyborcze")
    rows = methods.compute({"kind": "share", "layer": "lokale-wyborcze",
                            "where": {"NIEPELNOSP": "NO SUCH VALUE"},
                            "match": {"NIEPELNOSP": "TAK"}, "period": "2018"}, layer)
    assert len(rows) == 5 and all(r.value is None for r in rows)


def test_density_over_an_empty_layer_is_no_data_without_division_errors():
    # An empty register is no evidence that the thing is absent (see indicators.methods).
    empty = Layer.objects.create(slug="empty-points", title_pl="Pusta", geometry_type="Point")
    layer = Layer.objects.get(slug="okregi-wyborcze")
    rows = methods.compute({"kind": "density", "layer": empty.slug, "period": "2024"}, layer)
    assert [r.value for r in rows] == [None] * 5
    assert all("no features" in r.note for r in rows)


def test_unknown_method_kind_is_refused_and_a_missing_layer_is_no_data():
    layer = Layer.objects.get(slug="okregi-wyborcze")
    with pytest.raises(methods.MethodError, match="unknown method kind"):
        methods.compute({"kind": "median-happiness"}, layer)
    rows = methods.compute({"kind": "count", "layer": "no-such-layer", "period": "2024"}, layer)
    assert [r.value for r in rows] == [None] * 5
    assert all("does not exist" in r.note for r in rows)


def test_where_values_are_bound_not_interpolated():
    layer = Layer.objects.get(slug="okregi-wyborcze")
    rows = methods.compute({"kind": "count", "layer": "biblioteki", "period": "x",
                            "where": {"NAZWA' OR '1'='1": "'; DROP TABLE layers_layer; --"}},
                           layer)
    assert [r.value for r in rows] == [0.0] * 5
    assert Layer.objects.filter(slug="biblioteki").exists()


def test_recompute_is_idempotent():
    indicator = Indicator.objects.get(code="libraries")
    before = IndicatorValue.objects.filter(indicator=indicator).count()
    compute_indicator(indicator)
    assert IndicatorValue.objects.filter(indicator=indicator).count() == before


def test_legend_breaks_cover_all_values():
    indicator = Indicator.objects.get(code="schools-per-km2")
    areas = Layer.objects.get(slug="obwody-glosowania")
    legend = classify.legend(indicator, areas, "2022")
    values = IndicatorValue.objects.filter(indicator=indicator, area__layer=areas)
    assert 3 <= len(legend["classes"]) <= 7
    assert max(v.value for v in values) == legend["breaks"][-1]
    assert legend["breaks"] == sorted(legend["breaks"])
    assert {classify.class_of(v.value, legend["breaks"]) for v in values} == set(
        range(len(legend["classes"])))


def test_api_lists_indicators_and_values(client):
    listing = client.get("/api/indicators/").json()
    votes = next(i for i in listing if i["code"] == "budget-votes")
    assert votes["periods"] == ["2016", "2017"]
    assert set(votes["area_layers"]) == {"okregi-wyborcze", "obwody-glosowania"}
    rows = client.get("/api/indicators/budget-votes/values/",
                      {"areas": "okregi-wyborcze", "period": "2016"}).json()
    assert len(rows) == 5
    assert {"area_id", "area_name", "period", "value", "source", "status"} <= set(rows[0])
    csv_text = client.get("/api/indicators/budget-votes/values/",
                          {"areas": "okregi-wyborcze", "period": "2016", "f": "csv"}).content
    assert csv_text.decode().splitlines()[0].startswith(
        "area_id,area_name,period,value,source,status,")


@pytest.mark.parametrize("url,message", [
    ("/api/indicators/nope/values/", "unknown indicator"),
    ("/api/indicators/budget-votes/values/?period=1999", "no values for period"),
    ("/api/indicators/budget-votes/values/?areas=biblioteki", "not computed for areas layer"),
    ("/api/indicators/budget-votes/legend/?areas=%27%3B--", "not computed for areas layer"),
])
def test_api_bad_input_is_a_clear_404(client, url, message):
    response = client.get(url)
    assert response.status_code == 404
    assert message in json.dumps(response.json())
