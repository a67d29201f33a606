"""Numbers from reports for indicators, per area of an areas layer (districts by default).

    reports_per_km2(areas, category, period)     public reports per km² of each area
    median_days_to_fix(areas, category, period)  median days from report to "fixed"

Every area gets a row (0 reports is a value; a median over no fixed report is None). Counted:
public reports (published, not merged into another) that were not rejected; `period` is the
calendar year the report was made (Europe/Warsaw, the TIME_ZONE). Areas are measured in
EPSG:2180. The same numbers can be declared as indicators over the `zgloszenia` layer, whose
features carry `category`, `year`, `status` and `days_to_fix`.
"""

from django.conf import settings
from django.db import connection

from layers.models import Feature, Layer
from reports import conf
from reports.models import Category, Report

REPORTS = Report._meta.db_table
FEATURES = Feature._meta.db_table


class StatsError(ValueError):
    pass


def _areas(slug: str | None) -> Layer:
    slug = slug or conf.get("REPORTS_DISTRICTS_LAYER")
    layer = Layer.objects.filter(slug=slug, role=Layer.Role.AREAS,
                                 visibility=Layer.Visibility.PUBLIC).first()
    if layer is None:
        raise StatsError(f"unknown areas layer {slug!r}")
    return layer


def _filters(category: str | None, period: str | None) -> tuple[str, list]:
    sql = ["state = %s", "merged_into_id IS NULL", "status <> %s"]
    params: list = [Report.State.PUBLISHED, Report.Status.REJECTED]
    if category:
        cat = Category.objects.filter(slug=category).first()
        if cat is None:
            raise StatsError(f"unknown category {category!r}")
        sql.append("category_id = %s")
        params.append(cat.pk)
    if period:
        if not (period.isdigit() and len(period) == 4):
            raise StatsError("period must be a year, e.g. 2026")
        sql.append("extract(year FROM created_at AT TIME ZONE %s) = %s")
        params += [settings.TIME_ZONE, int(period)]
    return " AND ".join(sql), params


def _per_area(areas: Layer, value_sql: str, category, period) -> list[dict]:
    where, params = _filters(category, period)
    sql = f"""
        WITH r AS (SELECT geom, created_at, fixed_at, status FROM {REPORTS} WHERE {where})
        SELECT a.id, a.properties->>%s, count(r.geom), {value_sql}
        FROM {FEATURES} a LEFT JOIN r ON ST_Intersects(a.geom, r.geom)
        WHERE a.layer_id = %s GROUP BY a.id, a.geom ORDER BY a.id"""
    with connection.cursor() as cur:
        cur.execute(sql, [*params, areas.name_field or "", areas.pk])
        rows = cur.fetchall()
    return [{"area_id": area_id, "area_name": name if name is not None else f"#{area_id}",
             "category": category, "period": period, "reports": count,
             "value": None if value is None else float(value)}
            for area_id, name, count, value in rows]


def reports_per_km2(areas: str | None = None, category: str | None = None,
                    period: str | None = None) -> list[dict]:
    value = "count(r.geom) / NULLIF(ST_Area(ST_Transform(a.geom, 2180)) / 1e6, 0)"
    return _per_area(_areas(areas), value, category, period)


def median_days_to_fix(areas: str | None = None, category: str | None = None,
                       period: str | None = None) -> list[dict]:
    value = ("percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "
             "r.fixed_at - r.created_at) / 86400.0) FILTER (WHERE r.status = 'fixed' "
             "AND r.fixed_at IS NOT NULL)")
    return _per_area(_areas(areas), value, category, period)
