"""Imported indicator values: a CSV of (area code, period, value, source) rows, for statistics
that come from outside (population from the national statistics office, counts reported by a
city department…).

The file has a header with the columns `area_code, period, value, source` (any order; other
columns are refused so that a misspelt one cannot be silently ignored), UTF-8 (a BOM is fine),
comma- or semicolon-separated. Rows are numbered as a spreadsheet shows them: the header is
row 1. `area_code` is matched against a property of the areas layer's features (the layer's
code field from the city's indicators.yaml, else its name field). A value may use a decimal
comma and spaces as thousands separators ("1 234,5").

Every row is checked before anything is written; any problem rejects the whole file with a list
of {row, field, value, reason}. Otherwise the values are written in one transaction (a row for
an existing (area, period, source) replaces it), per-resident indicators that read these values
are marked stale, and the sources are compared for discrepancies.
"""

import csv
import io
import math
import re
from dataclasses import dataclass, field

from django.db import transaction

from indicators import discrepancies, methods, stale
from indicators.models import Indicator, IndicatorValue
from layers.models import Feature, Layer

COLUMNS = ("area_code", "period", "value", "source")
MAX_ROWS = 100_000
MAX_BYTES = 10 * 1024 * 1024
NUMBER_RE = re.compile(r"^[-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?$")


@dataclass
class RowError:
    row: int
    field: str
    value: str
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "value": self.value, "reason": self.reason}


class CSVImportError(ValueError):
    def __init__(self, errors: list[RowError]):
        super().__init__("; ".join(f"row {e.row} {e.field}: {e.reason}" for e in errors[:10]))
        self.errors = errors


@dataclass
class ImportResult:
    created: int = 0
    replaced: int = 0
    periods: list[str] = field(default_factory=list)
    discrepancies: int = 0

    def as_dict(self) -> dict:
        return {"created": self.created, "replaced": self.replaced, "periods": self.periods,
                "open_discrepancies": self.discrepancies}


def parse_number(text: str) -> float | None:
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if not NUMBER_RE.match(cleaned):
        return None
    value = float(cleaned.replace(",", "."))
    return value if math.isfinite(value) else None


def code_field_for(areas: Layer) -> str:
    from indicators.definitions import area_code_fields
    return area_code_fields().get(areas.slug) or areas.name_field


def _decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise CSVImportError([RowError(0, "file", "", f"larger than {MAX_BYTES // 2**20} MiB")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CSVImportError([RowError(0, "file", "", f"not UTF-8 (byte {exc.start})")]) from None


def _reader(text: str) -> csv.DictReader:
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)


def validate_rows(indicator: Indicator, areas: Layer, data: bytes, code_field: str
                  ) -> list[tuple[int, int, str, float, str]]:
    """The rows as (row number, area id, period, value, source), or CSVImportError listing every
    problem."""
    reader = _reader(_decode(data))
    header = [h.strip() for h in (reader.fieldnames or [])]
    errors: list[RowError] = []
    missing = [c for c in COLUMNS if c not in header]
    extra = [h for h in header if h not in COLUMNS]
    if missing:
        errors.append(RowError(1, "header", ",".join(header),
                               f"missing column(s): {', '.join(missing)}"))
    if extra:
        errors.append(RowError(1, "header", ",".join(extra),
                               f"unknown column(s); expected {', '.join(COLUMNS)}"))
    if errors:
        raise CSVImportError(errors)
    reader.fieldnames = header

    codes: dict[str, list[int]] = {}
    for fid, props in Feature.objects.filter(layer=areas).values_list("id", "properties"):
        code = props.get(code_field)
        if code is not None:
            codes.setdefault(str(code).strip(), []).append(fid)
    kind = indicator.method.get("kind")
    lo, hi = indicator.method.get("min"), indicator.method.get("max")
    rows, seen = [], {}
    for n, raw in enumerate(reader, start=2):
        if n - 1 > MAX_ROWS:
            errors.append(RowError(n, "file", "", f"more than {MAX_ROWS} rows"))
            break
        if None in raw:  # more cells than header columns
            errors.append(RowError(n, "row", ",".join(raw[None]), "more cells than columns"))
            continue
        cells = {c: (raw.get(c) or "").strip() for c in COLUMNS}
        if not any(cells.values()):
            continue  # a blank line
        row_errors = []
        area_ids = codes.get(cells["area_code"], [])
        if not cells["area_code"]:
            row_errors.append(RowError(n, "area_code", "", "required"))
        elif not area_ids:
            row_errors.append(RowError(n, "area_code", cells["area_code"],
                                       f"no area with {code_field} = {cells['area_code']!r} "
                                       f"in layer {areas.slug}"))
        elif len(area_ids) > 1:
            row_errors.append(RowError(n, "area_code", cells["area_code"],
                                       f"{len(area_ids)} areas of {areas.slug} have this code"))
        if not cells["period"]:
            row_errors.append(RowError(n, "period", "", "required"))
        elif not methods.PERIOD_RE.match(cells["period"]):
            row_errors.append(RowError(n, "period", cells["period"],
                                       "not a period (e.g. 2021, 2021-Q3, 2021-06)"))
        value = parse_number(cells["value"])
        if not cells["value"]:
            row_errors.append(RowError(n, "value", "", "required"))
        elif value is None:
            row_errors.append(RowError(n, "value", cells["value"], "not a number"))
        elif lo is not None and value < lo:
            row_errors.append(RowError(n, "value", cells["value"], f"below the minimum {lo}"))
        elif hi is not None and value > hi:
            row_errors.append(RowError(n, "value", cells["value"], f"above the maximum {hi}"))
        if not cells["source"]:
            row_errors.append(RowError(n, "source", "", "required: say where the figure "
                                                        "comes from"))
        elif len(cells["source"]) > 300:
            row_errors.append(RowError(n, "source", cells["source"][:40] + "…",
                                       "longer than 300 characters"))
        elif kind != "imported" and cells["source"] == indicator.source:
            row_errors.append(RowError(n, "source", cells["source"],
                                       "this is the computed source of the indicator; an "
                                       "imported figure needs its own source name"))
        if not row_errors:
            key = (area_ids[0], cells["period"], cells["source"])
            if key in seen:
                row_errors.append(RowError(n, "area_code", cells["area_code"],
                                           f"same area, period and source as row {seen[key]}"))
            seen[key] = n
        errors += row_errors
        if not row_errors:
            rows.append((n, area_ids[0], cells["period"], value, cells["source"]))
    if errors:
        raise CSVImportError(errors)
    if not rows:
        raise CSVImportError([RowError(2, "file", "", "no data rows")])
    return rows


@transaction.atomic
def import_values(indicator: Indicator, areas: Layer, data: bytes, *, code_field: str = "",
                  user=None) -> ImportResult:
    from indicators.computing import layers_for
    if areas not in layers_for(indicator):
        raise CSVImportError([RowError(0, "areas", areas.slug, f"indicator {indicator.code} is "
                                                                "not computed for this layer")])
    code_field = code_field or code_field_for(areas)
    if not code_field:
        raise CSVImportError([RowError(0, "code_field", "", f"layer {areas.slug} has no code "
                                                           "field; name one")])
    rows = validate_rows(indicator, areas, data, code_field)
    result = ImportResult(periods=sorted({r[2] for r in rows}))
    existing = IndicatorValue.objects.filter(indicator=indicator, area__layer=areas)
    keys = {(a, p, s) for _, a, p, _, s in rows}
    replaced = [v.pk for v in existing.only("area_id", "period", "source")
                if (v.area_id, v.period, v.source) in keys]
    IndicatorValue.objects.filter(pk__in=replaced).delete()
    result.replaced = len(replaced)
    # "No data" placeholders of the same area and period are not a second source.
    covered = {(a, p) for _, a, p, _, _ in rows}
    placeholders = [v.pk for v in existing.filter(value__isnull=True)
                    .only("area_id", "period") if (v.area_id, v.period) in covered]
    IndicatorValue.objects.filter(pk__in=placeholders).delete()
    user = user if user is not None and user.is_authenticated else None
    IndicatorValue.objects.bulk_create([
        IndicatorValue(indicator=indicator, area_id=a, period=p, source=s, value=v,
                       status=IndicatorValue.Status.OK, origin=IndicatorValue.Origin.IMPORTED,
                       imported_by=user, note=f"imported from CSV row {n}")
        for n, a, p, v, s in rows])
    result.created = len(rows) - result.replaced
    stale.mark_dependants_of(indicator)
    result.discrepancies = len(discrepancies.detect(indicator))
    return result
