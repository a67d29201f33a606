"""What the import form and API ask (layers.importing.options): every option read, every wrong
one named, all of them at once."""

import pytest

from layers.importing.options import ImportError_, ImportOptions, parse_crs


def test_defaults_are_a_dry_run_appending_and_rejecting_invalid_geometries():
    options = ImportOptions.from_form({})
    assert (options.dry_run, options.mode, options.invalid, options.add_fields) == (
        True, "append", "reject", False)
    assert (options.srid, options.x, options.y, options.encoding, options.mapping,
            options.source_layer) == (None, None, None, None, {}, None)


def test_every_option_is_read():
    options = ImportOptions.from_form({
        "dry_run": "false", "add_fields": "on", "mode": "replace", "invalid": "repair",
        "crs": "urn:ogc:def:crs:EPSG::2178", "x": " X ", "y": "Y", "encoding": "cp1250",
        "layer": " punkty ", "mapping": '{"NAZWA": "name", "uwagi": ""}'})
    assert options == ImportOptions(
        dry_run=False, mode="replace", srid=2178, x="X", y="Y", encoding="cp1250",
        invalid="repair", mapping={"NAZWA": "name", "uwagi": ""}, add_fields=True,
        source_layer="punkty")


def test_a_mapping_may_come_as_a_dict():
    assert ImportOptions.from_form({"mapping": {"a": "b"}}).mapping == {"a": "b"}


def test_every_wrong_option_is_named_at_once():
    with pytest.raises(ImportError_) as refusal:
        ImportOptions.from_form({
            "dry_run": "maybe", "mode": "merge", "invalid": "ignore", "crs": "WGS84",
            "x": "X", "encoding": "klingon", "mapping": "[1, 2]"})
    assert refusal.value.errors == [
        "dry_run: expected true or false, got 'maybe'",
        "mode: expected append or replace, got 'merge'",
        "invalid: expected repair or reject, got 'ignore'",
        "crs: expected an EPSG code such as EPSG:2178, got 'WGS84'",
        "x, y: name both coordinate columns, or neither",
        "encoding: unknown encoding 'klingon'",
        'mapping: expected a JSON object {"file field": "layer field"}',
    ]


@pytest.mark.parametrize("mapping", ["{not json", '{"a": 1}', '"a"'])
def test_a_mapping_must_be_an_object_of_names(mapping):
    with pytest.raises(ImportError_, match="mapping: expected a JSON object"):
        ImportOptions.from_form({"mapping": mapping})


@pytest.mark.parametrize("text,code", [
    ("EPSG:2178", 2178), ("epsg:2180", 2180), ("4326", 4326), ("EPSG::2178", 2178),
    ("urn:ogc:def:crs:EPSG::3857", 3857), (" 2177 ", 2177), (2178, 2178)])
def test_crs_codes(text, code):
    assert parse_crs(text) == code


@pytest.mark.parametrize("text,message", [
    ("EPSG:99999", "crs: EPSG:99999 is not a known CRS"),
    ("EPSG:21", "crs: expected an EPSG code such as EPSG:2178, got 'EPSG:21'"),
    ("ESRI:102100", "crs: expected an EPSG code such as EPSG:2178, got 'ESRI:102100'"),
    ("2178; DROP TABLE", "crs: expected an EPSG code such as EPSG:2178, got '2178; DROP TABLE'"),
])
def test_bad_crs_codes(text, message):
    with pytest.raises(ImportError_) as refusal:
        parse_crs(text)
    assert refusal.value.errors == [message]
