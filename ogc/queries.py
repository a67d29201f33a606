"""SQL over the layer registry and the feature table, for the OGC API.

Every value travels as a bound parameter. Property names are bound too (as the key of a JSONB
lookup), and on top of that a `FeatureQuery` only accepts names declared in the layer schema, so
nothing a client sends is ever spliced into the SQL text.
"""

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from layers.models import Feature, Layer
from ogc import crs as crsmod

# The replica for anonymous reads when one is configured (sdi.routers), else the primary.
from sdi.routers import read_connection as connection

FEATURES = Feature._meta.db_table
LAYERS = Layer._meta.db_table

# The feature id is not a property; it is exposed under this name for sorting and filtering.
ID = "id"
# 7 decimals of a degree is about 1 cm: finer than any survey the city has, and a third fewer
# bytes than PostGIS's default of 9.
GEOJSON_DECIMALS = 7


class QueryError(ValueError):
    """A request that cannot be turned into SQL; the message says which parameter and why."""


def registry_stamp() -> str:
    """A digest of the identity of every layer row version: any change to any layer (its
    metadata, schema, visibility or version; also through `QuerySet.update()` and
    `Layer.bump_version`, which leave `updated_at` alone) writes a new row version with a new
    `xmin`, and creating or deleting a layer changes the set of ids. Hashing (id, xmin) pairs
    rather than whole rows keeps this query cheap (it runs on every /ogc request, see
    bench/ogc_config.py); freezing does not overwrite xmin (PostgreSQL >= 9.4), so the stamp only
    changes when a row does. `ctid` tells apart two versions written by one transaction (same
    xmin): every version is a new tuple. Editor groups live in another table and are read per
    write request, so they need no stamp."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT md5(coalesce(string_agg(l.id::text || ':' || l.xmin::text || ':' "
                    f"|| l.ctid::text, ',' ORDER BY l.id), '')) FROM {LAYERS} l")
        return cur.fetchone()[0]


def layer_extents(layer_ids: list[int]) -> dict[int, tuple[float, float, float, float]]:
    """Bounding box of the features of each layer, in one query. Layers without features are
    absent from the result."""
    if not layer_ids:
        return {}
    with connection.cursor() as cur:
        cur.execute(f"""
            SELECT layer_id, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
            FROM (SELECT layer_id, ST_Extent(geom) AS e FROM {FEATURES}
                  WHERE layer_id = ANY(%s) GROUP BY layer_id) x""", [list(layer_ids)])
        return {row[0]: tuple(row[1:]) for row in cur.fetchall()}


@dataclass
class FeatureQuery:
    """The features of one layer, narrowed step by step; `fields` maps each declared property
    name to its schema type; `visibility` is what the config serving it said the layer is."""

    slug: str
    fields: dict[str, str]
    visibility: str = Layer.Visibility.PUBLIC
    _where: list[str] = field(default_factory=list)
    _params: list = field(default_factory=list)
    _order: list[str] = field(default_factory=list)
    _order_params: list = field(default_factory=list)

    def __post_init__(self):
        # Visibility (and soft deletion) is checked in the query itself, not only by the config
        # listing the layers: a layer hidden a moment ago must not leak through a config still
        # in flight.
        self._where = ["l.slug = %s", "l.visibility = %s AND l.deleted_at IS NULL"]
        self._params = [self.slug, self.visibility]

    def _property(self, name: str) -> tuple[str, list]:
        if name in self.fields:
            return "(f.properties -> %s)", [name]
        if name == ID:
            return "f.id", []
        raise QueryError(f"{name!r} is not a property of layer {self.slug}")

    def where(self, sql: str, params: list) -> "FeatureQuery":
        """A condition built elsewhere (e.g. from CQL2) with its own bound parameters."""
        self._where.append(f"({sql})")
        self._params.extend(params)
        return self

    def bbox(self, minx: float, miny: float, maxx: float, maxy: float,
             srid: int = 4326) -> "FeatureQuery":
        """Features intersecting a box given in x/y order in `srid` (PostGIS axis order)."""
        # `&&` lets the planner use the GiST index; ST_Intersects then drops the features
        # whose box touches the envelope but whose shape does not. A box in another CRS is
        # reprojected as a polygon (densified, so its edges follow the curved lines they are in
        # EPSG:4326), not as two corners.
        envelope = "ST_MakeEnvelope(%s, %s, %s, %s, 4326)" if srid == 4326 else (
            f"ST_Transform(ST_Segmentize(ST_MakeEnvelope(%s, %s, %s, %s, {int(srid)}), "
            f"greatest(%s - %s, %s - %s, 0.01) / 16), 4326)")
        params = [minx, miny, maxx, maxy] if srid == 4326 else \
            [minx, miny, maxx, maxy, maxx, minx, maxy, miny]
        self._where.append(f"f.geom && {envelope} AND ST_Intersects(f.geom, {envelope})")
        self._params.extend(params * 2)
        return self

    def during(self, name: str, start: str | None, end: str | None) -> "FeatureQuery":
        """Features whose date property `name` lies in [start, end] (ISO dates, None = open)."""
        if self.fields.get(name) != "date":
            raise QueryError(f"{name!r} is not a date property of layer {self.slug}")
        value = f"left(f.properties ->> {_sql_string(name)}, 10)"
        conditions = [f"{value} ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}'"]
        if start is not None:
            conditions.append(f"{value} >= %s")
            self._params.append(start)
        if end is not None:
            conditions.append(f"{value} <= %s")
            self._params.append(end)
        self._where.append(" AND ".join(conditions))
        return self

    def signature(self) -> str:
        """A digest of the selection (not the order or page): the key of its cached count."""
        text = json.dumps([self._where, self._params], default=str)
        return hashlib.sha1(text.encode()).hexdigest()

    def is_whole_layer(self) -> bool:
        return len(self._where) == 2

    def equals(self, name: str, raw: str) -> "FeatureQuery":
        """Property `name` equal to the query-string value `raw`, compared as the schema type
        (so OBWOD=7 matches the number 7 and price=1.50 matches 1.5)."""
        if name == ID and name not in self.fields:
            self._where.append("f.id = %s")
            self._params.append(parse_feature_id(raw, what=ID))
            return self
        self._property(name)
        value = coerce(self.fields[name], raw, name)
        # Containment rather than ->> text equality: the GIN index on properties answers it.
        self._where.append("f.properties @> %s::jsonb")
        self._params.append(json.dumps({name: value}))
        return self

    def search(self, terms: list[str]) -> "FeatureQuery":
        """Free text (`q`): any term found in any property value, case-insensitively."""
        terms = [t.strip() for t in terms if t.strip()]
        if not terms:
            return self
        patterns = ["%" + t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                    for t in terms]
        self._where.append(
            "EXISTS (SELECT 1 FROM jsonb_each_text(f.properties) p "
            "WHERE p.value ILIKE ANY(%s))")
        self._params.append(patterns)
        return self

    def order_by(self, name: str, descending: bool = False) -> "FeatureQuery":
        # Ordering on the jsonb value itself sorts numbers numerically and strings as text, and
        # never fails on a value of an unexpected type, unlike a cast.
        expr, params = self._property(name)
        self._order.append(f"{expr} {'DESC' if descending else 'ASC'} NULLS LAST")
        self._order_params.extend(params)
        return self

    def _from_where(self) -> str:
        return (f"FROM {FEATURES} f JOIN {LAYERS} l ON l.id = f.layer_id "
                f"WHERE {' AND '.join(self._where)}")

    def count(self) -> int:
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*) {self._from_where()}", self._params)
            return cur.fetchone()[0]

    def count_upto(self, cap: int) -> int:
        """The exact count if it is at most `cap`, else cap + 1: stops reading after cap + 1 rows,
        so a broad filter on a huge layer costs a bounded amount of work."""
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM (SELECT 1 {self._from_where()} LIMIT %s) s",
                        [*self._params, cap + 1])
            return cur.fetchone()[0]

    def estimate(self) -> int:
        """The planner's estimate of the number of matching rows (from table statistics)."""
        with connection.cursor() as cur:
            cur.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 {self._from_where()}", self._params)
            plan = cur.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])

    def fetch(self, offset: int, limit: int, geometry: bool = True,
              crs: crsmod.Crs = crsmod.DEFAULT) -> list[tuple]:
        """Rows of (id, properties, geometry-as-GeoJSON-or-None), geometry in `crs`."""
        geom = crsmod.geometry_out("f.geom", crs) if geometry else "NULL"
        # The id tiebreaker keeps pages stable: clients page with offset (GDAL follows `next`
        # links), and an unstable order would repeat or skip features between pages.
        order = ", ".join([*self._order, "f.id"])
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT f.id, f.properties, {geom} {self._from_where()} "
                f"ORDER BY {order} LIMIT %s OFFSET %s",
                [*self._params, *self._order_params, limit, offset])
            return cur.fetchall()


# PostgreSQL bigint: a larger id cannot exist and would make the query itself fail.
MAX_ID = 2**63 - 1


def parse_feature_id(raw, what: str = "feature id") -> int:
    try:
        value = int(str(raw))
    except ValueError:
        raise QueryError(f"{what} must be an integer (got {raw!r})") from None
    if not 0 < value <= MAX_ID:
        raise QueryError(f"{what} out of range (got {raw!r})")
    return value


def coerce(ftype: str, raw: str, name: str):
    """A query-string value as the JSON value a property of type `ftype` holds."""
    if ftype == "integer":
        try:
            return int(raw)
        except ValueError:
            raise QueryError(f"{name}: expected an integer (got {raw!r})") from None
    if ftype == "decimal":
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise QueryError(f"{name}: expected a number (got {raw!r})") from None
        if not number.is_finite():
            raise QueryError(f"{name}: expected a finite number (got {raw!r})")
        return int(number) if number == number.to_integral_value() else float(number)
    if ftype == "boolean":
        lowered = raw.strip().lower()
        if lowered not in ("true", "false"):
            raise QueryError(f"{name}: expected true or false (got {raw!r})")
        return lowered == "true"
    if ftype == "date":
        try:
            return datetime.date.fromisoformat(raw).isoformat()
        except ValueError:
            raise QueryError(f"{name}: expected a date YYYY-MM-DD (got {raw!r})") from None
    return raw


def fetch_feature(slug: str, feature_id: int, crs: crsmod.Crs = crsmod.DEFAULT,
                  visibility: str = Layer.Visibility.PUBLIC) -> tuple | None:
    """(id, properties, geometry, version) of one feature of a layer that still has the
    visibility the caller's config says, or None."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT f.id, f.properties, {crsmod.geometry_out('f.geom', crs)}, f.version "
            f"FROM {FEATURES} f JOIN {LAYERS} l ON l.id = f.layer_id "
            "WHERE f.id = %s AND l.slug = %s AND l.visibility = %s AND l.deleted_at IS NULL",
            [feature_id, slug, visibility])
        return cur.fetchone()


def _sql_string(name: str) -> str:
    from ogc.cql import sql_string
    return sql_string(name)


def layer_time_extents(layers: list[tuple[int, str]]) -> dict[int, tuple[str, str]]:
    """(first, last) ISO date of the date property `name` of each (layer id, name) pair."""
    found = {}
    with connection.cursor() as cur:
        for layer_id, name in layers:
            value = f"left(properties ->> {_sql_string(name)}, 10)"
            cur.execute(f"SELECT min({value}), max({value}) FROM {FEATURES} "
                        f"WHERE layer_id = %s AND {value} ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}'",
                        [layer_id])
            first, last = cur.fetchone()
            if first:
                found[layer_id] = (first, last)
    return found
