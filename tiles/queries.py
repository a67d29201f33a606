"""The SQL behind the tiles: every tile is built by PostGIS in one statement.

Geometry is stored in EPSG:4326; tiles are cut in EPSG:3857. Features are found with
`geom && <tile envelope in 4326>` so the GiST index on geom does the search, and only the few
features found are transformed to 3857. The envelope used for the search is widened by the tile
buffer, so features just outside the tile still draw their part inside the buffer.
"""

import functools
import json
import weakref
from dataclasses import dataclass

from django.db.utils import InterfaceError, NotSupportedError, OperationalError

# Reads go where sdi.routers says: the replica for anonymous requests when there is one.
from sdi.routers import read_connection as connection
from tiles.params import TileCoord

EXTENT = 4096
# Polygons and lines: 64/4096 of a tile (4 px at 256 px) beyond the edge, enough for strokes and
# to hide seams between tiles. Points: 256/4096 (16 px), so that a symbol centred just outside
# the tile is drawn in it too and is not cut in half at the tile edge.
BUFFER = 64
POINT_BUFFER = 256
POINT_TYPES = ("Point", "MultiPoint")

# Planner settings for the tile statements, scoped to their own (implicit) transaction. A tile
# query is small and runs many at a time: parallel workers and JIT compilation cost more than
# they save (bench/tiles.py measures it).
_SETTINGS = "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off; "


def buffer_for(geometry_type: str) -> int:
    return POINT_BUFFER if geometry_type in POINT_TYPES else BUFFER


# One MVT layer per requested layer, concatenated in request order (concatenated MVT layers are
# a valid MVT): `SELECT (<layer 1>) || (<layer 2>) ...`, each layer part with its own
# parameters after the tile address $1-$3: name, id, buffer, attributes to keep, jsonpath
# filter and its variables, feature limit. Features are found
# with `geom && <tile envelope widened by the buffer, in 4326>` so the GiST index on
# (layer_id, geom) does the search, and only those are transformed to 3857. The envelopes are
# sub-selects, so PostgreSQL computes them once per statement rather than once per feature.
# (One flat statement per layer pattern measured ~17% faster at z14-16 than the earlier single
# statement that joined a jsonb list of layers laterally and grouped the result.)
#
# Simplification is ST_AsMVTGeom's quantisation to the tile's 4096 grid (a unit is 1/16 px of a
# 256-px tile): every vertex is snapped to the same grid whichever polygon it belongs to, so a
# boundary shared by two districts stays shared at every zoom (no gaps, no slivers), unlike
# per-polygon simplification such as ST_Simplify. Repeated and collinear points are dropped.
#
# The jsonb `properties` column is expanded by ST_AsMVT into feature properties; `id` becomes
# the MVT feature id. ST_AsMVT skips rows whose geometry was clipped away (NULL) and gives empty
# bytes for a layer left without features, so a tile with nothing to draw is empty. (Filtering
# those rows in SQL instead makes PostgreSQL evaluate ST_AsMVTGeom twice per row.)
_LAYER_PART = """
(SELECT coalesce(ST_AsMVT(t, $name, 4096, 'geom', 'id'), ''::bytea) FROM (
    SELECT f.id,
           CASE WHEN $keep::text[] IS NULL THEN f.properties
                ELSE (SELECT coalesce(jsonb_object_agg(p.key, p.value), '{}')
                      FROM jsonb_each(f.properties) p WHERE p.key = ANY($keep::text[]))
           END AS properties,
           ST_AsMVTGeom(ST_Transform(f.geom, 3857), (SELECT ST_TileEnvelope($1, $2, $3)), 4096,
                        $buffer, true) AS geom
    FROM layers_feature f
    WHERE f.layer_id = $id
      AND f.geom && (SELECT ST_Transform(
            ST_TileEnvelope($1, $2, $3, margin => $buffer / 4096.0), 4326))
      AND ($filter::jsonpath IS NULL
           OR jsonb_path_match(f.properties, $filter::jsonpath, $vars::jsonb, true))
    /*LIMIT*/
) t)"""
_PART_PARAMS = ("name", "id", "buffer", "keep", "filter", "vars", "limit")
_PART_TYPES = "text, bigint, int, text[], jsonpath, jsonb, int"

# The feature limit: which features a full tile keeps. Higher dimension first (areas, then
# lines, then points), then larger (area or length of the whole feature, not of the part in the
# tile), then a fixed pseudo-random order of ids (hashint8) so that thinned points are an even
# sample rather than, say, the oldest ones or one corner of the tile. The order is the same in
# every tile and a child tile's candidates are a subset of its parent's, so a feature kept at
# one zoom is kept at every higher zoom. Only the kept features are transformed for drawing.
# In a layer of points the first two keys are the same for every feature, so its statement
# sorts on the last two alone: the same features in the same order, without two constant
# keys compared first in every comparison (~7 % less database time on the bench's point tiles
# at z14-16).
_SIZED_ORDER = """
    ORDER BY ST_Dimension(f.geom) DESC,
             CASE WHEN ST_Dimension(f.geom) > 0
                  THEN (SELECT ST_Area(g) + ST_Length(g)
                        FROM ST_Transform(f.geom, 3857) g) ELSE 0 END DESC,
             hashint8(f.id), f.id
    LIMIT $limit"""
_SAMPLED_ORDER = """
    ORDER BY hashint8(f.id), f.id
    LIMIT $limit"""
# How a layer part ends: "a" all features (no limit), "l" limited, "p" limited points.
_ENDINGS = {"a": "", "l": _SIZED_ORDER, "p": _SAMPLED_ORDER}


def _part(first: int, kind: str) -> str:
    """The layer part of the given kind with its parameters numbered from $first."""
    sql = _LAYER_PART.replace("/*LIMIT*/", _ENDINGS[kind])
    # Longest names first would matter if one were a prefix of another; none is.
    for i, name in enumerate(_PART_PARAMS):
        sql = sql.replace(f"${name}", f"${first + i}")
    return sql


@functools.lru_cache(maxsize=256)
def layer_tile_statement(kinds: str) -> tuple[str, str, str]:
    """Name, SQL and parameter types of the statement for layers of the given kinds (one
    letter each, in order: see _ENDINGS)."""
    parts = [_part(4 + i * len(_PART_PARAMS), kind) for i, kind in enumerate(kinds)]
    types = ", ".join(["int, int, int"] + [_PART_TYPES] * len(kinds))
    return f"tiles_v4_{kinds}", "SELECT " + " || ".join(parts), types


def layer_tile_args(layers: list["LayerQuery"], tile: TileCoord) -> list:
    args: list = [tile.z, tile.x, tile.y]
    for la in layers:
        args += [la.slug, la.id, la.buffer, la.keep, la.filter,
                 json.dumps(la.vars) if la.vars is not None else None, la.limit or None]
    return args


# Prepared statements per database connection (they live as long as the connection). Planning
# the tile statement costs about as much as running it at high zoom, so it is planned once. A
# connection keeps at most _MAX_PREPARED of them (one per pattern of layers asked for together).
_prepared: "weakref.WeakKeyDictionary[object, set[str]]" = weakref.WeakKeyDictionary()
_MAX_PREPARED = 64


def fetch(sql: str, params, rows: bool = False, prepared: tuple[str, str] | None = None):
    """Run one statement on the read connection: its first row, or all rows. With `prepared`
    (name, parameter types) the statement, written with $n parameters, is prepared once per
    connection.

    Django runs a health check (SELECT 1, a round trip) before the first query of every request;
    on the cached-tile path that doubles the database time. Here the persistent connection is
    used as it is, through Django's cursor wrapper (query logging and wrappers still apply), and
    a connection found dead is reopened and the statement run once more.
    """
    for attempt in (1, 2):
        try:
            if prepared:
                return _run_prepared(*prepared, sql=sql, args=params, rows=rows, settings="")
            connection.ensure_connection()
            with connection._prepare_cursor(connection.connection.cursor()) as cur:
                cur.execute(sql, params)
                return cur.fetchall() if rows else cur.fetchone()
        except (OperationalError, InterfaceError):
            if attempt == 2 or connection.in_atomic_block:
                raise
            connection.close()
    raise AssertionError("unreachable")


def _run_prepared(name: str, arg_types: str, *, sql: str, args: list, rows: bool = False,
                  settings: str = _SETTINGS):
    try:
        return _execute_prepared(name, arg_types, sql=sql, args=args, rows=rows,
                                 settings=settings)
    except NotSupportedError as e:
        # "cached plan must not change result type": a migration changed a column the
        # statement returns (the layer lookup's), and PostgreSQL does not plan it again by
        # itself. Prepare it anew, once. Inside a transaction the failure has aborted it: no.
        if getattr(e.__cause__, "pgcode", None) != "0A000" or connection.in_atomic_block:
            raise
        raw = connection.connection
        if name in _prepared.get(raw, ()):
            with raw.cursor() as cur:
                cur.execute(f"DEALLOCATE {name}")
            _prepared[raw].discard(name)
        return _execute_prepared(name, arg_types, sql=sql, args=args, rows=rows,
                                 settings=settings)


def _execute_prepared(name: str, arg_types: str, *, sql: str, args: list, rows: bool,
                      settings: str):
    connection.ensure_connection()
    raw = connection.connection
    done = _prepared.setdefault(raw, set())
    statement = settings
    if name not in done and len(done) >= _MAX_PREPARED:
        statement += "DEALLOCATE ALL; "
        done.clear()
    if name not in done:
        statement += f"PREPARE {name} ({arg_types}) AS {sql.replace('%', '%%')}; "
    statement += f"EXECUTE {name} ({', '.join(['%s'] * len(args))})"
    try:
        with connection._prepare_cursor(raw.cursor()) as cur:
            cur.execute(statement, args)
            result = cur.fetchall() if rows else cur.fetchone()
    except Exception:
        # A PREPARE that ran before the failure survives it (prepared statements are not
        # transactional); find out what exists rather than guess.
        _prepared.pop(raw, None)
        _resync(raw)
        raise
    done.add(name)
    return result


def _resync(raw) -> None:
    try:
        with raw.cursor() as cur:
            cur.execute("SELECT name FROM pg_prepared_statements")
            _prepared[raw] = {n for (n,) in cur.fetchall()}
    except Exception:  # noqa: BLE001 - an aborted transaction: learn it next time
        pass


@dataclass(frozen=True)
class LayerQuery:
    """One layer of a tile and what applies to it."""

    id: int
    slug: str
    buffer: int = BUFFER
    keep: list[str] | None = None
    filter: str | None = None
    vars: dict | None = None
    limit: int | None = None
    points: bool = False

    @property
    def kind(self) -> str:
        return ("p" if self.points else "l") if self.limit else "a"


def layer_tile(layers: list[LayerQuery], tile: TileCoord) -> bytes:
    """MVT bytes for the layers, in order; b"" when no feature touches the tile."""
    if not layers:
        return b""
    name, sql, types = layer_tile_statement("".join(la.kind for la in layers))
    row = _run_prepared(name, types, sql=sql, args=layer_tile_args(layers, tile))
    return bytes(row[0]) if row and row[0] is not None else b""


# The indicator tile keeps Django's %(name)s parameters; it shares the envelopes with the layers.
_ENVELOPES = """
    SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS tile,
           ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s), 4326)
             AS search
"""


def _params(tile: TileCoord, **extra) -> dict:
    return {"z": tile.z, "x": tile.x, "y": tile.y, "margin": BUFFER / EXTENT, **extra}


def _fetch_bytes(sql: str, params: dict) -> bytes:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    return bytes(row[0]) if row and row[0] is not None else b""


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
# first upper bound >= value, values above the last bound fall in the last class. Every area
# carries a status (the value's, or `missing` where it has none, stored or not): an indicator
# waiting for data still has tiles, of areas that any client can draw as "no data".
_INDICATOR_TILE = f"""
WITH env AS ({_ENVELOPES}),
vals AS (
    SELECT DISTINCT ON (v.area_id) v.area_id, v.value, v.source, v.status
    FROM indicators_indicatorvalue v
    JOIN layers_feature a ON a.id = v.area_id
    WHERE v.indicator_id = %(indicator)s AND v.period = %(period)s AND a.layer_id = %(layer)s
    ORDER BY v.area_id, (v.source = %(preferred_source)s) DESC, v.source
),
ranked AS (
    SELECT area_id, value, source, status,
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
           CASE WHEN r.value IS NULL THEN 'missing' ELSE r.status END AS status,
           ST_AsMVTGeom(ST_Transform(f.geom, 3857), env.tile, {EXTENT}, {BUFFER}, true) AS geom
    FROM layers_feature f CROSS JOIN env
    LEFT JOIN ranked r ON r.area_id = f.id
    WHERE f.layer_id = %(layer)s AND f.geom && env.search
)
SELECT ST_AsMVT(features, 'indicator', {EXTENT}, 'geom', 'fid')
FROM features
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
    """Changes whenever a value (or its status) the indicator tile shows changes.

    max(computed_at) alone misses deletions and QuerySet.update() (no auto_now), so the count
    and a digest of the values themselves are part of it; over one layer's areas that is cheap.
    """
    with connection.cursor() as cur:
        cur.execute("""
            SELECT count(*), max(v.computed_at),
                   md5(string_agg(concat_ws(':', v.area_id, v.source, v.value, v.status),
                                  ',' ORDER BY v.area_id, v.source))
            FROM indicators_indicatorvalue v JOIN layers_feature a ON a.id = v.area_id
            WHERE v.indicator_id = %s AND v.period = %s AND a.layer_id = %s""",
                    [indicator_id, period, layer_id])
        count, latest, digest = cur.fetchone()
    return f"{count}:{latest.isoformat() if latest else '-'}:{digest or '-'}"
