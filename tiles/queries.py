"""The SQL behind the tiles: every tile is built by PostGIS in one statement.

Geometry is stored in EPSG:4326; tiles are cut in EPSG:3857. Features are found with
`geom && <tile envelope in 4326>` so the GiST index on geom does the search, and only the few
features found are transformed to 3857. The envelope used for the search is widened by the tile
buffer, so features just outside the tile still draw their part inside the buffer.
"""

from dataclasses import dataclass

from django.db import connection

from tiles.params import TileCoord

EXTENT = 4096
BUFFER = 64

# Both envelopes of a tile: `tile` (3857) for ST_AsMVTGeom, `search` (4326, with the buffer)
# for the index. A Mercator rectangle is a lon/lat rectangle, so transforming corners is exact.
_ENVELOPES = """
    SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS tile,
           ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s), 4326)
             AS search
"""

# One MVT layer per requested layer, concatenated in request order (concatenated MVT layers are
# a valid MVT). The jsonb `properties` column is expanded by ST_AsMVT into feature properties;
# `id` becomes the MVT feature id. Rows clipped away (NULL geometry) are dropped so that a tile
# with nothing to draw is empty rather than a layer with no features.
_LAYER_TILE = f"""
WITH env AS ({_ENVELOPES})
SELECT string_agg(mvt, ''::bytea ORDER BY ord) FROM (
    SELECT l.ord, ST_AsMVT(t, l.slug, {EXTENT}, 'geom', 'id') AS mvt
    FROM unnest(%(ids)s::bigint[], %(slugs)s::text[]) WITH ORDINALITY AS l(id, slug, ord)
    CROSS JOIN env
    CROSS JOIN LATERAL (
        SELECT f.id, f.properties,
               ST_AsMVTGeom(ST_Transform(f.geom, 3857), env.tile, {EXTENT}, {BUFFER}, true)
                 AS geom
        FROM layers_feature f
        WHERE f.layer_id = l.id AND f.geom && env.search
    ) t
    WHERE t.geom IS NOT NULL
    GROUP BY l.ord, l.slug
) layers
"""


def _params(tile: TileCoord, **extra) -> dict:
    return {"z": tile.z, "x": tile.x, "y": tile.y, "margin": BUFFER / EXTENT, **extra}


def _fetch_bytes(sql: str, params: dict) -> bytes:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    return bytes(row[0]) if row and row[0] is not None else b""


def layer_tile(layers: list[tuple[int, str]], tile: TileCoord) -> bytes:
    """MVT bytes for (layer id, slug) pairs; b"" when no feature touches the tile."""
    return _fetch_bytes(_LAYER_TILE, _params(
        tile, ids=[i for i, _ in layers], slugs=[s for _, s in layers]))


@dataclass(frozen=True)
class Bounds:
    west: float
    south: float
    east: float
    north: float


def layers_bounds(layer_ids: list[int]) -> Bounds | None:
    """Extent of the layers' features in lon/lat; None when they have no features."""
    with connection.cursor() as cur:
        cur.execute("""
            SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
            FROM (SELECT ST_Extent(geom) AS e FROM layers_feature
                  WHERE layer_id = ANY(%s::bigint[])) x""", [layer_ids])
        row = cur.fetchone()
    return Bounds(*row) if row and row[0] is not None else None


# The areas of one layer with one indicator value each. Ranks are taken over the whole layer
# before the tile filter, so an area's rank does not depend on which tile shows it. An area may
# have values from several sources: the indicator's own source wins, then the first by name, so
# every area is one feature. Classes follow indicators.classify.class_of: 0-based index of the
# first upper bound >= value, values above the last bound fall in the last class.
_INDICATOR_TILE = f"""
WITH env AS ({_ENVELOPES}),
vals AS (
    SELECT DISTINCT ON (v.area_id) v.area_id, v.value, v.source
    FROM indicators_indicatorvalue v
    JOIN layers_feature a ON a.id = v.area_id
    WHERE v.indicator_id = %(indicator)s AND v.period = %(period)s AND a.layer_id = %(layer)s
    ORDER BY v.area_id, (v.source = %(preferred_source)s) DESC, v.source
),
ranked AS (
    SELECT area_id, value, source,
           CASE WHEN value IS NOT NULL THEN
             rank() OVER (ORDER BY value * %(direction)s DESC NULLS LAST) END AS rank,
           CASE WHEN value IS NOT NULL AND cardinality(%(breaks)s::float8[]) > 0 THEN
             coalesce((SELECT min(b.i) FROM unnest(%(breaks)s::float8[]) WITH ORDINALITY
                         AS b(upper, i) WHERE vals.value <= b.upper),
                      cardinality(%(breaks)s::float8[])) - 1 END AS class
    FROM vals
),
features AS (
    SELECT f.id AS fid, f.id AS id,
           coalesce(f.properties ->> %(name_field)s, '#' || f.id) AS name,
           r.value, r.class::integer AS "class", r.rank::integer AS rank,
           %(period)s::text AS period, r.source,
           ST_AsMVTGeom(ST_Transform(f.geom, 3857), env.tile, {EXTENT}, {BUFFER}, true) AS geom
    FROM layers_feature f CROSS JOIN env
    LEFT JOIN ranked r ON r.area_id = f.id
    WHERE f.layer_id = %(layer)s AND f.geom && env.search
)
SELECT ST_AsMVT(features, 'indicator', {EXTENT}, 'geom', 'fid')
FROM features WHERE geom IS NOT NULL
"""

# Rank 1 is the best area: for "lower is better" that is the lowest value.
_DIRECTION = {"higher": 1, "lower": -1, "neutral": 1}


def indicator_tile(*, indicator_id: int, polarity: str, preferred_source: str, layer_id: int,
                   name_field: str, period: str, breaks: list[float], tile: TileCoord) -> bytes:
    return _fetch_bytes(_INDICATOR_TILE, _params(
        tile, indicator=indicator_id, direction=_DIRECTION.get(polarity, 1),
        preferred_source=preferred_source, layer=layer_id, name_field=name_field or "",
        period=period, breaks=[float(b) for b in breaks]))


def indicator_values_stamp(indicator_id: int, layer_id: int, period: str) -> str:
    """Changes whenever a value the indicator tile shows changes.

    max(computed_at) alone misses deletions and QuerySet.update() (no auto_now), so the count
    and a digest of the values themselves are part of it; over one layer's areas that is cheap.
    """
    with connection.cursor() as cur:
        cur.execute("""
            SELECT count(*), max(v.computed_at),
                   md5(string_agg(concat_ws(':', v.area_id, v.source, v.value),
                                  ',' ORDER BY v.area_id, v.source))
            FROM indicators_indicatorvalue v JOIN layers_feature a ON a.id = v.area_id
            WHERE v.indicator_id = %s AND v.period = %s AND a.layer_id = %s""",
                    [indicator_id, period, layer_id])
        count, latest, digest = cur.fetchone()
    return f"{count}:{latest.isoformat() if latest else '-'}:{digest or '-'}"
