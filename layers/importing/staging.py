"""Staging an import in PostGIS, checking its geometries there, and writing it as one batch.

The rows (of one file, or of several for a city's layer) are COPYed into a temporary table
`_staging`; PostGIS then checks every geometry (missing, outside the area of use of its CRS,
wrong type for the layer, invalid) and counts the types. Only a clean import without dry run
writes: in one transaction, the layer locked, optionally its features deleted first
(mode "replace"), the rows inserted with ST_Transform to EPSG:4326 (and ST_MakeValid on
request), one history row per feature, all under one batch id (revertible, see
layers.history), new fields logged, one ImportRun, one layer version bump.
"""

import io
import json
import uuid

from django.db import connection, models, transaction
from django.utils import timezone

from layers.history import SNAPSHOT_SQL
from layers.importing.options import ImportOptions
from layers.importing.report import ImportReport
from layers.importing.source import Source
from layers.models import Feature, FeatureHistory, ImportRun, Layer
from layers.schema_changes import log_change
from layers.signals import layer_changed

FEATURES = Feature._meta.db_table
HISTORY = FeatureHistory._meta.db_table
CHANNEL = "import"
SINGLE = {"MULTIPOINT": "POINT", "MULTILINESTRING": "LINESTRING", "MULTIPOLYGON": "POLYGON"}

# What is staged: per file, what was read and the properties built from it (one dict a row).
Parts = list[tuple[Source, list[dict]]]


def no_progress(stage: str, done: int, total: int | None) -> None:
    """The default progress callback: told (stage, done, total) at each stage's end."""


def _area_of_use(srid: int) -> tuple[float, float, float, float]:
    """The CRS's area of use in its own coordinates, widened by a margin: coordinates outside it
    mean the file is not in that CRS (the classic case: PL-2000 metres declared as degrees)."""
    from pyproj import CRS, Transformer

    crs = CRS.from_epsg(srid)
    if srid == 4326 or crs.is_geographic:
        return (-180.0, -90.0, 180.0, 90.0)
    area = crs.area_of_use
    if area is None:
        return (-float("inf"), -float("inf"), float("inf"), float("inf"))
    margin = 0.5
    bounds = (max(area.west - margin, -180), max(area.south - margin, -90),
              min(area.east + margin, 180), min(area.north + margin, 90))
    return Transformer.from_crs(4326, crs, always_xy=True).transform_bounds(*bounds)


def _geometry_sql(layer: Layer, repair: bool) -> str:
    """The staged geometry `g` as it will be stored (before reprojection)."""
    polygonal = layer.geometry_type in ("Polygon", "MultiPolygon")
    fixed = "ST_MakeValid(g)"
    if polygonal:
        fixed = f"ST_CollectionExtract({fixed}, 3)"
    geom = f"CASE WHEN ST_IsValid(g) THEN g ELSE {fixed} END" if repair else "g"
    if layer.geometry_type.startswith("Multi"):
        geom = f"ST_Multi({geom})"
    elif layer.geometry_type != "Geometry":
        geom = f"CASE WHEN ST_NumGeometries({geom}) = 1 THEN ST_GeometryN({geom}, 1) " \
               f"ELSE {geom} END"
    return geom


def _ewkb(wkb: bytes, srid: int) -> bytes:
    """WKB with the SRID inside (PostGIS's EWKB), so the staged rows need no second pass.
    Geometries are 2D (read with force_2d), so the type word is a plain 1..7."""
    order = "little" if wkb[0] == 1 else "big"
    kind = int.from_bytes(wkb[1:5], order) | 0x20000000
    return wkb[:1] + kind.to_bytes(4, order) + srid.to_bytes(4, order) + wkb[5:]


def stage(cur, parts: Parts) -> None:
    """COPY the rows into `_staging` (n: the row's number over all parts, from 1)."""
    cur.execute("DROP TABLE IF EXISTS _staging")
    cur.execute("CREATE TEMP TABLE _staging (n int, g geometry, props jsonb) ON COMMIT DROP")
    buf = io.StringIO()
    dumps = json.dumps
    offset = 0
    for source, rows in parts:
        srid = source.srid
        for n, (wkb, props) in enumerate(zip(source.wkb, rows, strict=True), start=offset + 1):
            geom = "\\N" if wkb is None else _ewkb(wkb, srid).hex()
            payload = dumps(props, ensure_ascii=False).replace("\\", "\\\\")
            buf.write(f"{n}\t{geom}\t{payload}\n")
        offset += len(rows)
    buf.seek(0)
    cur.copy_expert("COPY _staging (n, g, props) FROM STDIN", buf)


def _inside_area_of_use(srids: list[int]) -> tuple[str, str, dict]:
    """SQL that is true when the staged `g` lies within the area of use of its own CRS (the
    files of a city's layer may each have their own), SQL for that CRS's code, parameters."""
    cases, params = [], {}
    for i, srid in enumerate(srids):
        xmin, ymin, xmax, ymax = _area_of_use(srid)
        params.update({f"srid{i}": srid, f"xmin{i}": xmin, f"ymin{i}": ymin,
                       f"xmax{i}": xmax, f"ymax{i}": ymax})
        cases.append(f"g @ ST_MakeEnvelope(%(xmin{i})s, %(ymin{i})s, %(xmax{i})s, "
                     f"%(ymax{i})s, %(srid{i})s)")
    if len(cases) == 1:  # the usual case: no CRS looked up per row (this query is ~2% of an import)
        return cases[0], "%(srid0)s", params
    whens = " ".join(f"WHEN %(srid{i})s THEN {case}" for i, case in enumerate(cases))
    return f"CASE ST_SRID(g) {whens} END", "ST_SRID(g)", params


def check_geometries(cur, layer: Layer, parts: Parts, options: ImportOptions,
                     report: ImportReport) -> None:
    """Per-row geometry problems, repairs and the type census, all in PostGIS."""
    inside, srid, params = _inside_area_of_use(sorted({source.srid for source, _ in parts}))
    cur.execute("SELECT GeometryType(g), count(*) FROM _staging GROUP BY 1 ORDER BY 2 DESC")
    report.geometry_types = {(t or "none"): c for t, c in cur.fetchall()}
    wanted = layer.geometry_type.upper()
    allowed = None if wanted == "GEOMETRY" else [wanted, SINGLE.get(wanted, "MULTI" + wanted)]
    repair = options.invalid == "repair"
    cur.execute(f"""
        SELECT n, CASE
            WHEN g IS NULL OR ST_IsEmpty(g) THEN 'no geometry'
            WHEN NOT ({inside})
                THEN 'coordinates outside the area of use of EPSG:' || {srid}
                     || ' (' || round(ST_XMin(g)::numeric, 3) || ' '
                     || round(ST_YMin(g)::numeric, 3) || '): wrong CRS?'
            WHEN %(allowed)s::text[] IS NOT NULL AND NOT GeometryType(g) = ANY(%(allowed)s)
                THEN GeometryType(g) || ' given, layer holds ' || %(wanted)s
            WHEN %(single)s AND ST_NumGeometries(g) > 1
                THEN GeometryType(g) || ' with ' || ST_NumGeometries(g) || ' parts, layer holds '
                     || %(wanted)s
            WHEN NOT ST_IsValid(g) AND NOT %(repair)s
                THEN 'invalid geometry: ' || ST_IsValidReason(g)
            WHEN NOT ST_IsValid(g) AND ST_IsEmpty({_geometry_sql(layer, True)})
                THEN 'invalid geometry that cannot be repaired: ' || ST_IsValidReason(g)
            END AS problem
        FROM _staging ORDER BY n""", {
        **params, "allowed": allowed, "wanted": layer.geometry_type,
        "single": wanted in ("POINT", "LINESTRING", "POLYGON"), "repair": repair})
    reported, offset = set(), 0  # rows whose coordinates a reader reported already
    for source, _ in parts:
        reported.update(offset + n for n in source.bad_coordinates)
        offset += len(source)
    for n, problem in cur.fetchall():
        if problem and not (problem == "no geometry" and n in reported):
            report.error(n, "geometry", None, problem)
    if repair and not report.error_count:
        cur.execute("SELECT n, ST_IsValidReason(g) FROM _staging WHERE NOT ST_IsValid(g) "
                    "ORDER BY n")
        report.repaired = [{"row": n, "reason": reason} for n, reason in cur.fetchall()]


def _delete_dependents(layer: Layer) -> None:
    """Rows of other apps that point at the layer's features and are declared to go with them
    (on_delete=CASCADE: indicator values of areas) are deleted before the features are; the
    features' own DELETE is plain SQL, which Django's cascade does not reach."""
    for relation in Feature._meta.get_fields(include_hidden=True):
        if relation.auto_created and not relation.concrete and (
                relation.one_to_many or relation.one_to_one) and (
                relation.on_delete is models.CASCADE):
            relation.related_model._base_manager.filter(
                **{f"{relation.field.name}__layer_id": layer.pk}).delete()


def write(cur, layer: Layer, options: ImportOptions, report: ImportReport, user,
          batch: uuid.UUID) -> None:
    """The staged rows into the layer (after its features are deleted, in mode replace), with
    one history row for every feature deleted or created."""
    user_id = user.pk if user is not None and user.is_authenticated else None
    if options.mode == "replace":
        _delete_dependents(layer)
        cur.execute(f"""
            WITH gone AS (DELETE FROM {FEATURES} f WHERE f.layer_id = %s
                          RETURNING f.id, f.version, {SNAPSHOT_SQL.format(t='f')} AS snap)
            INSERT INTO {HISTORY} (layer_id, feature_id, action, version, user_id, channel,
                                   batch, before, after, at)
            SELECT %s, id, 'delete', version + 1, %s, %s, %s, snap, NULL, now() FROM gone""",
                    [layer.pk, layer.pk, user_id, CHANNEL, batch])
        report.deleted = cur.rowcount
    geom = _geometry_sql(layer, options.invalid == "repair")
    cur.execute(f"""
        WITH ins AS (
            INSERT INTO {FEATURES} (layer_id, geom, properties, version, created_at, updated_at)
            SELECT %s, ST_Transform({geom}, 4326), props, 1, now(), now()
            FROM _staging ORDER BY n
            RETURNING id, geom, properties)
        INSERT INTO {HISTORY} (layer_id, feature_id, action, version, user_id, channel, batch,
                               before, after, at)
        SELECT %s, id, 'create', 1, %s, %s, %s, NULL, {SNAPSHOT_SQL.format(t='ins')}, now()
        FROM ins""", [layer.pk, layer.pk, user_id, CHANNEL, batch])
    report.written = cur.rowcount


def stage_and_write(layer: Layer, parts: Parts, options: ImportOptions, report: ImportReport,
                    *, filename: str, user=None, added: list[dict] = (),
                    progress=no_progress) -> None:
    """Stage and check `parts`; then, unless options.dry_run or the report holds a problem,
    write them into `layer` with `added` fields as one batch (see the module's docstring).
    `progress` is told ("validated", n, n) once every row is checked and ("written", n, n)
    once they are written."""
    with transaction.atomic():
        locked = Layer.objects.select_for_update().get(pk=layer.pk)
        with connection.cursor() as cur:
            stage(cur, parts)
            check_geometries(cur, locked, parts, options, report)
            progress("validated", report.features, report.features)
            if options.dry_run or not report.ok:
                cur.execute("DROP TABLE _staging")
                return
            batch = uuid.uuid4()
            if added:
                before = locked.schema
                locked.schema = {**locked.schema, "fields": locked.fields + list(added)}
                log_change(locked, before, locked.schema,
                           {"added": [f["name"] for f in added], "file": filename},
                           user=user, channel=CHANNEL, batch=batch)
            write(cur, locked, options, report, user, batch)
            cur.execute("DROP TABLE _staging")
        report.batch = str(batch)
        locked.last_updated = timezone.now()
        locked.save(update_fields=["schema", "last_updated", "updated_at"])
        locked.bump_version()
        ImportRun.objects.create(
            layer=locked, batch=batch, user=user if user and user.is_authenticated else None,
            filename=filename[:255], mode=options.mode, features=report.written,
            report=report.as_dict())
        transaction.on_commit(lambda: layer_changed.send(sender=Layer, layer=locked))
        progress("written", report.written, report.written)
    layer.refresh_from_db()
