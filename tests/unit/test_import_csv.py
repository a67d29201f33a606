"""CSV text before GDAL sees it (layers.importing.csv_reader, .source): the encoding, rows of
the wrong length, the coordinate columns and the points read from them."""

import struct

import pytest

from layers.importing.csv_reader import (
    _check_row_lengths,
    _coordinate_columns,
    _decode,
    points_from_columns,
)
from layers.importing.options import ImportError_, ImportOptions
from layers.importing.report import ImportReport
from layers.importing.source import Source, detect_encoding


def report() -> ImportReport:
    return ImportReport(filename="f.csv", layer="l", dry_run=True, mode="append")


def test_utf8_cp1250_and_a_mix_of_both():
    assert detect_encoding([b"name", "Łódź".encode()]) == "utf-8"
    assert detect_encoding([b"name", "Łódź".encode("cp1250")]) == "cp1250"
    assert detect_encoding([b"plain", b"ascii"]) == "utf-8"
    with pytest.raises(ImportError_) as refusal:
        detect_encoding([b"name", "Łódź".encode(), "Kraków".encode("cp1250")])
    assert refusal.value.errors == [
        "mixed text encodings: line(s) 2 are UTF-8 but line(s) 3 are not (CP1250?); save the "
        "whole file in one encoding (UTF-8 preferred)"]


def test_a_chosen_encoding_that_does_not_fit_names_the_line():
    assert _decode("\ufeffa\nŁ".encode(), None) == ("a\nŁ", "utf-8")
    with pytest.raises(ImportError_) as refusal:
        _decode(b"a\nb\n\xff\n", "utf-8")
    assert refusal.value.errors == [
        "the file is not valid utf-8 (line 3); choose another encoding"]


def test_rows_of_the_wrong_length_are_row_errors():
    r = report()
    _check_row_lengths('a,b,c\n1,2,3\n\n4,5\n"6,5",7,8\n9,10,11,12\n', ",", r)
    assert [(e.row, e.value, e.reason) for e in r.errors] == [
        (2, "4,5", "2 values for 3 columns"),
        (4, "9,10,11,12", "4 values for 3 columns (decimal commas in a comma-separated file? "
                          "quote such values, or separate the fields with ';')")]
    r = report()
    _check_row_lengths("a;b\n1;2;3\n", ";", r)
    assert [e.reason for e in r.errors] == ["3 values for 2 columns"]


@pytest.mark.parametrize("header,options,expected,notes", [
    (["name", "lon", "lat"], ImportOptions(), ("lon", "lat", None, 4326),
     ["columns lon/lat read as longitude/latitude (EPSG:4326)",
      "coordinates from columns lon (X) and lat (Y)"]),
    # The city's budget CSVs carry both: a projected CRS chosen means X/Y.
    (["NAZWA", "LAT", "LNG", "X", "Y"], ImportOptions(srid=2178), ("X", "Y", None, 2178),
     ["coordinates from columns X (X) and Y (Y)"]),
    (["NAZWA", "LAT", "LNG", "X", "Y"], ImportOptions(), ("LNG", "LAT", None, 4326),
     ["columns LNG/LAT read as longitude/latitude (EPSG:4326)",
      "coordinates from columns LNG (X) and LAT (Y)"]),
    (["a", "E", "N"], ImportOptions(x="E", y="N", srid=2180), ("E", "N", None, 2180),
     ["coordinates from columns E (X) and N (Y)"]),
    (["name", "WKT"], ImportOptions(), (None, None, "WKT", 4326),
     ["WKT in column WKT read as EPSG:4326 (choose a CRS if not)"]),
    (["name", "geom"], ImportOptions(srid=2178), (None, None, "geom", 2178), []),
])
def test_the_coordinate_columns(header, options, expected, notes):
    r = report()
    assert _coordinate_columns(header, options, r) == expected
    assert r.notes == notes


@pytest.mark.parametrize("header,options,error", [
    (["name", "X", "Y"], ImportOptions(), "choose the CRS of the coordinates in columns X/Y "
     "(e.g. EPSG:2178 for PL-2000 zone 7, EPSG:2180 for PUWG 1992)"),
    (["name", "count"], ImportOptions(), "no coordinate columns found among name, count: name "
     "the X and Y (or lon/lat) columns, or give a WKT column"),
    (["name", "a"], ImportOptions(x="a", y="b", srid=4326),
     "no column b in the CSV; its columns are name, a"),
])
def test_missing_coordinate_columns_or_crs(header, options, error):
    with pytest.raises(ImportError_) as refusal:
        _coordinate_columns(header, options, report())
    assert refusal.value.errors == [error]


def test_points_from_text_columns_and_every_bad_coordinate_named():
    source = Source(format="CSV", srid=4326, detected_crs=None, names=["n", "X", "Y"],
                    types=["string"] * 3, columns=[["a", "b", "c"], ["20,63", "abc", "20,5"],
                                                  ["50,87", "50,9", "1.234,5"]],
                    wkb=[None] * 3, text_columns=True)
    r = report()
    points_from_columns(source, "X", "Y", r)
    assert source.wkb[0] == struct.pack("<BIdd", 1, 1, 20.63, 50.87)
    assert source.wkb[1:] == [None, None]
    assert source.bad_coordinates == {2, 3}
    assert (source.names, source.columns) == (["n"], [["a", "b", "c"]])
    assert [(e.row, e.field, e.value) for e in r.errors] == [(2, "X", "abc"),
                                                             (3, "Y", "1.234,5")]
