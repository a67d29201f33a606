"""The one CSV writer of every download (layers, indicator values, area profiles, compare), in
two forms:

- plain (the default): RFC 4180, UTF-8 without a byte-order mark, `,` between fields, `.` in
  decimals, CRLF after each line: what scripts, GDAL and most software read;
- excel (`?excel=1`): what Excel set to Polish opens with a double click and reads right:
  UTF-8 *with* a byte-order mark (or it guesses cp1250 and garbles the Polish letters), `;`
  between fields (Polish Excel's list separator, as `,` is its decimal mark) and a decimal
  comma, CRLF. Text is never altered: a WKT geometry keeps its decimal points.

Which cells are numbers: floats and Decimals, and text in the columns a caller names as numeric
(layer properties of decimal type arrive as text from PostGIS). Integers look the same in both.
"""

import io
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.http import HttpResponse

from layers import csv_safety

CONTENT_TYPE = "text/csv; charset=utf-8"
EXCEL_PARAM = "excel"
_ON, _OFF = ("1", "true"), ("0", "false", "")
_DECIMAL_TEXT = re.compile(r"-?\d+\.\d+")


@dataclass(frozen=True)
class Form:
    name: str
    delimiter: str
    decimal: str
    bom: str
    suffix: str  # of the file name: the two forms must not overwrite each other in Downloads/


PLAIN = Form("plain", ",", ".", "", "")
EXCEL = Form("excel", ";", ",", "\ufeff", "-excel")


class FormError(ValueError):
    pass


def form_of(query: Mapping) -> Form:
    """The form a request asks for with `?excel=`: 1/true → Excel's, 0/false/empty/absent →
    plain; anything else is refused (FormError naming the value) rather than guessed."""
    given = query.getlist(EXCEL_PARAM) if hasattr(query, "getlist") \
        else [query.get(EXCEL_PARAM, "")]
    wanted = set()
    for value in given:
        word = value.strip().lower()
        if word not in _ON + _OFF:
            raise FormError(f"{EXCEL_PARAM}: expected 1 (the form for Excel: semicolons, "
                            f"decimal commas) or 0 (plain CSV), got {value!r}")
        wanted.add(word in _ON)
    if len(wanted) > 1:
        raise FormError(f"{EXCEL_PARAM}: given twice with different values")
    return EXCEL if True in wanted else PLAIN


def filename(base: str, form: Form) -> str:
    return f"{base}{form.suffix}.csv"


def _number(value, form: Form) -> str:
    # Positional notation (1e-05 → 0.00001): Excel would read an exponent with a comma as text.
    text = format(Decimal(repr(value)) if isinstance(value, float) else value, "f")
    return text.replace(".", form.decimal)


def cells(row: Sequence, form: Form, numeric: frozenset[int] = frozenset()) -> list:
    """A row's cells in `form`. The plain form writes values as they are."""
    if form is PLAIN:
        return list(row)
    out = []
    for i, value in enumerate(row):
        if isinstance(value, float | Decimal) and math.isfinite(value):
            value = _number(value, form)
        elif i in numeric and isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
            value = value.replace(".", form.decimal)
        out.append(value)
    return out


def lines(header: Sequence[str], batches: Iterable[Iterable[Sequence]], form: Form,
          numeric: Iterable[int] = ()) -> Iterator[str]:
    """The header, then the rows of each batch, as text: one string per batch, so a download
    streamed from a server-side cursor stays flat in memory."""
    numeric = frozenset(numeric)
    buf = io.StringIO()
    # csv_safety neutralises formula-like text cells (CSV injection) in both forms.
    writer = csv_safety.writer(buf, delimiter=form.delimiter, lineterminator="\r\n")
    buf.write(form.bom)
    writer.writerow(header)
    for batch in batches:
        writer.writerows(cells(row, form, numeric) for row in batch)
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def response(base_name: str, header: Sequence[str], rows: Iterable[Sequence], form: Form,
             numeric: Iterable[int] = ()) -> HttpResponse:
    """A whole (small) table as an attachment named `<base_name>[-excel].csv`."""
    out = HttpResponse("".join(lines(header, [rows], form, numeric)), content_type=CONTENT_TYPE)
    out["Content-Disposition"] = f'attachment; filename="{filename(base_name, form)}"'
    return out


def error(exc: FormError) -> HttpResponse:
    return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
