"""The SQL pieces of staging (layers.importing.staging) that need no database to judge."""

import shapely
from shapely.geometry import Point, Polygon

from layers.importing.staging import _area_of_use, _ewkb, _inside_area_of_use


def test_staged_geometries_carry_their_srid_in_ewkb():
    for geom in (Point(7473914.7, 5638645.4), Polygon([(0, 0), (1, 0), (1, 1)])):
        for order in ("little", "big"):
            wkb = shapely.to_wkb(geom, byte_order=1 if order == "little" else 0)
            staged = shapely.from_wkb(_ewkb(wkb, 2178))
            assert shapely.get_srid(staged) == 2178 and staged.equals(geom)


def test_the_area_of_use_is_in_the_crs_own_units_with_a_margin():
    xmin, ymin, xmax, ymax = _area_of_use(2178)  # PL-2000 zone 7: 19.5 to 22.5 E
    assert 7_300_000 < xmin < 7_400_000 and 7_600_000 < xmax < 7_700_000
    assert 5_300_000 < ymin < 5_500_000 and 6_000_000 < ymax < 6_200_000
    assert _area_of_use(4326) == (-180.0, -90.0, 180.0, 90.0)


def test_one_crs_is_one_envelope_several_a_case_on_each_rows_srid():
    sql, srid, params = _inside_area_of_use([2178])
    assert sql == "g @ ST_MakeEnvelope(%(xmin0)s, %(ymin0)s, %(xmax0)s, %(ymax0)s, %(srid0)s)"
    assert srid == "%(srid0)s" and params["srid0"] == 2178
    sql, srid, params = _inside_area_of_use([2178, 4326])
    assert sql.startswith("CASE ST_SRID(g) WHEN %(srid0)s THEN g @ ST_MakeEnvelope(%(xmin0)s")
    assert "WHEN %(srid1)s THEN g @ ST_MakeEnvelope(%(xmin1)s" in sql and sql.endswith(" END")
    assert srid == "ST_SRID(g)" and (params["srid1"], params["xmax1"]) == (4326, 180.0)
