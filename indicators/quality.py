"""Quality checks run on each layer, in PostGIS, with a score per check and per layer.

Checks (each counts the features it flags, with up to 10 example ids):
  invalid_geometry   ST_IsValid is false (the reason PostGIS gives is in the examples)
  empty_geometry     no coordinates at all
  geometry_type      a geometry of another type than the layer declares (a Polygon on a
                     MultiPolygon layer is fine)
  required_empty     a property the schema marks required is null or blank
  outside_city       not covered by the city boundary grown by OUTSIDE_TOLERANCE_M metres
                     (the boundary layer itself is not checked against itself)
  duplicates_1m      another feature of the same layer lies within 1 m: every vertex of each
                     within 1 m of the other (Hausdorff distance ≤ 1 m, in EPSG:2180)
  crs                the layer's native CRS is undeclared or unknown to PROJ, or most of its
                     features lie more than FAR_FROM_CITY_M from the city (the signature of a
                     wrong CRS or swapped axes); a layer-level check: it flags all features
                     or none
  freshness          the data's reference date (`data_date`) is more than FRESH_YEARS old:
                     its score falls by STALE_PENALTY per year beyond that, to 0; a
                     layer-level check, left out when the layer has no reference date
Score of a check: 100 × (1 − flagged / features) (freshness: by age); of a layer: the mean of
its check scores. Old data cannot score 100: a 2022 register is not as good as a current one,
however clean its geometries.
A layer without features has no score (None), not a perfect one.
"""

import datetime

from django.db import connection
from django.utils import timezone
from pyproj import CRS
from pyproj.exceptions import CRSError

from layers.models import Feature, Layer

FEATURES = Feature._meta.db_table
OUTSIDE_TOLERANCE_M = 50
DUPLICATE_M = 1.0
# Most of a layer further than this from the city betrays a CRS problem.
FAR_FROM_CITY_M = 20_000
EXAMPLES = 10
FRESH_YEARS = 1
STALE_PENALTY = 25  # points of the freshness check per year beyond FRESH_YEARS


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _check(name: str, rows: list[tuple], total: int, detail: str = "") -> dict:
    ids = sorted({r[0] for r in rows})
    examples = [{"id": r[0], "detail": r[1]} if len(r) > 1 else {"id": r[0]}
                for r in sorted(rows)[:EXAMPLES]]
    return {"check": name, "flagged": len(ids), "examples": examples, "detail": detail,
            "score": round(100 * (1 - len(ids) / total), 1)}


def check_layer(layer: Layer, boundary: Layer | None,
                today: datetime.date | None = None) -> dict:
    total = Feature.objects.filter(layer=layer).count()
    result = {"layer": layer.slug, "title_pl": layer.title_pl, "features": total,
              "synthetic": layer.synthetic, "checks": [], "score": None}
    if total == 0:
        result["note"] = "no features: nothing to check"
        return result
    checks = result["checks"]
    checks.append(_check("invalid_geometry", _fetch(
        f"SELECT id, ST_IsValidReason(geom) FROM {FEATURES} "
        f"WHERE layer_id = %s AND NOT ST_IsValid(geom)", [layer.pk]), total))
    checks.append(_check("empty_geometry", _fetch(
        f"SELECT id FROM {FEATURES} WHERE layer_id = %s AND ST_IsEmpty(geom)", [layer.pk]),
        total))
    if layer.geometry_type != Layer.GeometryType.GEOMETRY:
        wanted = layer.geometry_type.upper()
        checks.append(_check("geometry_type", _fetch(
            f"SELECT id, GeometryType(geom) FROM {FEATURES} WHERE layer_id = %s "
            f"AND GeometryType(geom) <> ALL(%s)",
            [layer.pk, [wanted, wanted.removeprefix("MULTI")]]), total,
            f"layer declares {layer.geometry_type}"))
    required = [f["name"] for f in layer.fields if f.get("required")]
    if required:
        checks.append(_check("required_empty", _fetch(
            f"""SELECT f.id, string_agg(r.name, ', ') FROM {FEATURES} f
                CROSS JOIN unnest(%s::text[]) AS r(name)
                WHERE f.layer_id = %s AND coalesce(trim(f.properties ->> r.name), '') = ''
                GROUP BY f.id""", [required, layer.pk]), total,
            f"required: {', '.join(required)}"))
    if boundary is not None and boundary.pk != layer.pk:
        checks.append(_check("outside_city", _fetch(
            f"""WITH city AS (SELECT ST_Buffer(ST_Transform(ST_Union(geom), 2180), %s) AS g
                              FROM {FEATURES} WHERE layer_id = %s)
                SELECT f.id FROM {FEATURES} f, city
                WHERE f.layer_id = %s AND NOT ST_CoveredBy(ST_Transform(f.geom, 2180), city.g)""",
            [OUTSIDE_TOLERANCE_M, boundary.pk, layer.pk]), total,
            f"city boundary grown by {OUTSIDE_TOLERANCE_M} m"))
    # A bounding-box prefilter in degrees (0.00003° ≥ 2 m here) lets the GiST index find the
    # candidate pairs; the exact test is metric.
    checks.append(_check("duplicates_1m", _fetch(
        f"""SELECT a.id, min(b.id)::text FROM {FEATURES} a JOIN {FEATURES} b
              ON b.layer_id = a.layer_id AND b.id <> a.id
             AND b.geom && ST_Expand(a.geom, 0.00003)
             AND ST_HausdorffDistance(ST_Transform(a.geom, 2180), ST_Transform(b.geom, 2180))
                 <= %s
            WHERE a.layer_id = %s GROUP BY a.id""", [DUPLICATE_M, layer.pk]), total,
        f"within {DUPLICATE_M:g} m of another feature (example detail: the other's id)"))
    checks.append(_crs_check(layer, boundary, total))
    freshness = _freshness_check(layer, total, today or timezone.localdate())
    if freshness is not None:
        checks.append(freshness)
    result["score"] = round(sum(c["score"] for c in checks) / len(checks), 1)
    return result


def _freshness_check(layer: Layer, total: int, today: datetime.date) -> dict | None:
    if layer.data_date is None:
        return None  # nothing says how old the data are: not judged, neither good nor bad
    years = max(0.0, (today - layer.data_date).days / 365.25)
    score = max(0.0, min(100.0, 100 - STALE_PENALTY * (years - FRESH_YEARS)))
    return {"check": "freshness", "flagged": total if score < 100 else 0, "examples": [],
            "detail": f"data as of {layer.data_date.isoformat()} ({years:.1f} years old)",
            "score": round(score, 1), "data_date": layer.data_date.isoformat()}


def _crs_check(layer: Layer, boundary: Layer | None, total: int) -> dict:
    problems = []
    declared = [c.strip() for c in (layer.native_crs or "").split(",") if c.strip()]
    if not declared:
        problems.append("native CRS not declared")
    for code in declared:
        try:
            CRS.from_user_input(code)
        except CRSError:
            problems.append(f"native CRS {code!r} unknown to PROJ")
    if boundary is not None and boundary.pk != layer.pk:
        far, = _fetch(
            f"""WITH city AS (SELECT ST_Transform(ST_Union(geom), 2180) AS g
                              FROM {FEATURES} WHERE layer_id = %s)
                SELECT count(*) FROM {FEATURES} f, city
                WHERE f.layer_id = %s
                  AND NOT ST_DWithin(ST_Transform(f.geom, 2180), city.g, %s)""",
            [boundary.pk, layer.pk, FAR_FROM_CITY_M])[0]
        # One stray feature is an outlier (outside_city counts it); most of a layer far away
        # is the signature of coordinates read in the wrong CRS or with swapped axes.
        if far > total / 2:
            problems.append(f"{far} of {total} features lie more than "
                            f"{FAR_FROM_CITY_M // 1000} km from the city: wrong CRS or "
                            "swapped axes?")
    flagged = total if problems else 0
    return {"check": "crs", "flagged": flagged, "examples": [],
            "detail": "; ".join(problems) or f"native CRS {layer.native_crs}",
            "score": 0.0 if problems else 100.0}


def quality_report(*, include_staff: bool = False) -> dict:
    from indicators.computing import city_layer
    boundary = city_layer()
    layers = Layer.objects.order_by("slug")
    if not include_staff:
        layers = layers.filter(visibility=Layer.Visibility.PUBLIC)
    results = [check_layer(la, boundary) for la in layers]
    return {"tolerances": {"outside_city_m": OUTSIDE_TOLERANCE_M, "duplicate_m": DUPLICATE_M,
                           "far_from_city_m": FAR_FROM_CITY_M},
            "layers": results}
