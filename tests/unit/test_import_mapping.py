"""A file's columns onto a layer's schema (layers.importing.mapping): matching by name, explicit
mappings, new fields and their types, and every value converted or reported as (row, field,
value, reason)."""

import pytest

from layers.importing.mapping import build_properties, infer_type, map_fields
from layers.importing.options import ImportError_, ImportOptions
from layers.importing.report import ImportReport
from layers.importing.source import Source

FIELDS = [{"name": "name", "type": "string", "required": True},
          {"name": "count", "type": "integer"},
          {"name": "kind", "type": "string", "choices": ["library", "school"]},
          {"name": "since", "type": "date"}]


def source(columns: dict, types=None, text=False) -> Source:
    n = len(next(iter(columns.values())))
    return Source(format="GeoJSON", srid=4326, detected_crs="EPSG:4326", names=list(columns),
                  types=types or ["string"] * len(columns), columns=list(columns.values()),
                  wkb=[None] * n, text_columns=text)


def report() -> ImportReport:
    return ImportReport(filename="f", layer="l", dry_run=True, mode="append")


def mapped(columns, options=None, types=None, text=False, fields=FIELDS):
    r = report()
    plan, added = map_fields(fields, source(columns, types, text), options or ImportOptions(), r)
    return [(index, f["name"]) for index, f in plan], added, r


def test_columns_match_fields_by_name_and_case_others_are_ignored():
    plan, added, r = mapped({"NAME": ["a"], "count": ["1"], "uwagi": ["x"]})
    assert plan == [(0, "name"), (1, "count")]
    assert added == [] and r.ignored_fields == ["uwagi"]
    assert r.mapping == [{"source": "NAME", "target": "name", "type": "string"},
                         {"source": "count", "target": "count", "type": "integer"}]


def test_an_explicit_mapping_and_a_skipped_column():
    plan, _, r = mapped({"NAZWA": ["a"], "name": ["b"], "LICZBA": [1]},
                        ImportOptions(mapping={"NAZWA": "name", "name": "", "LICZBA": "count"}))
    assert plan == [(0, "name"), (2, "count")]
    assert r.ignored_fields == ["name"]


def test_new_fields_take_the_files_types_or_the_narrowest_type_of_their_text():
    _, added, _ = mapped({"name": ["a"], "n": [1], "d": [2.5]},
                         ImportOptions(add_fields=True), types=["string", "integer", "decimal"])
    assert added == [{"name": "n", "type": "integer", "required": False},
                     {"name": "d", "type": "decimal", "required": False}]
    _, added, _ = mapped({"name": ["a", "b"], "n": ["1", "2"], "d": ["2,5", ""],
                          "day": ["2020-01-31", None], "t": ["1", "x"]},
                         ImportOptions(add_fields=True), text=True)
    assert [(f["name"], f["type"]) for f in added] == [
        ("n", "integer"), ("d", "decimal"), ("day", "date"), ("t", "string")]


@pytest.mark.parametrize("values,ftype", [
    ([], "string"), ([None, ""], "string"), (["1", " 2 "], "integer"), (["1", "2,5"], "decimal"),
    (["2020-01-31"], "date"), (["31.01.2020"], "string"), (["tak", "nie"], "string")])
def test_the_type_of_a_text_column(values, ftype):
    assert infer_type(values) == ftype


@pytest.mark.parametrize("columns,options,errors", [
    ({"count": [1]}, ImportOptions(),
     ["required field 'name' has no column in the file: map one to it"]),
    ({"name": ["a"]}, ImportOptions(mapping={"nope": "name"}),
     ["mapping: no field 'nope' in the file; it has name"]),
    ({"name": ["a"], "x": [1]}, ImportOptions(mapping={"x": "nazwa"}),
     ["mapping: 'x' -> 'nazwa', but the layer has no field 'nazwa'"]),
    ({"name": ["a"], "NAME": ["b"]}, ImportOptions(),
     ["mapping: 'name' and 'NAME' both map to 'name'"]),
])
def test_bad_mappings_are_named(columns, options, errors):
    with pytest.raises(ImportError_) as refusal:
        mapped(columns, options)
    assert refusal.value.errors == errors


def test_new_fields_with_bad_names_are_refused():
    with pytest.raises(ImportError_) as refusal:
        mapped({"name": ["a"], "": [1]}, ImportOptions(add_fields=True))
    assert refusal.value.errors == ["new fields: field 4: a name is required"]


def test_values_are_converted_and_every_bad_one_reported():
    s = source({"name": ["a", None, "c", "d"], "count": ["1", "2", "x", "4"],
                "kind": ["library", "school", "park", None],
                "since": ["31.12.2020", None, "2020-02-30", None]}, text=True)
    r = report()
    rows = build_properties(s, [(i, f) for i, f in enumerate(FIELDS)], r)
    assert rows[0] == {"name": "a", "count": 1, "kind": "library", "since": "2020-12-31"}
    assert rows[3] == {"name": "d", "count": 4}
    assert [(e.row, e.field, e.value, e.reason) for e in r.errors] == [
        (2, "name", None, "required"),
        (3, "count", "x", "expected an integer"),
        (3, "kind", "park", "not one of ['library', 'school']"),
        (3, "since", "2020-02-30", "expected a date YYYY-MM-DD"),
    ]


def test_text_numbers_follow_their_columns_decimal_separator():
    fields = [{"name": "v", "type": "decimal"}, {"name": "n", "type": "integer"}]
    s = source({"v": ["3,5", "1.234", "1 200,5"], "n": ["1 200", "1.500", "7"]}, text=True)
    r = report()
    rows = build_properties(s, [(0, fields[0]), (1, fields[1])], r)
    assert rows == [{"v": 3.5, "n": 1200}, {}, {"v": 1200.5, "n": 7}]
    assert [(e.row, e.field) for e in r.errors] == [(2, "v"), (2, "n")]


def test_values_the_file_types_as_the_schema_does_pass_as_they_are():
    s = source({"count": [3, None]}, types=["integer"])
    assert build_properties(s, [(0, FIELDS[1])], report()) == [{"count": 3}, {}]
