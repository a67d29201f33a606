"""Numbers written as text in CSV cells (layers.importing.numbers): decimal commas and points,
spaces between thousands, and every ambiguous or broken number named, never guessed."""

from decimal import Decimal

import pytest

from layers.importing.numbers import csv_number, decimal_separator, number_problem


@pytest.mark.parametrize("values,separator", [
    (["3,5", "-0,25", "7"], ","),
    (["3.5", "12.25", None, ""], "."),
    (["1 200", "7", "12"], None),  # nothing tells
    (["1,234", "2.500"], None),  # three digits after the separator: may be thousands
    (["3,5", "3.5"], None),  # both: the column tells nothing
    (["1,234", "3,5"], ","),  # 3,5 tells; 1,234 is then ambiguous (number_problem)
])
def test_the_decimal_separator_of_a_column(values, separator):
    assert decimal_separator(values) == separator


@pytest.mark.parametrize("value,style,ftype,problem", [
    ("3,5", ",", "decimal", None),
    ("1 200", None, "integer", None),
    ("1\u00a0200,5", ",", "decimal", None),  # a no-break space between thousands
    ("1.234,5", None, "decimal", "ambiguous number: both ',' and '.' in it (a thousands "
                                 "separator?); write e.g. 1234,5 or 1234.5"),
    ("20.6.1", None, "decimal", "not a number: more than one decimal separator"),
    ("1,2,3", ",", "decimal", "not a number: more than one decimal separator"),
    ("1.500", None, "integer", "ambiguous number: 1.500 may be 1500 (with a thousands "
                               "separator) or not a whole number; write it without separators"),
    ("1.234", ",", "decimal", "ambiguous number: this column writes decimals with ',', so "
                              "1.234 may be 1234 (with a thousands separator); write it with "
                              "','"),
    ("1.234", ".", "decimal", None),  # the column writes decimals with '.': 1.234 it is
    ("1.234", None, "decimal", None),  # nothing says otherwise: a decimal point
    ("-1,234", ".", "decimal", "ambiguous number: this column writes decimals with '.', so "
                               "-1,234 may be -1234 (with a thousands separator); write it "
                               "with '.'"),
])
def test_number_problems(value, style, ftype, problem):
    assert number_problem(value, style, ftype) == problem


@pytest.mark.parametrize("value,style,result", [
    ("20,63", ",", (Decimal("20.63"), None)),
    (" 7 473 914,7 ", ",", (Decimal("7473914.7"), None)),
    ("50.87", ".", (Decimal("50.87"), None)),
    ("", None, (None, "no value")),
    ("  ", None, (None, "no value")),
    (None, None, (None, "no value")),
    ("abc", None, (None, "not a number")),
    ("NaN", None, (None, "not a number")),
    ("Infinity", None, (None, "not a number")),
    ("1.234,5", None, (None, "ambiguous number: both ',' and '.' in it (a thousands "
                             "separator?); write e.g. 1234,5 or 1234.5")),
])
def test_csv_numbers(value, style, result):
    assert csv_number(value, style) == result
