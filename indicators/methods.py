"""Declarative indicator methods, compiled to PostGIS queries over an areas layer.

A method is a dict from the indicator definition, e.g.
    {"kind": "density", "layer": "placowki-oswiatowe", "where": {"amenity": "school"}}

Kinds (`layer` is the input layer; values are per area and period):
    count          features of `layer` in the area
    density        count per km² of the area
    per_1000       count per 1,000 residents; residents are the values of the imported
                   indicator named by `population` for the same area (same period, else the
                   latest earlier one); no population figure → no data
    sum            sum of the numeric property `field`
    mean           mean of the numeric property `field` (features without it are left out)
    share          % of the features (after `where`) that also match `match`
    coverage       % of the area within `distance` metres of a feature of `layer`
    length_density km of lines of `layer` per km² of the area
    area_share     % of the area covered by polygons of `layer` (overlaps counted once)
    area           area of the area in km²
    raster         zonal statistic `stat` (mean, min, max, median, sum, count, p<N>) of band
                   `band` of the GeoTIFF `raster` (a path under settings.RASTER_DIRS), over the
                   pixels whose centre lies in the area (rasterio)
    imported       no computation: values come from CSV uploads (indicators.importing);
                   `periods` names the periods the city expects, `min`/`max` bound the values
Options: `where` / `match` are {property: condition}; a condition is a value, a list of values,
or {"not": value(s)} / {"gt"|"gte"|"lt"|"lte": number} / {"null": true|false}. `period` is a
fixed period; `period_field` a property whose values are the periods; `periods` the periods
expected when there is nothing to compute from.

No data versus zero, on purpose:
  * the input layer does not exist, or exists without a single feature → no data (value None,
    status missing, with a note): an empty register is not evidence that the thing is absent;
  * the layer has features but none in an area (or none pass `where`) → 0 for count, density,
    per_1000, sum, coverage, length_density and area_share; no data for share and mean, which
    are undefined over nothing. Nothing divides by zero: every denominator goes through NULLIF.

Areas are measured in EPSG:2180 (PUWG 1992), the national metric CRS. A point on the border of
two areas counts in both (ST_Intersects), which matches how a resident reads "in the district".
An invalid area polygon is repaired with ST_MakeValid for the computation (and the value says
so in its note); the stored geometry is not touched.

The whole city is one more areas layer (the boundary layer), computed by the same query: a
city-wide density is the city's count over the city's area, a city-wide mean pools every
feature, a city-wide raster mean pools every pixel — never an average of district averages.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from layers.models import Feature, Layer

FEATURES = Feature._meta.db_table
KINDS = ("count", "density", "per_1000", "sum", "mean", "share", "coverage", "length_density",
         "area_share", "area", "raster", "imported")
LAYER_KINDS = ("count", "density", "per_1000", "sum", "mean", "share", "coverage",
               "length_density", "area_share")
COMMON_KEYS = {"kind", "period", "period_field", "periods", "where"}
KIND_KEYS = {
    "count": {"layer"}, "density": {"layer"}, "per_1000": {"layer", "population"},
    "sum": {"layer", "field"}, "mean": {"layer", "field"}, "share": {"layer", "match"},
    "coverage": {"layer", "distance"}, "length_density": {"layer"}, "area_share": {"layer"},
    "area": set(), "raster": {"raster", "band", "stat"}, "imported": {"min", "max"},
}
REQUIRED = {"per_1000": {"population"}, "sum": {"field"}, "mean": {"field"},
            "share": {"match"}, "raster": {"raster"}}
OPERATORS = ("not", "gt", "gte", "lt", "lte", "null")
STAT_RE = re.compile(r"^(mean|min|max|median|sum|count|p(100|[1-9]?[0-9]))$")
PERIOD_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,19}$")
MAX_DISTANCE = 20_000
# Segments per quarter circle of a buffer: 32 keeps the polygon within 0.05 % of the disk's area.
QUAD_SEGS = 32
# Coverage of a point layer with at least GRID_MIN_SITES features goes through a grid of squares
# over the areas (if it has at most MAX_GRID_SQUARES): it saves the Voronoi diagram most of its
# sites when they are dense, and would only cut sparse pieces into more pieces.
GRID_MIN_SITES = 10_000
MAX_GRID_SQUARES = 250_000


class MethodError(ValueError):
    pass


@dataclass
class Computed:
    area_id: int
    period: str
    value: float | None
    note: str = ""


@dataclass
class Plan:
    """What computing a method over one areas layer takes: SQL statements that prepare
    (temporary tables), the query whose rows are (area id, period, value, note), or a Python
    function instead; `inputs` are the versions of everything read, for staleness."""

    kind: str
    inputs: dict[str, object] = field(default_factory=dict)
    setup: list[tuple[str, list]] = field(default_factory=list)
    query: tuple[str, list] | None = None
    python: Callable[[], list[Computed]] | None = None
    rows: list[Computed] | None = None  # known without computing (no data)
    repaired: set[int] = field(default_factory=set)


# --- validation ------------------------------------------------------------------------------

def _check_conditions(name: str, spec, errors: list[str]) -> None:
    if spec is None:
        return
    if not isinstance(spec, dict) or not spec:
        errors.append(f"`{name}` must be a non-empty mapping of property: condition")
        return
    for prop, cond in spec.items():
        if not isinstance(prop, str) or not prop:
            errors.append(f"`{name}`: property names must be non-empty strings")
        if isinstance(cond, dict):
            if len(cond) != 1 or next(iter(cond)) not in OPERATORS:
                errors.append(f"`{name}.{prop}`: a condition mapping has one of "
                              f"{', '.join(OPERATORS)}")
                continue
            op, arg = next(iter(cond.items()))
            if op in ("gt", "gte", "lt", "lte") and not _is_number(arg):
                errors.append(f"`{name}.{prop}.{op}` needs a number")
            if op == "null" and not isinstance(arg, bool):
                errors.append(f"`{name}.{prop}.null` needs true or false")
        elif isinstance(cond, list):
            if not cond or not all(_is_scalar(v) for v in cond):
                errors.append(f"`{name}.{prop}`: a list of values must hold plain values")
        elif not _is_scalar(cond):
            errors.append(f"`{name}.{prop}`: unsupported condition {cond!r}")


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_scalar(v) -> bool:
    return isinstance(v, str | int | float | bool)


def validate(method) -> list[str]:
    """Every problem of a method definition, as messages (empty: valid)."""
    if not isinstance(method, dict):
        return ["a method is a mapping with a `kind`"]
    kind = method.get("kind")
    if kind not in KINDS:
        return [f"unknown method kind {kind!r}; one of {', '.join(KINDS)}"]
    errors = []
    allowed = COMMON_KEYS | KIND_KEYS[kind]
    unknown = sorted(set(method) - allowed)
    if unknown:
        errors.append(f"unknown option(s) for {kind}: {', '.join(unknown)}")
    for key in REQUIRED.get(kind, ()):
        if not method.get(key):
            errors.append(f"method `{kind}` needs `{key}`")
    if kind in LAYER_KINDS and not (isinstance(method.get("layer"), str)
                                    and re.fullmatch(r"[-a-zA-Z0-9_]+", method["layer"])):
        errors.append(f"method `{kind}` needs a `layer` (a layer slug)")
    for key in ("field", "population", "period_field"):
        if key in method and not (isinstance(method[key], str) and method[key]):
            errors.append(f"`{key}` must be a non-empty string")
    if "period" in method and "period_field" in method:
        errors.append("give `period` or `period_field`, not both")
    if "period" in method and not PERIOD_RE.match(str(method["period"])):
        errors.append(f"`period` {method['period']!r} is not a period (e.g. 2023, 2023-Q1)")
    if "periods" in method and not (isinstance(method["periods"], list) and all(
            PERIOD_RE.match(str(p)) for p in method["periods"])):
        errors.append("`periods` must be a list of periods")
    _check_conditions("where", method.get("where"), errors)
    if kind == "share":
        _check_conditions("match", method.get("match"), errors)
    if kind == "coverage":
        d = method.get("distance", 500)
        if not _is_number(d) or not 0 < d <= MAX_DISTANCE:
            errors.append(f"`distance` must be a number of metres in (0, {MAX_DISTANCE}]")
    if kind == "raster":
        if "band" in method and not (isinstance(method["band"], int) and method["band"] >= 1):
            errors.append("`band` must be a positive integer")
        if "stat" in method and not STAT_RE.match(str(method["stat"])):
            errors.append("`stat` is one of mean, min, max, median, sum, count, p0…p100")
    if kind == "imported":
        for key in ("min", "max"):
            if key in method and not _is_number(method[key]):
                errors.append(f"`{key}` must be a number")
    return errors


def input_layers(method: dict) -> list[str]:
    return [method["layer"]] if method.get("layer") else []


def fixed_periods(method: dict) -> list[str]:
    """Periods known from the definition alone (a fixed `period` or the expected `periods`)."""
    if method.get("period") is not None:
        return [str(method["period"])]
    return [str(p) for p in method.get("periods", [])]


# --- SQL building blocks ---------------------------------------------------------------------
# Queries use named parameters allocated by `Params`: every value and every property name is
# bound, never spliced into the SQL text.

class Params(dict):
    """Named parameters; a Params made from another continues its numbering, so statements
    built from both can share the other's placeholders."""

    def __call__(self, value) -> str:
        name = f"p{len(self)}"
        self[name] = value
        return f"%({name})s"


def _text(v) -> str:
    # JSON booleans read back through ->> as 'true'/'false'.
    return str(v).lower() if isinstance(v, bool) else str(v)


def _condition(alias: str, prop: str, cond, P: Params) -> str:
    name = P(prop)
    text = f"({alias}.properties ->> {name})"
    if isinstance(cond, dict):
        op, arg = next(iter(cond.items()))
        if op == "null":
            return f"{text} IS NULL" if arg else f"{text} IS NOT NULL"
        if op == "not":
            values = [_text(v) for v in (arg if isinstance(arg, list) else [arg])]
            return f"({text} IS NULL OR NOT {text} = ANY({P(values)}))"
        sql_op = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        return f"indicators_jsonb_number({alias}.properties -> {name}) {sql_op} {P(arg)}"
    values = [_text(v) for v in (cond if isinstance(cond, list) else [cond])]
    return f"{text} = ANY({P(values)})"


def _conditions(spec: dict | None, alias: str, P: Params) -> str:
    parts = [_condition(alias, prop, cond, P) for prop, cond in (spec or {}).items()]
    return " AND ".join(parts) or "TRUE"


def _areas_cte(areas: Layer, P: Params) -> str:
    # Invalid polygons are repaired for the computation only; the stored geometry is the
    # record and stays as it is (the quality report flags it).
    return f"""areas AS MATERIALIZED (
        SELECT id, g AS g4326, g2180, ST_Area(g2180) / 1e6 AS km2
        FROM (SELECT id, g, ST_Transform(g, 2180) AS g2180
              FROM (SELECT id, CASE WHEN ST_IsValid(geom) THEN geom
                                    ELSE ST_CollectionExtract(ST_MakeValid(geom), 3) END AS g
                    FROM {FEATURES} WHERE layer_id = {P(areas.pk)}) x) y)"""


def _period_expr(method: dict, alias: str, P: Params) -> str:
    if method.get("period_field"):
        return f"({alias}.properties ->> {P(method['period_field'])})"
    return f"{P(str(method.get('period', '')))}::text"


def _source_filter(method: dict, layer: Layer, alias: str, P: Params) -> str:
    return f"{alias}.layer_id = {P(layer.pk)} AND {_conditions(method.get('where'), alias, P)}"


def _periods_cte(method: dict, layer: Layer, P: Params) -> str:
    if not method.get("period_field"):
        return f"periods AS (SELECT {P(str(method.get('period', '')))}::text AS period)"
    expr = _period_expr(method, "f", P)
    return (f"periods AS (SELECT DISTINCT {expr} AS period FROM {FEATURES} f "
            f"WHERE {_source_filter(method, layer, 'f', P)} AND {expr} IS NOT NULL)")


AREA_KM2 = "a.km2"


MEMBERSHIP = "indicators_membership"  # see migrations 0004, 0005
# A membership fill of at least this many rows refreshes the table's statistics at once.
ANALYZE_AFTER_ROWS = 10_000


def _membership_setup(plan: Plan, areas: Layer, layer: Layer) -> dict:
    """Statements that make sure the (areas, input layer) membership is cached for the current
    versions of both; returns the parameters naming that cache entry."""
    key = {"a": areas.pk, "av": areas.version, "l": layer.pk, "lv": layer.version}
    same_pair = "areas_layer_id = %(a)s AND input_layer_id = %(l)s"
    current = f"{same_pair} AND areas_version = %(av)s AND input_version = %(lv)s"
    plan.setup += [
        # Two processes filling the same pair would duplicate rows: one waits for the other.
        ("SELECT pg_advisory_xact_lock(%(lock)s)", {"lock": areas.pk * 1_000_003 + layer.pk}),
        # Other versions of the pair, as index ranges around the current one: "NOT current"
        # would read all 200,000 current rows on every computation to find none to delete.
        (f"""DELETE FROM {MEMBERSHIP} WHERE {same_pair} AND (
                 areas_version < %(av)s OR areas_version > %(av)s
                 OR (areas_version = %(av)s
                     AND (input_version < %(lv)s OR input_version > %(lv)s)))""", key),
        (f"""INSERT INTO {MEMBERSHIP} (areas_layer_id, areas_version, input_layer_id,
                                       input_version, area_id, feature_id)
             WITH a AS MATERIALIZED (
                 -- Materialized: each area's (repaired) polygon is then one value, which
                 -- PostGIS prepares once for all its candidate points.
                 SELECT id, CASE WHEN ST_IsValid(geom) THEN geom
                                 ELSE ST_CollectionExtract(ST_MakeValid(geom), 3) END AS g
                 FROM {FEATURES} WHERE layer_id = %(a)s)
             SELECT %(a)s, %(av)s, %(l)s, %(lv)s, area_id, feature_id FROM (
                 SELECT NULL::bigint AS area_id, NULL::bigint AS feature_id
                 UNION ALL
                 SELECT a.id, f.id
                 FROM a JOIN {FEATURES} f ON f.layer_id = %(l)s AND ST_Intersects(a.g, f.geom)
             ) j
             WHERE NOT EXISTS (SELECT 1 FROM {MEMBERSHIP} WHERE {current})""", key),
        # Statistics for a big fill at once (autovacuum would come a minute later): planned
        # as the one row the stale statistics promise, the aggregates below look up each of
        # 200,000 members' features by index (0.5-0.7 s of CPU) instead of one hash join
        # (0.2-0.4 s), or none at all for a plain count. A coarse sample is enough (25 ms).
        (f"""DO $$
             DECLARE target text := current_setting('default_statistics_target');
             BEGIN
               IF pg_stat_get_xact_tuples_inserted('{MEMBERSHIP}'::regclass)
                  >= {ANALYZE_AFTER_ROWS} THEN
                 PERFORM set_config('default_statistics_target', '10', true);
                 ANALYZE {MEMBERSHIP};
                 PERFORM set_config('default_statistics_target', target, true);
               END IF;
             END $$""", {}),
    ]
    return key


# Aggregates per area over the member features, and the value from them (`g` the aggregates
# of the area, NULL where it has no member feature).
AGGREGATES = {
    "count": ("count(*) AS n", "coalesce(g.n, 0)"),
    "per_1000": ("count(*) AS n", "coalesce(g.n, 0)"),
    "density": ("count(*) AS n", "coalesce(g.n, 0) / NULLIF(a.km2, 0)"),
    "sum": ("sum(indicators_jsonb_number(f.properties -> {field})) AS s", "coalesce(g.s, 0)"),
    "mean": ("avg(indicators_jsonb_number(f.properties -> {field})) AS m", "g.m"),
    "share": ("count(*) FILTER (WHERE {match}) AS k, count(*) AS n",
              "100.0 * g.k / NULLIF(g.n, 0)"),
}


COUNTS = ("count", "per_1000", "density")


def _membership_query(plan: Plan, method: dict, areas: Layer, layer: Layer, P: Params) -> str:
    """One row per (area, period): the kind's aggregate over the features of the area, by a
    hash join of the cached membership with the feature table."""
    key = _membership_setup(plan, areas, layer)
    kind = method["kind"]
    aggregate, value = AGGREGATES[kind]
    if "{field}" in aggregate:
        aggregate = aggregate.format(field=P(method["field"]))
    if "{match}" in aggregate:
        aggregate = aggregate.format(match=_conditions(method["match"], "f", P))
    period = _period_expr(method, "f", P)
    # A count with no condition on the features and a fixed period is a count of members:
    # the feature table is not read at all.
    features = (kind not in COUNTS or method.get("where") or method.get("period_field"))
    # The layer condition keeps other layers' features out of the join's hash table.
    source = (f"{MEMBERSHIP} m JOIN {FEATURES} f ON f.id = m.feature_id "
              f"AND f.layer_id = {P(layer.pk)}" if features else f"{MEMBERSHIP} m")
    return f"""
        WITH {_areas_cte(areas, P)}, {_periods_cte(method, layer, P)},
        g AS (
            SELECT m.area_id, {period} AS period, {aggregate}
            FROM {source}
            WHERE m.areas_layer_id = {P(key['a'])} AND m.input_layer_id = {P(key['l'])}
              AND m.areas_version = {P(key['av'])} AND m.input_version = {P(key['lv'])}
              AND m.area_id IS NOT NULL
              AND {_conditions(method.get('where'), 'f', P)}
            GROUP BY 1, 2)
        SELECT a.id, p.period, {value} AS value, NULL::text AS note
        FROM areas a CROSS JOIN periods p
        LEFT JOIN g ON g.area_id = a.id AND g.period = p.period
        ORDER BY a.id, p.period"""


def _aggregate_query(method: dict, areas: Layer, layer: Layer, value: str, P: Params) -> str:
    """One row per (area, period) with `value` aggregated over the input features in the area,
    for kinds that need the geometry of each feature (lengths, areas). The aggregate runs per
    area in a LATERAL subquery, from the few areas into the GiST index of the feature table."""
    period = _period_expr(method, "f", P)
    return f"""
        WITH {_areas_cte(areas, P)}, {_periods_cte(method, layer, P)}
        SELECT a.id, p.period, agg.value, NULL::text AS note
        FROM areas a CROSS JOIN periods p
        CROSS JOIN LATERAL (
            SELECT {value} AS value FROM {FEATURES} f
            WHERE {_source_filter(method, layer, 'f', P)} AND {period} = p.period
              AND ST_Intersects(a.g4326, f.geom)) agg
        ORDER BY a.id, p.period"""


def _per_1000_query(plan: Plan, method: dict, areas: Layer, layer: Layer, P: Params) -> str:
    from indicators.models import Indicator, IndicatorValue
    population = Indicator.objects.filter(code=method["population"]).first()
    counts = _membership_query(plan, method, areas, layer, P)
    pop_id = P(population.pk if population else -1)
    # Residents of the same period, else the latest earlier period; within a period the
    # population indicator's own source first, then any source in name order.
    return f"""
        SELECT c.id, c.period, 1000.0 * c.value / NULLIF(pop.value, 0),
               CASE WHEN pop.value IS NULL THEN 'no population figure for this area'
                    WHEN pop.value = 0 THEN 'population is 0'
                    ELSE 'residents: ' || pop.value || ' (' || pop.period || ', '
                         || pop.source || ')' END
        FROM ({counts}) c
        LEFT JOIN LATERAL (
            SELECT v.value, v.period, v.source FROM {IndicatorValue._meta.db_table} v
            WHERE v.indicator_id = {pop_id} AND v.area_id = c.id AND v.value IS NOT NULL
              AND v.period <= c.period
            ORDER BY v.period DESC, (v.source = {P(population.source if population else '')})
                     DESC, v.source
            LIMIT 1) pop ON true
        ORDER BY c.id, c.period"""


def _voronoi_pieces(sites: str, d: str, quad: str) -> str:
    """SQL for the covered area as disjoint pieces: within the Voronoi cell of a site the
    nearest site is that one, so a point of the cell is covered iff it lies in that site's disk;
    the covered area is the disjoint union of (cell ∩ disk) over the sites, no union of disks
    needed. Cells wholly within the distance are taken as they are; the diagram's envelope is
    extended so that no cell stops short of its disk. `sites` is a table (period, g)."""
    return f"""
        WITH cells AS (
          SELECT period, (ST_Dump(ST_VoronoiPolygons(ST_Collect(g), 0,
                 ST_Expand(ST_Envelope(ST_Collect(g)), 2 * {d})))).geom AS cell
          FROM {sites} GROUP BY period HAVING count(*) > 1)
        SELECT c.period,
               CASE WHEN ST_MaxDistance(s.g, c.cell) <= {d} THEN c.cell
                    ELSE ST_Intersection(c.cell, ST_Buffer(s.g, {d}, {quad})) END AS g
        FROM cells c JOIN {sites} s
          ON s.period = c.period AND s.g && c.cell AND ST_Intersects(s.g, c.cell)
        UNION ALL
        SELECT period, ST_Buffer(ST_Collect(g), {d}, {quad})
        FROM {sites} GROUP BY period HAVING count(*) = 1"""


def _grid_squares(areas: Layer, size: float) -> int:
    with connection.cursor() as cur:
        cur.execute(f"""SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM
                        (SELECT ST_Extent(ST_Transform(geom, 2180)) AS e FROM {FEATURES}
                         WHERE layer_id = %s) x""", [areas.pk])
        xmin, ymin, xmax, ymax = cur.fetchone()
    if xmin is None:
        return 0
    return (math.floor(xmax / size) - math.floor(xmin / size) + 1) * \
        (math.floor(ymax / size) - math.floor(ymin / size) + 1)


def _coverage_plan(plan: Plan, method: dict, areas: Layer, layer: Layer) -> None:
    distance = float(method.get("distance", 500))
    point_layer = layer.geometry_type in (Layer.GeometryType.POINT,
                                          Layer.GeometryType.MULTIPOINT)
    P = Params()
    period = _period_expr(method, "f", P)
    # Multi-geometries are split into their parts (a MultiPoint is several sites).
    parts = "ST_Transform(f.geom, 2180)" if layer.geometry_type == Layer.GeometryType.POINT \
        else "(ST_Dump(ST_Transform(f.geom, 2180))).geom"
    src = f"""
        SELECT {period} AS period, {parts} AS g
        FROM {FEATURES} f WHERE {_source_filter(method, layer, 'f', P)}"""
    d, quad = P(distance), P(f"quad_segs={QUAD_SEGS}")
    plan.setup += [(f"DROP TABLE IF EXISTS {t}", {}) for t in (
        "_ind_cov_pieces", "_ind_cov_sites", "_ind_cov_full", "_ind_cov_areas",
        "_ind_cov_empty")]
    # Squares of side distance/√2: any point of a square lies within the distance of any site
    # in the same square.
    size = distance / math.sqrt(2)
    dense = point_layer and Feature.objects.filter(layer=layer).count() >= GRID_MIN_SITES
    squares = _grid_squares(areas, size) if dense else 0
    if dense and 0 < squares <= MAX_GRID_SQUARES:
        # Dense points. Every square holding a site is covered whole. So is an empty square
        # whose centre has a site within distance/2 (its half-diagonal: the site reaches every
        # corner). Only the remaining ("hard") squares over the areas need the exact
        # construction, from the sites within the distance of one of them: no farther site
        # reaches into it. With 10⁵ points that leaves almost nothing for the Voronoi diagram.
        c = P(size)
        half = P(distance / 2)
        square = (f"ST_MakeEnvelope(g.i * {c}, g.j * {c}, (g.i + 1) * {c}, (g.j + 1) * {c},"
                  f" 2180)")
        A = Params(P)

        def sites_near(target: str, radius: str, alias: str) -> str:
            # Sites of the input layer within `radius` m of `target` (EPSG:2180): the feature
            # table's GiST index (EPSG:4326) finds candidates in the target's grown box
            # (1 m more for the curvature of the reprojected edges), the test is metric.
            F = Params(P)
            box = f"ST_Transform(ST_Expand({target}, {radius} + 1), 4326)"
            cond = (f"{alias}.geom && {box} AND {_source_filter(method, layer, alias, F)} "
                    f"AND {_period_expr(method, alias, F)} = e.period "
                    f"AND ST_DWithin(ST_Transform({alias}.geom, 2180), {target}, {radius})")
            P.update(F)
            return cond

        covered_near = sites_near("ST_Centroid(e.g)", half, "f")
        near = sites_near("e.g", d, "f")
        plan.setup += [
            (f"""CREATE TEMP TABLE _ind_cov_full ON COMMIT DROP AS
                 SELECT DISTINCT period, floor(ST_X(g) / {c})::bigint AS i,
                        floor(ST_Y(g) / {c})::bigint AS j
                 FROM ({src}) s WHERE period IS NOT NULL""", dict(P)),
            (f"CREATE TEMP TABLE _ind_cov_areas ON COMMIT DROP AS "
             f"WITH {_areas_cte(areas, A)} SELECT id, g2180 FROM areas", dict(A)),
            ("CREATE INDEX ON _ind_cov_areas USING gist (g2180)", {}),
            (f"""CREATE TEMP TABLE _ind_cov_empty ON COMMIT DROP AS
                 WITH ext AS (SELECT ST_Extent(g2180) AS e FROM _ind_cov_areas),
                 g AS (SELECT i, j FROM ext,
                         generate_series(floor(ST_XMin(e) / {c})::bigint,
                                         floor(ST_XMax(e) / {c})::bigint) AS i,
                         generate_series(floor(ST_YMin(e) / {c})::bigint,
                                         floor(ST_YMax(e) / {c})::bigint) AS j),
                 periods AS (SELECT DISTINCT period FROM _ind_cov_full)
                 SELECT p.period, {square} AS g
                 FROM g CROSS JOIN periods p
                 WHERE NOT EXISTS (SELECT 1 FROM _ind_cov_full x
                                   WHERE x.period = p.period AND x.i = g.i AND x.j = g.j)
                   AND EXISTS (SELECT 1 FROM _ind_cov_areas a
                               WHERE ST_Intersects(a.g2180, {square}))""", dict(P)),
            ("ALTER TABLE _ind_cov_empty ADD COLUMN hard boolean", {}),
            (f"""UPDATE _ind_cov_empty e SET hard = NOT EXISTS (
                     SELECT 1 FROM {FEATURES} f WHERE {covered_near})""", dict(P)),
            (f"""CREATE TEMP TABLE _ind_cov_sites ON COMMIT DROP AS
                 SELECT DISTINCT e.period, (ST_Dump(ST_Transform(f.geom, 2180))).geom AS g
                 FROM _ind_cov_empty e JOIN {FEATURES} f ON {near}
                 WHERE e.hard""", dict(P)),
            ("CREATE INDEX ON _ind_cov_sites USING gist (g)", {}),
            ("ANALYZE _ind_cov_sites", {}),
            ("CREATE INDEX ON _ind_cov_empty USING gist (g)", {}),
            ("ANALYZE _ind_cov_empty", {}),
            (f"""CREATE TEMP TABLE _ind_cov_pieces ON COMMIT DROP AS
                 WITH vor AS ({_voronoi_pieces('_ind_cov_sites', d, quad)})
                 SELECT v.period, ST_CollectionExtract(ST_Intersection(v.g, e.g), 3) AS g
                 FROM vor v JOIN _ind_cov_empty e
                   ON e.hard AND e.period = v.period AND e.g && v.g AND ST_Intersects(e.g, v.g)
                 UNION ALL
                 SELECT period, g FROM _ind_cov_empty WHERE NOT hard
                 UNION ALL
                 SELECT g.period, {square} FROM _ind_cov_full g""", dict(P)),
        ]
    elif point_layer:
        plan.setup += [
            (f"CREATE TEMP TABLE _ind_cov_sites ON COMMIT DROP AS "
             f"SELECT DISTINCT period, g FROM ({src}) s WHERE period IS NOT NULL", dict(P)),
            ("CREATE INDEX ON _ind_cov_sites USING gist (g)", {}),
            ("ANALYZE _ind_cov_sites", {}),
            (f"CREATE TEMP TABLE _ind_cov_pieces ON COMMIT DROP AS "
             f"{_voronoi_pieces('_ind_cov_sites', d, quad)}", dict(P)),
        ]
    else:
        plan.setup.append((
            f"""CREATE TEMP TABLE _ind_cov_pieces ON COMMIT DROP AS
                SELECT period, (ST_Dump(ST_Union(ST_Buffer(CASE WHEN ST_IsValid(g) THEN g
                       ELSE ST_MakeValid(g) END, {d}, {quad})))).geom AS g
                FROM ({src}) s WHERE period IS NOT NULL GROUP BY period""", dict(P)))
    plan.setup += [("CREATE INDEX ON _ind_cov_pieces USING gist (g)", {}),
                   ("ANALYZE _ind_cov_pieces", {})]
    Q = Params()
    plan.query = (f"""
        WITH {_areas_cte(areas, Q)}, {_periods_cte(method, layer, Q)}
        SELECT a.id, p.period, 100.0 * agg.covered / NULLIF(a.km2 * 1e6, 0), NULL::text
        FROM areas a CROSS JOIN periods p
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(CASE WHEN ST_Contains(a.g2180, c.g) THEN ST_Area(c.g)
                                     ELSE ST_Area(ST_Intersection(a.g2180, c.g)) END), 0)
                   AS covered
            FROM _ind_cov_pieces c
            WHERE c.period = p.period AND c.g && a.g2180 AND ST_Intersects(a.g2180, c.g)) agg
        ORDER BY a.id, p.period""", dict(Q))


# --- compiling and running -------------------------------------------------------------------

def _no_data(method: dict, areas: Layer, note: str) -> list[Computed]:
    ids = Feature.objects.filter(layer=areas).order_by("id").values_list("id", flat=True)
    return [Computed(i, p, None, note) for i in ids for p in fixed_periods(method)]


def compile_method(method: dict, areas: Layer) -> Plan:
    errors = validate(method)
    if errors:
        raise MethodError("; ".join(errors))
    kind = method["kind"]
    plan = Plan(kind, inputs={areas.slug: areas.version})
    with connection.cursor() as cur:
        cur.execute(f"SELECT id FROM {FEATURES} WHERE layer_id = %s AND NOT ST_IsValid(geom)",
                    [areas.pk])
        plan.repaired = {row[0] for row in cur.fetchall()}
    if kind == "imported":
        plan.rows = []
        return plan
    if kind == "raster":
        from indicators import rasters
        try:
            path = rasters.resolve(method["raster"])
        except MethodError as exc:
            plan.rows = _no_data(method, areas, str(exc))
            return plan
        plan.inputs[f"raster:{method['raster']}"] = rasters.stamp(path)
        plan.python = lambda: rasters.zonal(path, method, areas)
        return plan
    if kind == "area":
        P = Params()
        plan.query = (f"""
            WITH {_areas_cte(areas, P)}
            SELECT a.id, {P(str(method.get('period', '')))}::text, {AREA_KM2}, NULL::text
            FROM areas a ORDER BY a.id""", dict(P))
        return plan

    layer = Layer.objects.filter(slug=method["layer"]).first()
    if layer is None:
        plan.rows = _no_data(method, areas, f"input layer {method['layer']!r} does not exist")
        return plan
    plan.inputs[layer.slug] = layer.version
    if not Feature.objects.filter(layer=layer).exists():
        plan.rows = _no_data(method, areas, f"input layer {layer.slug!r} has no features")
        return plan
    if kind == "coverage":
        _coverage_plan(plan, method, areas, layer)
        return plan

    P = Params()
    if kind == "per_1000":
        plan.inputs[f"indicator:{method['population']}"] = _values_stamp(method["population"])
        plan.query = (_per_1000_query(plan, method, areas, layer, P), dict(P))
        return plan
    if kind in AGGREGATES:
        plan.query = (_membership_query(plan, method, areas, layer, P), dict(P))
        return plan
    if kind == "length_density":
        value = (f"coalesce(sum(ST_Length(ST_Intersection(a.g2180, ST_Transform(f.geom, 2180)))),"
                 f" 0) / 1000 / NULLIF({AREA_KM2}, 0)")
    else:  # area_share
        polygons = "ST_Transform(CASE WHEN ST_IsValid(f.geom) THEN f.geom ELSE " \
                   "ST_MakeValid(f.geom) END, 2180)"
        # Polygons are unioned per area first, so overlapping polygons are counted once.
        value = (f"100.0 * coalesce(ST_Area(ST_Intersection(a.g2180, ST_Union({polygons}))), 0)"
                 f" / NULLIF({AREA_KM2} * 1e6, 0)")
    plan.query = (_aggregate_query(method, areas, layer, value, P), dict(P))
    return plan


def _values_stamp(code: str) -> str:
    from django.db.models import Count, Max

    from indicators.models import IndicatorValue
    agg = IndicatorValue.objects.filter(indicator__code=code).aggregate(n=Count("id"),
                                                                         at=Max("computed_at"))
    return f"{agg['n']}:{agg['at'].isoformat() if agg['at'] else '-'}"


NOTES = {
    "share": "no features to take a share of",
    "mean": "no features with a numeric value",
    "density": "the area has no area",
    "length_density": "the area has no area",
    "area_share": "the area has no area",
    "coverage": "the area has no area",
}


def run(plan: Plan) -> list[Computed]:
    if plan.rows is not None:
        rows = plan.rows
    elif plan.python is not None:
        rows = plan.python()
    else:
        with connection.cursor() as cur:
            # The planner's estimates for spatial joins are poor and can cross the JIT
            # threshold: compiling then costs a second for a query that runs in milliseconds.
            cur.execute("SET LOCAL jit = off")
            # Grid cells and memberships of 10⁵ points are sorted / hashed in memory.
            cur.execute("SET LOCAL work_mem = '64MB'")
            for sql, params in plan.setup:
                cur.execute(sql, params or None)
            cur.execute(*plan.query)
            rows = [Computed(area_id, str(period),
                             None if value is None or not math.isfinite(float(value))
                             else float(value), note or "")
                    for area_id, period, value, note in cur.fetchall()]
    for r in rows:
        if r.value is None and not r.note:
            r.note = NOTES.get(plan.kind, "no data")
        if r.area_id in plan.repaired:
            r.note = "; ".join(filter(None, [r.note, "area polygon is invalid: repaired with "
                                                     "ST_MakeValid for the computation"]))
    return rows


def compute(method: dict, areas: Layer) -> list[Computed]:
    """Values of `method` for every area of `areas` (and every period it yields)."""
    # Temporary tables live until the end of the transaction: keep one around the whole run.
    with transaction.atomic():
        return run(compile_method(method, areas))


def raster_dirs() -> list[Path]:
    default = [Path(settings.MEDIA_ROOT) / "rasters"]
    return [Path(p) for p in getattr(settings, "RASTER_DIRS", default)]

