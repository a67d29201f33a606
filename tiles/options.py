"""What a tile request may ask for besides its address: `?properties=` and `?filter=`.

    ?properties=NAZWA,NR_OKR     keep only these attributes (empty: keep none, geometry and id only)
    ?filter=NR_OKR>=3            keep only features whose attribute compares true; repeat the
    &filter=NAZWA=OKRĘG 1        parameter to combine conditions (all must hold)

Operators: = != < <= > >=. The value is read with the field's declared type (integer, decimal,
boolean, date as YYYY-MM-DD, string), and order comparisons are refused on booleans. A feature
without the attribute never matches. In a composite tile a name applies to every listed layer
that declares it, and must be declared by at least one of them.

The result is normalised (sorted, typed) so that equivalent requests share one cache entry.
"""

import datetime
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from layers.schema import range_problem
from tiles.params import TileRequestError

OPERATORS = ("!=", "<=", ">=", "=", "<", ">")  # two-character operators first
_JSONPATH_OP = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_CLAUSE = re.compile(r"^\s*([^=!<>]+?)\s*(!=|<=|>=|=|<|>)\s*(.*?)\s*$", re.DOTALL)
MAX_FILTERS = 10
MAX_VALUE_LENGTH = 200


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: object  # typed: int, float, bool, str

    def key(self) -> str:
        return f"{self.field}{self.op}{json.dumps(self.value, ensure_ascii=False)}"


@dataclass(frozen=True)
class Options:
    """Validated request options: `keep` None means every attribute."""

    keep: tuple[str, ...] | None = None
    conditions: tuple[Condition, ...] = ()

    def key(self) -> str:
        keep = "*" if self.keep is None else ",".join(self.keep)
        return keep + "|" + "&".join(c.key() for c in self.conditions)

    def query_string(self) -> str:
        """The options as a query string for URL templates (TileJSON)."""
        from urllib.parse import urlencode

        pairs = []
        if self.keep is not None:
            pairs.append(("properties", ",".join(self.keep)))
        for c in self.conditions:
            value = json.dumps(c.value) if isinstance(c.value, bool) else str(c.value)
            pairs.append(("filter", f"{c.field}{c.op}{value}"))
        return urlencode(pairs, safe=",") if pairs else ""


NO_OPTIONS = Options()


def _typed(field: str, ftype: str, op: str, raw: str):
    if len(raw) > MAX_VALUE_LENGTH:
        raise TileRequestError(400, f"filter on {field!r}: value longer than "
                                    f"{MAX_VALUE_LENGTH} characters")
    if ftype == "boolean":
        if op not in ("=", "!="):
            raise TileRequestError(400, f"filter on {field!r}: a boolean field takes = or !=, "
                                        f"not {op}")
        if raw.lower() not in ("true", "false"):
            raise TileRequestError(400, f"filter on {field!r}: expected true or false, "
                                        f"got {raw!r}")
        return raw.lower() == "true"
    if ftype == "integer":
        if not re.fullmatch(r"-?[0-9]{1,18}", raw):
            raise TileRequestError(400, f"filter on {field!r}: expected an integer, got {raw!r}")
        return int(raw)
    if ftype == "decimal":
        try:
            number = Decimal(raw)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise TileRequestError(400, f"filter on {field!r}: expected a number, got {raw!r}")
        problem = range_problem("decimal", number)
        if problem:
            raise TileRequestError(400, f"filter on {field!r}: {raw!r} is {problem}")
        return float(number)
    if ftype == "date":
        try:
            return datetime.date.fromisoformat(raw).isoformat()
        except ValueError:
            raise TileRequestError(400, f"filter on {field!r}: expected a date YYYY-MM-DD, "
                                        f"got {raw!r}") from None
    return raw


def _field_types(layers) -> dict[str, set[str]]:
    types: dict[str, set[str]] = {}
    for layer in layers:
        for f in layer.fields:
            types.setdefault(f["name"], set()).add(f.get("type", "string"))
    return types


def _unknown(name: str, layers, what: str) -> TileRequestError:
    slugs = ", ".join(la.slug for la in layers)
    return TileRequestError(400, f"{what} {name!r} is not a field of {slugs}")


def parse_options(query, layers) -> Options:
    """Options from a QueryDict, checked against the schemas of `layers` (objects with `slug`
    and `fields`)."""
    raw_keep = query.getlist("properties")
    raw_filters = query.getlist("filter")
    if not raw_keep and not raw_filters:
        return NO_OPTIONS
    types = _field_types(layers)

    keep = None
    if raw_keep:
        if len(raw_keep) > 1:
            raise TileRequestError(400, "properties given more than once; list the fields "
                                        "comma-separated in one parameter")
        names = [n.strip() for n in raw_keep[0].split(",") if n.strip()]
        for name in names:
            if name not in types:
                raise _unknown(name, layers, "properties:")
        keep = tuple(sorted(set(names)))

    if len(raw_filters) > MAX_FILTERS:
        raise TileRequestError(400, f"at most {MAX_FILTERS} filter conditions, "
                                    f"got {len(raw_filters)}")
    conditions = []
    for raw in raw_filters:
        match = _CLAUSE.match(raw)
        if not match:
            raise TileRequestError(400, f"filter {raw!r}: expected <field><operator><value> "
                                        f"with an operator among {' '.join(OPERATORS)}")
        name, op, value = match.groups()
        if name not in types:
            raise _unknown(name, layers, "filter:")
        declared = types[name]
        if len(declared) > 1:
            raise TileRequestError(400, f"filter on {name!r}: the layers declare it with "
                                        f"different types ({', '.join(sorted(declared))})")
        conditions.append(Condition(name, op, _typed(name, next(iter(declared)), op, value)))
    conditions.sort(key=Condition.key)
    return Options(keep, tuple(dict.fromkeys(conditions)))


def for_layer(options: Options, field_names: set[str]) -> dict:
    """The part of the options that applies to one layer, as the tile SQL takes it: the
    attributes to keep (None: all) and a jsonpath predicate with its variables (None: no
    filter)."""
    keep = None if options.keep is None else [n for n in options.keep if n in field_names]
    mine = [c for c in options.conditions if c.field in field_names]
    if not mine:
        return {"keep": keep, "filter": None, "vars": None}
    # Field names go into the path as quoted member names; values travel as variables, never
    # as path text.
    parts, variables = [], {}
    for i, c in enumerate(mine):
        member = c.field.replace("\\", "\\\\").replace('"', '\\"')
        # A decimal may be stored as a JSON number or a numeric string (the schema accepts
        # both); .double() reads either.
        number = ".double()" if isinstance(c.value, float) else ""
        parts.append(f'$."{member}"{number} {_JSONPATH_OP[c.op]} $v{i}')
        variables[f"v{i}"] = c.value
    return {"keep": keep, "filter": " && ".join(parts), "vars": variables}
