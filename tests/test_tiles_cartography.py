"""Cartographic quality of the tiles: shared edges, zoom range, feature limit, buffers."""

import json
import math

import mapbox_vector_tile
import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from pyproj import Geod
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry import shape
from shapely.ops import unary_union

from layers import editing
from layers.models import Feature, Layer
from tests.test_tiles import CENTRE, decode, get_tile, ids, tile_bbox, tile_of
from tests.test_tiles_options import city_tiles
from tiles import queries

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


def set_tiles(slug: str, **fields) -> Layer:
    layer = Layer.objects.get(slug=slug)
    for name, value in fields.items():
        setattr(layer, name, value)
    layer.save(update_fields=list(fields))
    return layer


# --- shared edges ----------------------------------------------------------------------------

def coverage_defects(tile: dict, layer: str) -> tuple[float, float]:
    """(overlap, gap) area in tile units² between the polygons of one decoded tile layer.

    The districts cover the city without holes, so any hole in the union of their tile shapes
    is a gap between neighbours; area counted twice in the sum is an overlap (a sliver)."""
    polygons = [shape(f["geometry"]) for f in tile[layer]["features"]]
    union = unary_union(polygons)
    overlap = sum(p.area for p in polygons) - union.area
    parts = getattr(union, "geoms", [union])
    gap = sum(ShapelyPolygon(ring).area for part in parts for ring in part.interiors)
    return overlap, gap


def district_tiles(z: int, geom_sql: str) -> list[dict]:
    layer = Layer.objects.get(slug="okregi-wyborcze")
    out = []
    for tz, tx, ty in city_tiles(z):
        sql = f"""
            WITH env AS (SELECT ST_TileEnvelope(%s, %s, %s) AS tile)
            SELECT ST_AsMVT(t, 'd', 4096, 'geom', 'id') FROM (
              SELECT f.id, {geom_sql} AS geom FROM layers_feature f, env
              WHERE f.layer_id = %s AND f.geom && ST_Transform(env.tile, 4326)) t
            WHERE geom IS NOT NULL"""
        with connection.cursor() as cur:
            cur.execute(sql, [tz, tx, ty, layer.id])
            data = cur.fetchone()[0]
        if data:
            out.append(mapbox_vector_tile.decode(bytes(data)))
    return out


def test_districts_share_their_edges_at_every_zoom(client):
    checked = 0
    for z in range(6, 15):
        for tz, tx, ty in city_tiles(z):
            response = get_tile(client, f"/tiles/okregi-wyborcze/{tz}/{tx}/{ty}.pbf")
            if response.status_code != 200:
                continue
            tile = decode(response)
            if len(tile["okregi-wyborcze"]["features"]) < 2:
                continue
            overlap, gap = coverage_defects(tile, "okregi-wyborcze")
            assert overlap == pytest.approx(0, abs=1e-6), (tz, tx, ty)
            assert gap == pytest.approx(0, abs=1e-6), (tz, tx, ty)
            checked += 1
    assert checked > 30


def test_the_coverage_check_catches_per_polygon_simplification():
    # The same check fails for the usual shortcut (ST_Simplify per feature, tolerance ~2 px at
    # z10), so passing it above means something.
    naive = ("ST_AsMVTGeom(ST_Simplify(ST_Transform(f.geom, 3857), 50), env.tile, 4096, 64, "
             "true)")
    defects = [coverage_defects(t, "d") for z in (9, 10, 11) for t in district_tiles(z, naive)]
    assert max(o for o, _ in defects) > 1 and max(g for _, g in defects) > 1


def test_low_zoom_tiles_are_simplified(client):
    # The simplification is the snapping to the tile grid: the lower the zoom, the coarser the
    # grid, the fewer vertices. At z6-z9 the five districts fit in one tile.
    def vertices(z):
        tz, tx, ty = tile_of(*CENTRE, z)
        tile = decode(get_tile(client, f"/tiles/okregi-wyborcze/{tz}/{tx}/{ty}.pbf"))
        assert len(tile["okregi-wyborcze"]["features"]) == 5
        return sum(len(shape(f["geometry"]).exterior.coords) if f["geometry"]["type"] ==
                   "Polygon" else sum(len(p.exterior.coords) for p in shape(f["geometry"]).geoms)
                   for f in tile["okregi-wyborcze"]["features"])

    stored = sum(f.geom.num_coords for f in Feature.objects.filter(layer__slug="okregi-wyborcze"))
    counts = [vertices(z) for z in (6, 7, 8, 9)]
    assert counts == sorted(counts) and len(set(counts)) == 4
    assert counts[2] < stored * 0.6
    assert counts[0] < stored * 0.25


# --- zoom range ------------------------------------------------------------------------------

def test_layer_is_left_out_below_its_minzoom_and_above_its_maxzoom(client):
    set_tiles("biblioteki", tile_minzoom=11, tile_maxzoom=13)
    for z, expected in [(10, False), (11, True), (13, True), (14, False)]:
        tz, tx, ty = tile_of(*CENTRE, z)
        response = get_tile(client, f"/tiles/biblioteki/{tz}/{tx}/{ty}.pbf")
        assert (response.status_code == 200) is expected, z
        composite = decode(get_tile(
            client, f"/tiles/okregi-wyborcze,biblioteki/{tz}/{tx}/{ty}.pbf"))
        assert ("biblioteki" in composite) is expected, z
        assert "okregi-wyborcze" in composite


def test_zoom_range_change_takes_effect_at_once(client):
    z, x, y = tile_of(*CENTRE, 12)
    path = f"/tiles/biblioteki/{z}/{x}/{y}.pbf"
    assert get_tile(client, path).status_code == 200
    set_tiles("biblioteki", tile_minzoom=13)
    assert get_tile(client, path).status_code == 204


def test_tilejson_announces_the_zoom_ranges(client):
    set_tiles("biblioteki", tile_minzoom=12, tile_maxzoom=18)
    set_tiles("okregi-wyborcze", tile_minzoom=5, tile_maxzoom=14)
    doc = client.get("/tiles/biblioteki,okregi-wyborcze.json").json()
    assert (doc["minzoom"], doc["maxzoom"]) == (5, 18)
    ranges = {v["id"]: (v["minzoom"], v["maxzoom"]) for v in doc["vector_layers"]}
    assert ranges == {"biblioteki": (12, 18), "okregi-wyborcze": (5, 14)}
    assert 5 <= doc["center"][2] <= 18


# --- feature limit ---------------------------------------------------------------------------

def test_feature_limit_keeps_the_largest_polygons(client):
    # Areas on the ellipsoid, computed apart from PostGIS.
    geod = Geod(ellps="WGS84")
    areas = {f.id: abs(geod.geometry_area_perimeter(shape(json.loads(f.geom.json)))[0])
             for f in Feature.objects.filter(layer__slug="okregi-wyborcze")}
    biggest = set(sorted(areas, key=areas.get, reverse=True)[:2])
    set_tiles("okregi-wyborcze", tile_feature_limit=2)
    z, x, y = tile_of(*CENTRE, 8)
    tile = decode(get_tile(client, f"/tiles/okregi-wyborcze/{z}/{x}/{y}.pbf"))
    assert ids(tile, "okregi-wyborcze") == biggest


def test_feature_limit_thins_points_evenly_and_consistently_across_zooms(client):
    limit = 40
    layer = set_tiles("placowki-oswiatowe", tile_feature_limit=limit)
    everything = set(layer.features.values_list("id", flat=True))
    kept = {}
    for z in (11, 12, 13):
        for tz, tx, ty in city_tiles(z):
            response = get_tile(client, f"/tiles/placowki-oswiatowe/{tz}/{tx}/{ty}.pbf")
            if response.status_code == 200:
                got = ids(decode(response), "placowki-oswiatowe")
                assert len(got) <= limit
                kept[(tz, tx, ty)] = got
    full = [t for t, got in kept.items() if len(got) == limit]
    assert full, "no tile reached the limit"
    # The documented rule: of the points in the tile and its buffer, the first by hashint8(id).
    for z, x, y in full:
        box = tile_bbox(z, x, y, margin=queries.POINT_BUFFER / queries.EXTENT)
        inside = list(layer.features.filter(geom__intersects=box).values_list("id", flat=True))
        with connection.cursor() as cur:
            cur.execute("SELECT id FROM unnest(%s::bigint[]) id ORDER BY hashint8(id), id "
                        "LIMIT %s", [inside, limit])
            assert kept[(z, x, y)] == {i for (i,) in cur.fetchall()}
    # A feature kept in a tile is kept in the child tile that holds it.
    for (z, x, y), got in kept.items():
        for (cz, cx, cy), child in kept.items():
            if cz == z + 1 and cx // 2 == x and cy // 2 == y:
                feats = Feature.objects.filter(pk__in=got)
                inside = {f.id for f in feats if tile_of(f.geom.x, f.geom.y, cz) == (cz, cx, cy)}
                assert inside <= child
    # Dropped points are not one corner of the tile: the kept ones spread over it.
    z11 = max((t for t in kept if t[0] == 11), key=lambda t: len(kept[t]))
    points = Feature.objects.filter(pk__in=kept[z11])
    lons = sorted(p.geom.x for p in points)
    assert lons[-1] - lons[0] > 0.05
    assert kept[z11] <= everything


def test_feature_limit_counts_per_layer_in_a_composite(client):
    set_tiles("placowki-oswiatowe", tile_feature_limit=5)
    z, x, y = tile_of(*CENTRE, 12)
    tile = decode(get_tile(client, f"/tiles/placowki-oswiatowe,biblioteki/{z}/{x}/{y}.pbf"))
    assert len(tile["placowki-oswiatowe"]["features"]) == 5
    assert len(tile["biblioteki"]["features"]) > 5 or len(tile["biblioteki"]["features"]) == len(
        decode(get_tile(client, f"/tiles/biblioteki/{z}/{x}/{y}.pbf"))["biblioteki"]["features"])


# --- buffers ---------------------------------------------------------------------------------

def tile_lonlat(z: int, x: float, y: float) -> tuple[float, float]:
    """Lon/lat of a (fractional) tile coordinate."""
    n = 2**z
    return x / n * 360 - 180, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))


def add_library(lon: float, lat: float) -> Feature:
    layer = Layer.objects.get(slug="biblioteki")
    return editing.create_feature(layer, Point(lon, lat, srid=4326), {"NAZWA": "Test"})


def test_points_near_a_tile_edge_are_in_both_tiles_not_cut(client):
    z, x, y = tile_of(*CENTRE, 15)
    # 100/4096 of a tile west of the tile's east edge, mid-height.
    inside = add_library(*tile_lonlat(z, x + 1 - 100 / 4096, y + 0.5))
    # 200/4096 east of the edge: outside the tile, within the point buffer (256).
    outside = add_library(*tile_lonlat(z, x + 1 + 200 / 4096, y + 0.5))
    # 300/4096 east of the edge: beyond the buffer.
    far = add_library(*tile_lonlat(z, x + 1 + 300 / 4096, y + 0.5))

    here = decode(get_tile(client, f"/tiles/biblioteki/{z}/{x}/{y}.pbf"))["biblioteki"]
    xs = {f["id"]: f["geometry"]["coordinates"][0] for f in here["features"]}
    assert xs[inside.id] == pytest.approx(4096 - 100, abs=1)
    assert xs[outside.id] == pytest.approx(4096 + 200, abs=1)  # kept, not clipped
    assert far.id not in xs

    east = decode(get_tile(client, f"/tiles/biblioteki/{z}/{x + 1}/{y}.pbf"))["biblioteki"]
    xs = {f["id"]: f["geometry"]["coordinates"][0] for f in east["features"]}
    assert xs[inside.id] == pytest.approx(-100, abs=1)  # drawn from the neighbour too
    assert xs[outside.id] == pytest.approx(200, abs=1)


def test_polygons_reach_into_the_buffer_and_no_further(client):
    # A district crossing a z14 tile's edge is clipped 64 units beyond it on every side.
    for tz, tx, ty in city_tiles(14):
        response = get_tile(client, f"/tiles/okregi-wyborcze/{tz}/{tx}/{ty}.pbf")
        if response.status_code != 200:
            continue
        for f in decode(response)["okregi-wyborcze"]["features"]:
            geom = shape(f["geometry"])
            minx, miny, maxx, maxy = geom.bounds
            assert -queries.BUFFER <= minx and maxx <= 4096 + queries.BUFFER
            assert -queries.BUFFER <= miny and maxy <= 4096 + queries.BUFFER
            if geom.area > 4096 * 4096 * 0.99:  # a tile inside one district
                assert (minx, maxx) == (-queries.BUFFER, 4096 + queries.BUFFER)
                return
    pytest.fail("no z14 tile lies wholly inside a district")
