"""CQL2 filters (OGC API Features Part 3): parsed with pygeofilter, translated to bound SQL over
the feature table, typed by the layer schema.

Properties live in one JSONB column, so a filter on a property is a JSONB expression: numbers are
compared as JSONB numbers (after checking `jsonb_typeof`, so a stray string in the data can never
make a cast fail), strings as text, dates as their ISO text. Every literal is a bound parameter
and every property name is checked against the layer schema before it reaches SQL.

What is supported (and advertised in /conformance): CQL2 text and JSON, basic CQL2 (comparison,
AND/OR/NOT, IS NULL), LIKE / BETWEEN / IN, CASEI, the eight S_* spatial functions plus
S_DWITHIN, and the temporal predicates T_AFTER, T_BEFORE, T_EQUALS, T_INTERSECTS, T_DISJOINT and
T_DURING on date properties. Everything else is refused with a message saying so.
"""

import datetime
import json
import math
import os

import shapely
import shapely.geometry
from lark import Lark, v_args
from lark.exceptions import LarkError, UnexpectedInput, VisitError
from pygeofilter import ast, values
from pygeofilter.cql2 import SPATIAL_PREDICATES_MAP
from pygeofilter.parsers.cql2_json.parser import walk_cql_json
from pygeofilter.parsers.cql2_text.parser import CQLTransformer

from ogc import crs as crsmod
from sdi import input_guard

# Property names a filter may use for the feature geometry.
GEOMETRY_NAMES = ("geometry", "geom")
ID = "id"
MAX_FILTER_LENGTH = 20_000
MAX_DEPTH = 60


class FilterError(ValueError):
    """A filter that cannot be run; the message tells the client what and where."""


class TimeIntersects(ast.TemporalPredicate):
    # pygeofilter maps T_INTERSECTS to T_OVERLAPS, which is a different (stricter) relation.
    op = ast.TemporalComparisonOp.DISJOINT  # placeholder; never used for SQL


TEMPORAL = {
    "t_after": ast.TimeAfter, "t_before": ast.TimeBefore, "t_equals": ast.TimeEquals,
    "t_intersects": TimeIntersects, "t_disjoint": ast.TimeDisjoint, "t_during": ast.TimeDuring,
    "t_meets": ast.TimeMeets, "t_metby": ast.TimeMetBy, "t_overlaps": ast.TimeOverlaps,
    "t_overlappedby": ast.TimeOverlappedBy, "t_begins": ast.TimeBegins,
    "t_begunby": ast.TimeBegunBy, "t_contains": ast.TimeContains, "t_ends": ast.TimeEnds,
    "t_endedby": ast.TimeEndedBy,
}


@v_args(meta=False, inline=True)
class _Transformer(CQLTransformer):
    def binary_temporal_predicate(self, lhs, op, rhs):
        return TEMPORAL[op.lower()](lhs, rhs)

    def temporal_function(self, op, lhs, rhs):
        return TEMPORAL[op.lower()](lhs, rhs)

    def dwithin(self, lhs, rhs, distance, units):
        return ast.DistanceWithin(lhs, rhs, distance, str(units))

    def interval(self, start, end):
        return values.Interval(None if start == ".." else start, None if end == ".." else end)

    def OPEN_END(self, token):
        return ".."

    def SINGLE_QUOTED(self, token):
        return token[1:-1].replace("''", "'")


_parser = Lark.open(
    "cql2.lark", rel_to=__file__, parser="lalr", maybe_placeholders=False,
    transformer=_Transformer(),
    import_paths=[os.path.join(os.path.dirname(ast.__file__), "parsers")],
)


def parse_text(text: str):
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter is longer than {MAX_FILTER_LENGTH} characters")
    try:
        return _parser.parse(text)
    except UnexpectedInput as exc:
        context = exc.get_context(text, span=30).replace("\n", " ").strip()
        raise FilterError(f"CQL2 text syntax error at character {exc.column}: {context}") \
            from None
    except VisitError as exc:
        raise FilterError(f"CQL2 text: invalid value ({exc.orig_exc})") from None
    except (LarkError, ValueError, TypeError) as exc:
        raise FilterError(f"CQL2 text could not be parsed: {exc}") from None


def _prewalk(node, depth=0):
    """Turn the CQL2-JSON constructs pygeofilter 0.4 gets wrong or lacks (t_intersects, s_dwithin,
    bbox) into AST nodes; pygeofilter's walker passes AST nodes through unchanged."""
    if depth > MAX_DEPTH:
        raise FilterError(f"filter is nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, list):
        return [_prewalk(n, depth + 1) for n in node]
    if not isinstance(node, dict):
        return node
    if "bbox" in node and "op" not in node:
        box = node["bbox"]
        if (not isinstance(box, list) or len(box) not in (4, 6)
                or not all(_is_number(v) for v in box)):
            raise FilterError("a bbox literal is a list of 4 (or 6) numbers")
        minx, miny, maxx, maxy = (box[0], box[1], box[3], box[4]) if len(box) == 6 else box
        return values.Envelope(minx, maxx, miny, maxy)
    if "op" in node:
        op = node["op"]
        args = node.get("args")
        if not isinstance(op, str) or not isinstance(args, list):
            raise FilterError("a CQL2-JSON operation is {\"op\": <name>, \"args\": [...]}")
        args = _prewalk(args, depth + 1)
        lowered = op.lower()
        if lowered in TEMPORAL and lowered not in ("t_after", "t_before", "t_equals"):
            args = [walk_cql_json(a) for a in args]
            if len(args) != 2:
                raise FilterError(f"{op} takes 2 arguments")
            return TEMPORAL[lowered](*args)
        if lowered == "s_dwithin":
            if len(args) != 3:
                raise FilterError("s_dwithin takes 3 arguments: geometry, geometry, distance")
            lhs, rhs = walk_cql_json(args[0]), walk_cql_json(args[1])
            return ast.DistanceWithin(lhs, rhs, args[2], "meters")
        return {**node, "args": args}
    return {k: _prewalk(v, depth + 1) for k, v in node.items()}


def parse_json(text) -> object:
    if isinstance(text, bytes | str) and len(text) > MAX_FILTER_LENGTH * 5:
        raise FilterError("filter is too long")
    try:
        document = input_guard.load_json(
            text, "CQL2 JSON", invalid="{what} is not valid JSON: {error}") \
            if isinstance(text, str | bytes) else text
    except input_guard.BadJson as exc:
        raise FilterError(str(exc)) from None
    try:
        return walk_cql_json(_prewalk(document))
    except FilterError:
        raise
    except RecursionError:
        raise FilterError("filter is nested too deeply") from None
    except Exception as exc:  # pygeofilter raises bare Exceptions, KeyErrors, IndexErrors...
        raise FilterError(f"CQL2 JSON could not be understood: {type(exc).__name__}: {exc}") \
            from None


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


_COMPARISON_SQL = {ast.ComparisonOp.EQ: "=", ast.ComparisonOp.NE: "<>", ast.ComparisonOp.LT: "<",
                   ast.ComparisonOp.LE: "<=", ast.ComparisonOp.GT: ">",
                   ast.ComparisonOp.GE: ">="}
_MIRROR = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_SPATIAL_SQL = {cls: f"ST_{name.removeprefix('s_').capitalize()}"
                for name, cls in SPATIAL_PREDICATES_MAP.items()}
_DISTANCE_UNITS = {"m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
                   "km": 1000.0, "kilometer": 1000.0, "kilometers": 1000.0,
                   "kilometre": 1000.0, "kilometres": 1000.0}
DATE_GUARD = r"^\d{4}-\d{2}-\d{2}"
# S_DWITHIN: half the Earth's circumference, the farthest two places can be apart; and the
# widest search whose geography buffer is a safe prefilter (at 1,000 km its box is already
# narrower than the true circle at mid latitudes; at 9,000 km it misses the centre).
EARTH_SPAN = 20_040_000
PREFILTER_MAX = 100_000


class Translator:
    """Translates one parsed filter for one layer. `fields` maps property names to schema types;
    `filter_crs` is the CRS of geometry literals (filter-crs)."""

    def __init__(self, fields: dict[str, str], filter_crs: crsmod.Crs = crsmod.DEFAULT,
                 slug: str = ""):
        self.fields = fields
        self.filter_crs = filter_crs
        self.slug = slug
        self.params: list = []

    def translate(self, node) -> tuple[str, list]:
        self.params = []
        sql = self._node(node, 0)
        return sql, self.params

    # --- helpers --------------------------------------------------------------------------

    def _bind(self, value) -> str:
        if isinstance(value, str) and input_guard.NUL in value:
            raise FilterError(input_guard.nul_message("a string in the filter"))
        self.params.append(value)
        return "%s"

    def _attribute(self, node) -> tuple[str, str]:
        """(name, type) of a property reference; type is a schema type, 'id' or 'geometry'."""
        name = node.name
        if not isinstance(name, str):
            raise FilterError(f"a property is named by a string (got {_described_value(name)}: "
                              f"{{\"property\": \"<name>\"}})")
        if name in self.fields:
            return name, self.fields[name]
        if name == ID:
            return name, "id"
        if name in GEOMETRY_NAMES:
            return name, "geometry"
        known = ", ".join(sorted([*self.fields, ID, "geometry"]))
        raise FilterError(f"unknown property {name!r} in filter; queryables of "
                          f"{self.slug or 'this collection'} are: {known}")

    def _scalar_expr(self, node, casei=False) -> tuple[str, str, str | None]:
        """(sql, type, property name) of a property on one side of a comparison."""
        if isinstance(node, ast.Function) and node.name == "lower":
            if len(node.arguments) != 1 or not isinstance(node.arguments[0], ast.Attribute):
                raise FilterError("CASEI takes one property or one string")
            sql, ftype, name = self._scalar_expr(node.arguments[0])
            if ftype != "string":
                raise FilterError(f"CASEI applies to strings; {name!r} is {ftype}")
            return f"lower({sql})", "string", name
        name, ftype = self._attribute(node)
        if ftype == "id":
            return "f.id", "id", name
        if ftype == "geometry":
            return "f.geom", "geometry", name
        key = sql_string(name)
        if ftype in ("string",):
            return f"(f.properties ->> {key})", ftype, name
        if ftype == "date":
            return f"left(f.properties ->> {key}, 10)", ftype, name
        return f"(f.properties -> {key})", ftype, name

    def _literal(self, value, ftype: str, name: str, casei=False):
        """The bound SQL for a literal compared with a property of type `ftype`."""
        if isinstance(value, ast.Function) and value.name == "lower" and casei:
            if len(value.arguments) != 1 or not isinstance(value.arguments[0], str):
                raise FilterError("CASEI takes one property or one string")
            return f"lower({self._bind(value.arguments[0])})"
        if isinstance(value, ast.Node) or isinstance(value, values.Geometry | values.Envelope):
            raise FilterError(f"{name!r} can only be compared with a literal value here")
        wrong = FilterError(f"{name!r} is {_described(ftype)}; {value!r} is "
                            f"{_described_value(value)}")
        if ftype in ("integer", "decimal"):
            if not _is_number(value) or (ftype == "integer" and isinstance(value, float)
                                         and not value.is_integer()):
                raise wrong
            return f"{self._bind(json.dumps(value))}::jsonb"
        if ftype == "id":
            if not isinstance(value, int) or isinstance(value, bool):
                raise wrong
            if not -2**63 <= value < 2**63:
                raise FilterError(f"{name!r}: {value} is out of range")
            return self._bind(value)
        if ftype == "string":
            if not isinstance(value, str):
                raise wrong
            return f"lower({self._bind(value)})" if casei else self._bind(value)
        if ftype == "boolean":
            if not isinstance(value, bool):
                raise wrong
            return f"{self._bind(json.dumps(value))}::jsonb"
        if ftype == "date":
            return self._bind(_as_date(value, name))
        raise wrong

    def _guard(self, sql: str, ftype: str) -> str:
        """A condition true only when the property holds a value of its declared type, so a
        comparison never meets a value it cannot compare (and NULLs drop out as CQL2 wants)."""
        if ftype in ("integer", "decimal"):
            return f"jsonb_typeof({sql}) = 'number'"
        if ftype == "boolean":
            return f"jsonb_typeof({sql}) = 'boolean'"
        if ftype == "date":
            return f"{sql} ~ '{DATE_GUARD}'"
        return f"{sql} IS NOT NULL"

    # --- nodes ----------------------------------------------------------------------------

    def _node(self, node, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise FilterError(f"filter is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.And | ast.Or):
            op = "AND" if isinstance(node, ast.And) else "OR"
            return f"({self._node(node.lhs, depth + 1)} {op} {self._node(node.rhs, depth + 1)})"
        if isinstance(node, ast.Not):
            return f"(NOT coalesce({self._node(node.sub_node, depth + 1)}, false))"
        if isinstance(node, ast.Include):
            return "FALSE" if node.not_ else "TRUE"
        if isinstance(node, ast.Comparison):
            return self._comparison(node)
        if isinstance(node, ast.Between):
            return self._between(node)
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.In):
            return self._in(node)
        if isinstance(node, ast.IsNull):
            return self._is_null(node)
        if isinstance(node, ast.DistanceWithin):
            return self._dwithin(node)
        if isinstance(node, ast.SpatialComparisonPredicate):
            return self._spatial(node)
        if isinstance(node, ast.BBox):
            envelope = values.Envelope(node.minx, node.maxx, node.miny, node.maxy)
            return self._spatial(ast.GeometryIntersects(node.lhs, envelope))
        if isinstance(node, ast.TemporalPredicate):
            return self._temporal(node)
        if isinstance(node, bool):
            return "TRUE" if node else "FALSE"
        if isinstance(node, ast.Attribute):
            name, ftype = self._attribute(node)
            if ftype != "boolean":
                raise FilterError(f"{name!r} is {_described(ftype)}, not a condition")
            return f"f.properties @> {self._bind(json.dumps({name: True}))}::jsonb"
        if isinstance(node, ast.Function):
            raise FilterError(f"function {node.name!r} is not supported in filters")
        if isinstance(node, ast.Arithmetic):
            raise FilterError("arithmetic (+ - * /) is not supported in filters")
        if isinstance(node, ast.Node):
            raise FilterError(f"{type(node).__name__} is not supported in filters")
        raise FilterError(f"{node!r} is a value, not a condition")

    def _sides(self, lhs, rhs):
        """(property side, literal side, swapped) of a binary predicate."""
        def is_prop(n):
            return isinstance(n, ast.Attribute) or (
                isinstance(n, ast.Function) and n.name == "lower" and n.arguments
                and isinstance(n.arguments[0], ast.Attribute))
        if isinstance(lhs, ast.Arithmetic) or isinstance(rhs, ast.Arithmetic):
            raise FilterError("arithmetic (+ - * /) is not supported in filters")
        if is_prop(lhs) and is_prop(rhs):
            raise FilterError("comparing two properties with each other is not supported")
        if is_prop(lhs):
            return lhs, rhs, False
        if is_prop(rhs):
            return rhs, lhs, True
        raise FilterError(f"a comparison needs a property on one side (got {lhs!r} and {rhs!r})")

    def _comparison(self, node) -> str:
        prop, literal, swapped = self._sides(node.lhs, node.rhs)
        op = _COMPARISON_SQL[node.op]
        if swapped:
            op = _MIRROR[op]
        casei = isinstance(prop, ast.Function)
        sql, ftype, name = self._scalar_expr(prop)
        if ftype == "geometry":
            raise FilterError("compare geometries with the S_* spatial functions")
        if ftype == "boolean" and op not in ("=", "<>"):
            raise FilterError(f"{name!r} is a boolean: only = and <> apply")
        value = self._literal(literal, ftype, name, casei=casei)
        if op == "=" and ftype in ("integer", "decimal", "boolean", "string") and not casei:
            # Containment is answered by the GIN index on properties.
            self.params.pop()  # the literal, bound again inside the JSON document
            return f"f.properties @> {self._bind(json.dumps({name: literal}))}::jsonb"
        return f"({self._guard(sql, ftype)} AND {sql} {op} {value})"

    def _between(self, node) -> str:
        sql, ftype, name = self._scalar_expr(node.lhs)
        if ftype not in ("integer", "decimal", "date", "id"):
            raise FilterError(f"BETWEEN applies to numbers and dates; {name!r} is "
                              f"{_described(ftype)}")
        low = self._literal(node.low, ftype, name)
        high = self._literal(node.high, ftype, name)
        guard = self._guard(sql, ftype) if ftype != "id" else "TRUE"
        expr = f"{sql} BETWEEN {low} AND {high}"
        return f"({guard} AND {'NOT ' if node.not_ else ''}{expr})"

    def _like(self, node) -> str:
        casei = node.nocase or isinstance(node.lhs, ast.Function)
        sql, ftype, name = self._scalar_expr(node.lhs)
        if ftype != "string":
            raise FilterError(f"LIKE applies to strings; {name!r} is {_described(ftype)}")
        pattern = node.pattern
        if isinstance(pattern, ast.Function) and pattern.name == "lower" and \
                len(pattern.arguments) == 1:
            pattern, casei = pattern.arguments[0], True
        if not isinstance(pattern, str):
            raise FilterError(f"LIKE needs a string pattern (got {_described_value(pattern)})")
        _check_escapes(pattern)
        if casei and sql.startswith("lower("):
            sql = sql[len("lower("):-1]
        op = "ILIKE" if casei else "LIKE"
        return f"({sql} IS NOT NULL AND {sql} {'NOT ' if node.not_ else ''}{op} " \
               f"{self._bind(pattern)})"

    def _in(self, node) -> str:
        sql, ftype, name = self._scalar_expr(node.lhs)
        if not node.sub_nodes:
            raise FilterError("IN needs at least one value")
        if ftype in ("geometry",):
            raise FilterError("IN does not apply to geometries")
        items = [self._literal(v, ftype, name) for v in node.sub_nodes]
        expr = f"{sql} {'NOT ' if node.not_ else ''}IN ({', '.join(items)})"
        guard = self._guard(sql, ftype) if ftype != "id" else "TRUE"
        return f"({guard} AND {expr})"

    def _is_null(self, node) -> str:
        if not isinstance(node.lhs, ast.Attribute):
            raise FilterError("IS NULL applies to a property")
        name, ftype = self._attribute(node.lhs)
        if ftype in ("id", "geometry"):
            return "TRUE" if node.not_ else "FALSE"
        key = sql_string(name)
        null = f"(f.properties -> {key} IS NULL OR jsonb_typeof(f.properties -> {key}) = 'null')"
        return f"(NOT {null})" if node.not_ else null

    # --- spatial --------------------------------------------------------------------------

    def _geometry_literal(self, value) -> str:
        if isinstance(value, ast.Function) and value.name == "bbox":
            args = value.arguments
            if len(args) not in (4, 6) or not all(_is_number(a) for a in args):
                raise FilterError("BBOX takes 4 (or 6) numbers")
            minx, miny, maxx, maxy = (args[0], args[1], args[3], args[4]) if len(args) == 6 \
                else args
            value = values.Envelope(minx, maxx, miny, maxy)
        crs = self.filter_crs
        if isinstance(value, values.Envelope):
            if value.x1 > value.x2 or value.y1 > value.y2:
                raise FilterError("a bbox needs min ≤ max on both axes")
            geometry = value.geometry
        elif isinstance(value, values.Geometry):
            geometry = dict(value.geometry)
            named = (geometry.pop("crs", None) or {}).get("properties", {}).get("name")
            if named:
                try:
                    crs = crsmod.parse(named, "geometry CRS")
                except crsmod.CrsError as exc:
                    raise FilterError(str(exc)) from None
        else:
            raise FilterError(f"expected a geometry literal (WKT or GeoJSON), got "
                              f"{_described_value(value)}")
        try:
            shape = shapely.geometry.shape(geometry)
        except Exception as exc:
            raise FilterError(f"invalid geometry in filter: {exc}") from None
        coords = shapely.get_coordinates(shape)
        if not all(math.isfinite(c) for c in coords.ravel()):
            raise FilterError("geometry in filter has coordinates that are not finite numbers")
        if not shape.is_valid:
            raise FilterError(f"geometry in filter is invalid: {shapely.is_valid_reason(shape)}")
        xy = coords[:, ::-1] if crs.north_first else coords
        problem = crsmod.outside(crs, xy[:, 0], xy[:, 1], "a geometry in the filter")
        if problem:
            raise FilterError(problem)
        if crs.geographic:
            lon_lat = coords[:, ::-1] if crs.north_first else coords
            if len(coords) and (abs(lon_lat[:, 0]).max() > 180 or abs(lon_lat[:, 1]).max() > 90):
                raise FilterError(f"geometry in filter lies outside the range of {crs.uri} "
                                  f"(longitude -180..180, latitude -90..90, in the CRS's axis "
                                  f"order)")
        placeholder = f"{self._bind(shapely.to_wkb(shape, hex=True))}::geometry"
        return crsmod.geometry_in(placeholder, crs)

    def _spatial_args(self, lhs, rhs) -> tuple[str, str]:
        def side(n):
            if isinstance(n, ast.Attribute):
                name, ftype = self._attribute(n)
                if ftype != "geometry":
                    raise FilterError(f"spatial functions apply to the geometry; {name!r} is "
                                      f"{_described(ftype)}")
                return "f.geom"
            return self._geometry_literal(n)
        return side(lhs), side(rhs)

    def _spatial(self, node) -> str:
        func = _SPATIAL_SQL.get(type(node))
        if func is None:
            raise FilterError(f"{type(node).__name__} is not supported")
        a, b = self._spatial_args(node.lhs, node.rhs)
        return f"{func}({a}, {b})"

    def _dwithin(self, node) -> str:
        distance = node.distance
        if not _is_number(distance) or distance < 0:
            raise FilterError("S_DWITHIN needs a distance of 0 or more")
        factor = _DISTANCE_UNITS.get(str(node.units).lower())
        if factor is None:
            raise FilterError(f"S_DWITHIN: unknown distance unit {node.units!r}; "
                              f"use meters or kilometers")
        meters = distance * factor
        if not math.isfinite(meters):
            raise FilterError(f"S_DWITHIN: the distance {distance} {node.units} is too large "
                              f"to compute with; any distance over {EARTH_SPAN:.0f} meters "
                              f"already reaches every place on Earth")
        params_before = list(self.params)
        a, b = self._spatial_args(node.lhs, node.rhs)  # checks both sides
        if (a == "f.geom") == (b == "f.geom"):
            raise FilterError("S_DWITHIN compares the geometry with a geometry literal")
        literal = node.rhs if a == "f.geom" else node.lhs
        self.params.clear()
        self.params.extend(params_before)
        # Geography gives true metres anywhere; the bounding box of a buffer 1% larger (the
        # buffer's polygon lies inside the true circle by less than that) lets the GiST index on
        # geom narrow the candidates first. Parameters are bound in the order they appear.
        # PostGIS buffers geography in a local projection, which distorts wide buffers and fails
        # past ~19,000 km: searches wider than PREFILTER_MAX do without the prefilter.
        prefilter = (f"f.geom && ST_Envelope(ST_Buffer(({self._geometry_literal(literal)})"
                     f"::geography, {self._bind(meters * 1.01)})::geometry) AND "
                     if meters <= PREFILTER_MAX else "")
        exact = (f"ST_DWithin(f.geom::geography, ({self._geometry_literal(literal)})::geography, "
                 f"{self._bind(meters)})")
        return f"({prefilter}{exact})"

    # --- temporal -------------------------------------------------------------------------

    def _temporal(self, node) -> str:
        prop, literal, swapped = self._sides(node.lhs, node.rhs)
        sql, ftype, name = self._scalar_expr(prop)
        if ftype != "date":
            raise FilterError(f"temporal functions apply to date properties; {name!r} is "
                              f"{_described(ftype)}")
        guard = self._guard(sql, ftype)
        if isinstance(literal, values.Interval):
            start = _as_date(literal.start, name) if literal.start is not None else None
            end = _as_date(literal.end, name) if literal.end is not None else None
            if start and end and start > end:
                raise FilterError("an interval's start must not be after its end")
        elif isinstance(literal, datetime.date):
            start = end = _as_date(literal, name)
        else:
            raise FilterError(f"temporal functions compare {name!r} with a DATE, TIMESTAMP or "
                              f"INTERVAL (got {_described_value(literal)})")
        cls = type(node)
        if swapped:
            cls = {ast.TimeAfter: ast.TimeBefore, ast.TimeBefore: ast.TimeAfter}.get(cls, cls)

        def cmp(op, value):
            return f"{sql} {op} {self._bind(value)}"

        def within():
            parts = ([cmp(">=", start)] if start else []) + ([cmp("<=", end)] if end else [])
            return " AND ".join(parts) or "TRUE"

        if cls is ast.TimeAfter:
            if end is None:
                return "FALSE"
            cond = cmp(">", end)
        elif cls is ast.TimeBefore:
            if start is None:
                return "FALSE"
            cond = cmp("<", start)
        elif cls is ast.TimeEquals:
            if start != end:
                return "FALSE"  # an instant never equals a longer interval
            cond = cmp("=", start)
        elif cls is TimeIntersects:
            cond = within()
        elif cls is ast.TimeDisjoint:
            cond = f"NOT ({within()})"
        elif cls is ast.TimeDuring:
            if swapped:
                raise FilterError("T_DURING: the property must be the first argument")
            parts = ([cmp(">", start)] if start else []) + ([cmp("<", end)] if end else [])
            cond = " AND ".join(parts) or "TRUE"
        else:
            raise FilterError(f"{cls.__name__} is not supported for date properties; use "
                              f"T_AFTER, T_BEFORE, T_EQUALS, T_INTERSECTS, T_DISJOINT or "
                              f"T_DURING")
        return f"({guard} AND {cond})"


def _check_escapes(pattern: str) -> None:
    """A LIKE pattern's backslash escapes the character after it (\\% a literal %, \\\\ a
    backslash), as in SQL; one with nothing after it escapes nothing."""
    escaped = False
    for char in pattern:
        escaped = not escaped and char == "\\"
    if escaped:
        raise FilterError("LIKE pattern ends with the escape character \\ (it escapes the "
                          "character after it); write a literal backslash as \\\\")


def sql_string(name: str) -> str:
    """A property name as an SQL string literal. Names reach here only after being matched
    against the layer schema; quoting them (standard_conforming_strings, on since PostgreSQL 9.1)
    rather than binding them lets one expression appear twice (a type guard and the comparison)
    and lets the planner match expression indexes."""
    if "\x00" in name:
        raise FilterError("property names cannot contain NUL")
    # `%` doubled: the SQL goes through the driver's %s parameter substitution.
    return "'" + name.replace("'", "''").replace("%", "%%") + "'"


def _as_date(value, name: str) -> str:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC)
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise FilterError(f"{name!r} is a date; compare it with DATE('YYYY-MM-DD') or a TIMESTAMP "
                      f"(got {_described_value(value)})")


def _described(ftype: str) -> str:
    return {"integer": "an integer", "decimal": "a number", "string": "a string",
            "boolean": "a boolean", "date": "a date", "id": "the integer feature id",
            "geometry": "the geometry"}.get(ftype, ftype)


def _described_value(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, datetime.datetime):
        return "a timestamp"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, values.Interval):
        return "an interval"
    if isinstance(value, values.Geometry | values.Envelope):
        return "a geometry"
    return type(value).__name__


def to_sql(node, fields: dict[str, str], filter_crs: crsmod.Crs = crsmod.DEFAULT,
           slug: str = "") -> tuple[str, list]:
    return Translator(fields, filter_crs, slug).translate(node)
