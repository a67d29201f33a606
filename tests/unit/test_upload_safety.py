"""What an upload must be before GDAL sees it (layers.importing.upload_safety): content that
matches the name, zips judged by their directory, only a Shapefile's own parts unpacked, and
messages without server paths. Files are made in memory; nothing reaches GDAL here."""

import stat
import zipfile

import pytest

from layers.importing.upload_safety import (
    UploadRefused,
    check_content,
    client_name,
    scrub,
    sniff,
    unpack_shapefile,
)

PARTS = {"p.shp": b"shp", "p.shx": b"shx", "p.dbf": b"dbf", "p.prj": b"prj"}
GPKG_HEAD = b"SQLite format 3\x00" + bytes(52) + b"GPKG" + bytes(100)


def make_zip(path, members: dict, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


@pytest.mark.parametrize("head,kind", [
    (GPKG_HEAD, "geopackage"), (b"SQLite format 3\x00" + bytes(100), "sqlite"),
    (b"PK\x03\x04rest", "zip"), (b"PK\x05\x06", "zip"), (b"a\x00b", "binary"),
    (b'\xef\xbb\xbf  {"type": 1}', "json"), (b"\n<OGRVRTDataSource>", "xml"),
    (b"name,lon,lat", "text"), (b"", "text")])
def test_what_the_first_bytes_say(head, kind):
    assert sniff(head) == kind


@pytest.mark.parametrize("name,fmt,content,message", [
    ("x.geojson", "GeoJSON", b"<OGRVRTDataSource/>",
     "x.geojson is not GeoJSON: it holds XML (GeoJSON is JSON text starting with {)"),
    ("x.geojson", "GeoJSON", b"PK\x03\x04", "x.geojson is not GeoJSON: it is a zip archive (a "
                                            "zipped Shapefile? name it .zip)"),
    ("x.geojson", "GeoJSON", GPKG_HEAD,
     "x.geojson is not GeoJSON: it is a GeoPackage (rename it to .gpkg)"),
    ("x.gpkg", "GeoPackage", b'{"type": "FeatureCollection"}',
     "x.gpkg is not a GeoPackage: it holds JSON text (rename it to .geojson)"),
    ("x.gpkg", "GeoPackage", b"SQLite format 3\x00" + bytes(100),
     "x.gpkg is an SQLite database but not a GeoPackage (its application_id is not GPKG)"),
    ("x.gpkg", "GeoPackage", b"plain", "the file is not a GeoPackage (no SQLite header)"),
    ("x.zip", "Shapefile (zip)", b"{}", "x.zip is not a zip archive: it holds JSON text "
                                        "(rename it to .geojson)"),
    ("x.zip", "Shapefile (zip)", b"plain",
     "the file is not a valid zip archive (corrupt or truncated)"),
    ("x.csv", "CSV", b"a,b\x00c", "x.csv is not CSV: it holds binary data (NUL bytes)"),
    ("x.csv", "CSV", b"PK\x03\x04", "x.csv is not CSV: it is a zip archive"),
])
def test_content_that_is_not_what_the_name_says(tmp_path, name, fmt, content, message):
    path = tmp_path / "upload"
    path.write_bytes(content)
    with pytest.raises(UploadRefused) as refusal:
        check_content(path, fmt, name)
    assert str(refusal.value) == message


@pytest.mark.parametrize("name,fmt,content", [
    ("x.geojson", "GeoJSON", b'  {"type": "FeatureCollection"}'), ("x.gpkg", "GeoPackage",
                                                                   GPKG_HEAD),
    ("x.zip", "Shapefile (zip)", b"PK\x03\x04"), ("x.csv", "CSV", b"a;b\n1;2\n"),
    ("x.csv", "CSV", b'{"a": 1}'),  # odd, but text: the CSV reader judges it
])
def test_content_that_is_what_the_name_says(tmp_path, name, fmt, content):
    path = tmp_path / "upload"
    path.write_bytes(content)
    check_content(path, fmt, name)


def test_only_the_shapefiles_own_parts_are_unpacked_under_our_names(tmp_path):
    upload = make_zip(tmp_path / "dane.zip", {
        **{f"dane/{k.upper()}": v for k, v in PARTS.items()}, "dane/p.vrt": b"<x/>",
        "p.shp.xml": b"<m/>", "__MACOSX/dane/._p.shp": b"junk"})
    folder = tmp_path / "out"
    folder.mkdir()
    parts = unpack_shapefile(upload, "dane.zip", folder, as_stem="data3")
    assert sorted(p.name for p in folder.iterdir()) == [
        "data3.dbf", "data3.prj", "data3.shp", "data3.shx"]
    assert (parts.shp, parts.stem, parts.has_prj, parts.has_cpg) == (
        folder / "data3.shp", "P", True, False)
    assert (folder / "data3.dbf").read_bytes() == b"dbf"


@pytest.mark.parametrize("members,layer,message", [
    ({"readme.txt": b"x"}, None, "no .shp file in the zip"),
    ({**PARTS, "q.shp": b"", "q.shx": b"", "q.dbf": b""}, None,
     "the zip holds 2 shapefiles (p, q): choose one"),
    (PARTS, "q", "no .shp file in the zip named q"),
    ({k: v for k, v in PARTS.items() if k != "p.dbf"}, None, "p.dbf is missing from the zip"),
])
def test_a_zip_without_exactly_one_whole_shapefile(tmp_path, members, layer, message):
    with pytest.raises(UploadRefused) as refusal:
        unpack_shapefile(make_zip(tmp_path / "d.zip", members), "d.zip", tmp_path, layer)
    assert str(refusal.value) == message


def test_a_zip_bomb_is_refused_by_its_directory(tmp_path):
    bomb = make_zip(tmp_path / "bomb.zip", {**PARTS, "p.dbf": b" " * (20 * 2**20)})
    with pytest.raises(UploadRefused) as refusal:
        unpack_shapefile(bomb, "bomb.zip", tmp_path)
    assert str(refusal.value).startswith("bomb.zip: p.dbf would unpack to 20.0 MB from ")
    assert str(refusal.value).endswith("(compressed more than 200 times): refused as a zip bomb")
    assert not (tmp_path / "data.shp").exists()


def test_limits_on_size_and_count(tmp_path, settings):
    upload = make_zip(tmp_path / "d.zip", PARTS, zipfile.ZIP_STORED)
    settings.LAYER_IMPORT_ZIP_MAX_BYTES = 11
    with pytest.raises(UploadRefused, match="^d.zip would unpack to 12 bytes; at most 11 bytes "
                                            "are accepted$"):
        unpack_shapefile(upload, "d.zip", tmp_path)
    settings.LAYER_IMPORT_ZIP_MAX_BYTES = 12
    settings.LAYER_IMPORT_ZIP_MAX_FILES = 3
    with pytest.raises(UploadRefused, match="^d.zip holds 4 files and folders; at most 3 are "
                                            "accepted$"):
        unpack_shapefile(upload, "d.zip", tmp_path)


@pytest.mark.parametrize("bad", ["../p.txt", "a/../../p.txt", "/etc/p.txt", "..\\p.txt",
                                 "C:/p.txt"])
def test_paths_leaving_the_folder(tmp_path, bad):
    with pytest.raises(UploadRefused) as refusal:
        unpack_shapefile(make_zip(tmp_path / "d.zip", {**PARTS, bad: b"x"}), "d.zip", tmp_path)
    assert str(refusal.value) == f"d.zip holds an unsafe path ({bad!r}): absolute paths and .. " \
                                 "are refused"


def test_links_and_encrypted_members(tmp_path):
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in PARTS.items():
            z.writestr(name, data)
        link = zipfile.ZipInfo("p.cpg")
        link.create_system, link.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    with pytest.raises(UploadRefused, match=r"^d.zip holds a symbolic link \(p.cpg\)"):
        unpack_shapefile(path, "d.zip", tmp_path)
    data = bytearray(make_zip(path, PARTS).read_bytes())
    directory = data.rindex(b"PK\x01\x02")  # the last central directory entry: p.prj
    data[directory + 8] |= 0x1  # its "encrypted" flag
    path.write_bytes(bytes(data))
    with pytest.raises(UploadRefused, match=r"^d.zip holds an encrypted file \(p.prj\)"):
        unpack_shapefile(path, "d.zip", tmp_path)


def test_an_end_record_declaring_too_many_entries(tmp_path):
    data = bytearray(make_zip(tmp_path / "d.zip", PARTS).read_bytes())
    end = data.rindex(b"PK\x05\x06")
    data[end + 10:end + 12] = (0xFFFF).to_bytes(2, "little")
    (tmp_path / "d.zip").write_bytes(bytes(data))
    with pytest.raises(UploadRefused, match="^d.zip holds 65535 or more files and folders; at "
                                            "most 100 are accepted$"):
        unpack_shapefile(tmp_path / "d.zip", "d.zip", tmp_path)


@pytest.mark.parametrize("name,client", [
    ("C:\\Users\\ala\\dane.csv", "dane.csv"), ("/home/ala/dane.csv", "dane.csv"),
    ("dane.csv", "dane.csv"), ("", "upload"), (None, "upload")])
def test_the_client_name_has_no_folder(name, client):
    assert client_name(name) == client


def test_messages_name_the_upload_not_the_server_file(tmp_path, settings):
    path = tmp_path / "data.geojson"
    message = (f"{path}: not recognized as being in a supported file format; It might help "
               f"to specify the correct driver explicitly by prefixing the file path with "
               f"'<DRIVER>:', e.g. 'CSV:path'.\nSee also {tmp_path}/data.prj and "
               f"{settings.BASE_DIR}/sdi/settings.py")
    assert scrub(message, path, "punkty.geojson") == (
        "punkty.geojson: not recognized as being in a supported file format\nSee also "
        "punkty.geojson and (a server file)")
