"""Declarative indicator methods, each compiled to one PostGIS query over an areas layer.

A method is a dict from the indicator definition, e.g.
    {"kind": "density", "layer": "placowki-oswiatowe", "where": {"amenity": "school"}}
Kinds:
    count     features of `layer` inside each area
    density   count per km² of the area
    share     % of the features (after `where`) that match `match`; no features → no data
    sum       sum of the numeric property `field`
    coverage  % of the area within `distance` metres of a feature of `layer`
    area      area of the area in km²
Options: `where` / `match` ({property: value or [values]}), `period` (a fixed period) or
`period_field` (a property whose values are the periods: one value per area and period).

Areas are measured in EPSG:2180 (PUWG 1992), the national metric CRS. A point on the border of
two areas counts in both (ST_Intersects), which matches how a resident reads "in the district".
"""

from dataclasses import dataclass

from django.db import connection

from layers.models import Feature, Layer

FEATURES = Feature._meta.db_table
KINDS = ("count", "density", "share", "sum", "coverage", "area")


class MethodError(ValueError):
    pass


@dataclass
class Computed:
    area_id: int
    period: str
    value: float | None


def _conditions(spec: dict | None, alias: str, params: list) -> str:
    """Property conditions as SQL; names and values are bound parameters, never interpolated."""
    parts = []
    for name, wanted in (spec or {}).items():
        values = wanted if isinstance(wanted, list) else [wanted]
        parts.append(f"{alias}.properties->>%s = ANY(%s)")
        params.extend([name, [str(v) for v in values]])
    return " AND ".join(parts) or "TRUE"


def input_layers(method: dict) -> list[str]:
    return [method["layer"]] if method.get("layer") else []


def compute(method: dict, areas: Layer) -> list[Computed]:
    kind = method.get("kind")
    if kind not in KINDS:
        raise MethodError(f"unknown method kind {kind!r}; one of {', '.join(KINDS)}")
    if kind == "area":
        sql = (f"SELECT a.id, %s, ST_Area(ST_Transform(a.geom, 2180)) / 1e6 "
               f"FROM {FEATURES} a WHERE a.layer_id = %s ORDER BY a.id")
        return _run(sql, [str(method.get("period", "")), areas.pk])

    try:
        source = Layer.objects.get(slug=method["layer"])
    except (KeyError, Layer.DoesNotExist) as exc:
        raise MethodError(f"method needs an existing `layer` ({method.get('layer')!r})") from exc

    params: list = []
    period_field = method.get("period_field")
    if period_field:
        period_sql = "f.properties->>%s"
        params.append(period_field)
    else:
        period_sql = "%s"
        params.append(str(method.get("period", "")))
    where = _conditions(method.get("where"), "f", params)
    params.append(source.pk)
    inputs = f"""
        SELECT f.geom, f.properties, {period_sql} AS period FROM {FEATURES} f
        WHERE {where} AND f.layer_id = %s"""

    area_km2 = "ST_Area(ST_Transform(a.geom, 2180)) / 1e6"
    if kind == "coverage":
        distance = float(method.get("distance", 500))
        # Buffers in the metric CRS; the union of buffers per period, clipped by each area.
        sql = f"""
            WITH f AS ({inputs}),
            zones AS (SELECT period, ST_Union(ST_Buffer(ST_Transform(geom, 2180), %s)) AS g
                      FROM f GROUP BY period)
            SELECT a.id, z.period, 100.0 * ST_Area(ST_Intersection(ST_Transform(a.geom, 2180),
                   z.g)) / NULLIF(ST_Area(ST_Transform(a.geom, 2180)), 0)
            FROM {FEATURES} a CROSS JOIN zones z WHERE a.layer_id = %s ORDER BY a.id, z.period"""
        return _run(sql, [*params, distance, areas.pk])

    if kind == "share":
        match_params: list = []
        match = _conditions(method.get("match"), "f", match_params)
        value = (f"100.0 * count(f.geom) FILTER (WHERE {match}) / NULLIF(count(f.geom), 0)")
        agg_params = match_params
    elif kind == "sum":
        if not method.get("field"):
            raise MethodError("method `sum` needs a `field`")
        value = "coalesce(sum((f.properties->>%s)::numeric), 0)"
        agg_params = [method["field"]]
    elif kind == "density":
        value = f"count(f.geom) / NULLIF({area_km2}, 0)"
        agg_params = []
    else:
        value = "count(f.geom)"
        agg_params = []

    # Every (area, period) pair gets a row, so an area without features gets 0 (or no data
    # for a share), never silently disappears.
    if period_field:
        periods_sql, periods_params = "SELECT DISTINCT period FROM f WHERE period IS NOT NULL", []
    else:
        periods_sql, periods_params = "SELECT %s::text AS period", [str(method.get("period", ""))]
    sql = f"""
        WITH f AS ({inputs}),
        periods AS ({periods_sql})
        SELECT a.id, p.period, {value}
        FROM {FEATURES} a CROSS JOIN periods p
        LEFT JOIN f ON f.period = p.period AND ST_Intersects(a.geom, f.geom)
        WHERE a.layer_id = %s
        GROUP BY a.id, a.geom, p.period ORDER BY a.id, p.period"""
    return _run(sql, [*params, *periods_params, *agg_params, areas.pk])


def _run(sql: str, params: list) -> list[Computed]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return [Computed(area_id, str(period), None if value is None else float(value))
                for area_id, period, value in cur.fetchall()]
