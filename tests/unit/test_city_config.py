"""What a city's config asks of its files' import (layers.city), without reading any file:
options per file, columns renamed, dropped and set, declared fields, rows located in files."""

import pytest

from layers.city import CityFile, CityLoadError, _declared_fields, _located, _options, _shape
from layers.importing.report import ImportReport
from layers.importing.source import Source
from layers.models import Layer


def city_file(names, columns, types=None, text=False, constants=None, name="a.csv") -> CityFile:
    source = Source(format="CSV", srid=2178, detected_crs=None, names=list(names),
                    types=list(types or ["string"] * len(names)), columns=columns,
                    wkb=[None] * len(columns[0]), text_columns=text)
    return CityFile(name, source, ImportReport(filename=name, layer="l", dry_run=False,
                                               mode="replace"), constants or {})


def test_a_files_options():
    options = _options({"slug": "l"}, {"file": "a.csv", "srs": "EPSG:2178",
                                       "csv": {"x": "X", "y": "Y"}})
    assert (options.dry_run, options.mode, options.invalid, options.add_fields) == (
        False, "replace", "repair", True)
    assert (options.srid, options.x, options.y) == (2178, "X", "Y")
    assert _options({"slug": "l"}, {"file": "b.geojson"}).srid is None


def test_a_declared_crs_that_is_no_epsg_code_names_the_file():
    with pytest.raises(CityLoadError) as refusal:
        _options({"slug": "l"}, {"file": "a.geojson", "srs": "PL-2000"})
    assert refusal.value.errors == [
        "a.geojson: srs: expected an EPSG code such as EPSG:2178, got 'PL-2000'"]


def test_columns_dropped_renamed_and_set_by_their_names_in_the_file():
    file = city_file(["NAZWA", "LAT", "rok", "N"], [["a"], ["50.8"], ["1999"], ["3"]],
                     text=True, constants={"rok": 2016, "zrodlo": "UM"})
    _shape(file, rename={"NAZWA": "nazwa", "LAT": "nope"}, drop=["LAT"])
    s = file.source
    assert s.names == ["nazwa", "rok", "N", "zrodlo"]
    # A CSV's columns are text, and so are the constants set beside them.
    assert s.columns == [["a"], ["2016"], ["3"], ["UM"]]
    assert s.types == ["string", "integer", "string", "string"]


def test_constants_beside_typed_columns_keep_their_type():
    file = city_file(["n"], [[1, 2]], types=["integer"], text=False,
                     constants={"rok": 2016, "share": 0.5, "ok": True})
    _shape(file, {}, [])
    assert list(zip(file.source.names, file.source.types, file.source.columns,
                    strict=True)) == [
        ("n", "integer", [1, 2]), ("rok", "integer", [2016, 2016]),
        ("share", "decimal", [0.5, 0.5]), ("ok", "boolean", [True, True])]


def test_declared_fields_the_layer_lacks_take_their_columns_type_unless_given():
    files = [city_file(["kod", "glosy"], [["25-314"], ["7"]], text=True)]
    declared = {"glosy": {"required": True}, "kod": {"type": "string", "choices": ["25-314"]},
                "uwagi": {"type": "string"}, "NAZWA": {"type": "integer", "label_en": "Name"}}
    layer = Layer(slug="punkty", schema={"fields": [{"name": "NAZWA", "type": "string"}]})
    fields = _declared_fields(declared, layer, files)
    assert fields == [
        {"name": "glosy", "type": "integer", "required": True},
        {"name": "kod", "type": "string", "required": False, "choices": ["25-314"]},
        {"name": "uwagi", "type": "string", "required": False}]
    # A field the layer has keeps its type; the config's labels reach it.
    assert layer.fields == [{"name": "NAZWA", "type": "string", "label_en": "Name"}]


def test_a_declared_field_that_is_no_column_and_has_no_type_is_a_typo():
    files = [city_file(["kod"], [["25-314"]], text=True)]
    with pytest.raises(CityLoadError, match="'kot' is not an attribute of the files"):
        _declared_fields({"kot": {"label_en": "Code"}}, Layer(slug="punkty"), files)


def test_rows_over_all_files_are_located_in_their_file():
    parts = [(city_file(["a"], [["x"] * 3]).source, []), (city_file(["a"], [["y"] * 2]).source,
                                                          [])]
    assert _located(["a.csv", "b.csv"], parts, [1, 3, 4, 5]) == [
        "a.csv row 1", "a.csv row 3", "b.csv row 1", "b.csv row 2"]
