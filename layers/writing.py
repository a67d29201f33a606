"""Writing features of a layer in bulk: reprojection and repair happen in PostGIS.

Rows are COPYed into a temporary staging table, checked there (no geometry, coordinates that
cannot be in the declared CRS, invalid geometries), then inserted in one statement with
ST_Transform to EPSG:4326 and ST_MakeValid where needed. All of it runs in the caller's
transaction: either every row lands or none does.
"""

import io
import json

from django.db import connection

from layers.models import Feature, Layer


class WriteError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:20]))
        self.errors = errors


POLYGONAL = {"Polygon", "MultiPolygon"}


def _copy_rows(cur, rows) -> None:
    buf = io.StringIO()
    for n, (wkb, props, srid) in enumerate(rows, start=1):
        geom = "\\N" if wkb is None else "\\\\x" + wkb.hex()
        payload = json.dumps(props, ensure_ascii=False).replace("\\", "\\\\")
        buf.write(f"{n}\t{srid}\t{geom}\t{payload}\n")
    buf.seek(0)
    cur.copy_expert("COPY _staging (n, srid, wkb, props) FROM STDIN", buf)


def replace_features(layer: Layer, rows: list[tuple[bytes | None, dict, int]]) -> dict:
    """Replace all features of `layer` by `rows` of (wkb, properties, srid).

    Returns a report: counts, repaired geometries with the reason PostGIS gave. Raises
    WriteError listing every offending row before anything is written.
    """
    target_multi = layer.geometry_type.startswith("Multi")
    polygonal = layer.geometry_type in POLYGONAL
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS _staging")
        cur.execute("CREATE TEMP TABLE _staging (n int, srid int, wkb bytea, props jsonb, "
                    "g geometry) ON COMMIT DROP")
        _copy_rows(cur, rows)
        cur.execute("UPDATE _staging SET g = ST_SetSRID(ST_GeomFromWKB(wkb), srid) "
                    "WHERE wkb IS NOT NULL")
        errors = []
        cur.execute("SELECT n FROM _staging WHERE g IS NULL OR ST_IsEmpty(g) ORDER BY n")
        errors += [f"row {n}: no geometry" for (n,) in cur.fetchall()]
        # Coordinates outside the CRS's area of use betray a wrong CRS (the classic case:
        # EPSG:2178 metres read as degrees). Check against the geographic bounds after transform.
        cur.execute("""
            SELECT n, srid FROM _staging WHERE g IS NOT NULL AND NOT ST_IsEmpty(g) AND NOT (
              ST_XMin(ST_Transform(g, 4326)) >= -180 AND ST_XMax(ST_Transform(g, 4326)) <= 180 AND
              ST_YMin(ST_Transform(g, 4326)) >= -90 AND ST_YMax(ST_Transform(g, 4326)) <= 90)
            ORDER BY n""")
        errors += [f"row {n}: coordinates are not valid in EPSG:{srid} (wrong CRS?)"
                   for n, srid in cur.fetchall()]
        if errors:
            raise WriteError(errors)

        cur.execute("SELECT n, ST_IsValidReason(g) FROM _staging WHERE NOT ST_IsValid(g) "
                    "ORDER BY n")
        repaired = [{"row": n, "reason": reason} for n, reason in cur.fetchall()]

        fixed = "ST_MakeValid(g)"
        if polygonal:
            fixed = f"ST_CollectionExtract({fixed}, 3)"
        geom_sql = f"CASE WHEN ST_IsValid(g) THEN g ELSE {fixed} END"
        if target_multi:
            geom_sql = f"ST_Multi({geom_sql})"
        Feature.objects.filter(layer=layer).delete()
        cur.execute(f"""
            INSERT INTO {Feature._meta.db_table}
                (layer_id, geom, properties, version, created_at, updated_at)
            SELECT %s, ST_Transform({geom_sql}, 4326), props, 1, now(), now()
            FROM _staging ORDER BY n""", [layer.pk])
        inserted = cur.rowcount
        cur.execute("DROP TABLE _staging")
    layer.bump_version()
    return {"features": inserted, "repaired": repaired}
