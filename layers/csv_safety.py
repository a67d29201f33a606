"""CSV cells a spreadsheet would run as a formula, neutralised (CSV or formula injection).

Excel, LibreOffice and Google Sheets read a cell starting with `=`, `+`, `-` or `@` as a formula,
and a leading tab or carriage return hides such a start; a downloaded CSV whose text came from
an editor or a resident (a report's title, a layer's attribute) could so run a formula on the
machine of whoever opens it. OWASP's advice is followed: such a text cell gets a leading `'`,
which spreadsheets take as "this is text" and do not show. Numbers are left alone, negative ones
included, and so is text that is a plain number ("-5", "-12.5"): a number runs nothing, and a
CSV whose columns arrive as text (a layer's properties) keeps its negative values readable.

Every CSV writer of the project writes through `writer` or `dict_writer` (or `safe_cell`).
"""

import csv
import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number, as text: "-5", "+3.25", "-12,5", "1e-3". Nothing else may follow it.
PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?")


def safe_cell(value):
    """The value as it may go into a CSV cell."""
    if isinstance(value, str) and value.startswith(FORMULA_START) \
            and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(row) -> list:
    return [safe_cell(value) for value in row]


class _SafeWriter:
    """csv.writer's interface, every row neutralised on its way."""

    def __init__(self, writer):
        self._writer = writer
        self.dialect = writer.dialect

    def writerow(self, row):
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows):
        for row in rows:
            self._writer.writerow(safe_row(row))


def writer(f, **kwargs) -> _SafeWriter:
    """csv.writer(f, **kwargs), neutralising every cell."""
    return _SafeWriter(csv.writer(f, **kwargs))


class dict_writer(csv.DictWriter):  # noqa: N801 - used like csv.DictWriter, a class too
    """csv.DictWriter, neutralising every cell (the header too)."""

    def __init__(self, f, fieldnames, *args, **kwargs):
        super().__init__(f, fieldnames, *args, **kwargs)
        self.writer = _SafeWriter(self.writer)
