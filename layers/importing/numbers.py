"""Numbers written as text (CSV cells): decimal commas or points, spaces between thousands.

A number with one separator is a decimal one, unless it is followed by exactly three digits:
"1.234" may be 1.234 or 1234 (a thousands separator). The column's other values tell which
separator it writes decimals with; a value that stays ambiguous is a problem to report, never
a guess.
"""

import re
from decimal import Decimal, InvalidOperation

DECIMAL = re.compile(r"[-+]?\d*([.,])\d+")
THOUSANDS_LIKE = re.compile(r"[-+]?\d{1,3}([.,])\d{3}")


def _clean_number(value) -> str:
    return str(value).strip().replace("\u00a0", "").replace(" ", "")


def decimal_separator(values) -> str | None:
    """The decimal separator a text column uses ("," or "."), told by its values that cannot
    be thousands; None when none tells, or when the column uses both."""
    seen = set()
    for value in values:
        text = _clean_number(value) if value is not None else ""
        match = DECIMAL.fullmatch(text)
        if match and not THOUSANDS_LIKE.fullmatch(text):
            seen.add(match.group(1))
    return seen.pop() if len(seen) == 1 else None


def number_problem(value, style: str | None, ftype: str = "decimal") -> str | None:
    """Why a text value is not a clear number (None if it is): both separators, several
    decimal separators, or thousands-like digits where the column's decimals use the other
    separator ("1.234" among "20,5" values) or where an integer is expected."""
    text = _clean_number(value)
    if "," in text and "." in text:
        return "ambiguous number: both ',' and '.' in it (a thousands separator?); write " \
               "e.g. 1234,5 or 1234.5"
    if text.count(",") > 1 or text.count(".") > 1:
        return "not a number: more than one decimal separator"
    match = THOUSANDS_LIKE.fullmatch(text)
    if match and ftype == "integer":
        return f"ambiguous number: {text} may be {text.replace(match.group(1), '')} (with a " \
               "thousands separator) or not a whole number; write it without separators"
    if match and style and match.group(1) != style:
        return f"ambiguous number: this column writes decimals with {style!r}, so {text} may " \
               f"be {text.replace(match.group(1), '')} (with a thousands separator); write it " \
               f"with {style!r}"
    return None


def csv_number(value, style: str | None):
    """(Decimal, None) for a clear number in a CSV text cell, (None, reason) otherwise."""
    if value is None or not str(value).strip():
        return None, "no value"
    problem = number_problem(value, style)
    if problem:
        return None, problem
    try:
        number = Decimal(_clean_number(value).replace(",", "."))
    except InvalidOperation:
        return None, "not a number"
    if not number.is_finite():
        return None, "not a number"
    return number, None
