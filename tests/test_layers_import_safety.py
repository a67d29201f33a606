"""An import reads the uploaded file and nothing else: no server file, no URL, whatever the
upload holds. Each attack is a real file an editor could upload: GDAL formats that point at
other files or URLs (an OGR VRT, a GDAL streamed algorithm) disguised as GeoJSON or CSV, a
GeoJSON whose CRS is a link, a CSV whose WKT cells are connection strings, zip bombs and zips
with paths leaving their folder, files whose content is not what their name says. Every one is
refused precisely (or read without following the reference), leaves the layer as it was, fetches
nothing (a listening socket counts the connections) and shows no server path."""

import json
import socket
import sqlite3
import stat
import tempfile
import threading
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from shapely.geometry import Point

from layers.importing import ImportOptions, run_import
from tests.layers_fixtures import api_client, make_layer, make_user
from tests.test_layers_import import points_file, state, write

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.layers_fixtures"]

# What /etc/os-release (present on every Linux) holds: none of it may reach a report.
SERVER_FILE = "/etc/os-release"
SERVER_FILE_TEXT = ("PRETTY_NAME", "VERSION_ID", "HOME_URL")


@pytest.fixture
def empty(editors):
    return make_layer("import-target", editors, n=0)


@contextmanager
def listening_socket():
    """A TCP port on 127.0.0.1 that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            connections.append(conn.recv(200))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", connections
    finally:
        stop.set()
        thread.join()
        server.close()


def refused(layer, path, opts=None, filename=None):
    before = state(layer)
    report = run_import(layer, path, opts or ImportOptions(dry_run=False), filename=filename)
    assert not report.ok, report.as_dict()
    assert report.written == 0 and report.batch is None
    assert state(layer) == before
    return report


def leaks_nothing(report) -> None:
    text = json.dumps(report.as_dict(), ensure_ascii=False)
    for secret in SERVER_FILE_TEXT:
        assert secret not in text, text
    no_server_path(text)


def no_server_path(text: str) -> None:
    from django.conf import settings

    for path in (tempfile.gettempdir() + "/", str(settings.MEDIA_ROOT), "sdi-upload-",
                 "sdi-import-", str(Path(__file__).resolve().parent.parent)):
        assert path not in text, text


def vrt(source: str, layer: str = "os-release") -> str:
    return (f'<OGRVRTDataSource><OGRVRTLayer name="{layer}"><SrcDataSource>{source}'
            f'</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>')


# --- formats that point elsewhere -------------------------------------------------------------

def test_a_vrt_disguised_as_geojson_does_not_read_a_server_file(empty, tmp_path):
    path = tmp_path / "x.geojson"
    path.write_text(vrt(f"CSV:{SERVER_FILE}"))
    report = refused(empty, path)
    assert report.fatal == "x.geojson is not GeoJSON: it holds XML (GeoJSON is JSON text " \
                           "starting with {)"
    leaks_nothing(report)


def test_a_vrt_pointing_at_a_url_fetches_nothing(empty, tmp_path):
    with listening_socket() as (url, connections):
        for name, source in (("x.geojson", f"GeoJSON:{url}/x.geojson"),
                             ("y.geojson", f"/vsicurl/{url}/y.csv"),
                             ("z.geojson", f"WFS:{url}/wfs")):
            path = tmp_path / name
            path.write_text(vrt(source, "x"))
            leaks_nothing(refused(empty, path))
    assert connections == []


def test_a_vrt_disguised_as_csv_does_not_read_a_server_file(empty, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(vrt(f"CSV:{SERVER_FILE}") + ",lon,lat\n1,20.6,50.8\n")
    report = refused(empty, path)
    leaks_nothing(report)


def test_a_gdal_streamed_algorithm_disguised_as_geojson_reads_nothing(empty, tmp_path):
    secret = tmp_path / "secret" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("name,count\nsecret,PRETTY_NAME of a server file\n")
    path = tmp_path / "alg.geojson"
    path.write_text(json.dumps({
        "type": "gdal_streamed_alg", "relative_paths_relative_to_this_file": False,
        "command_line": f"gdal vector pipeline ! read {secret} ! write --of stream "
                        "streamed_dataset"}))
    # With a CRS chosen, a file read by GDAL's streamed-algorithm driver would get as far as
    # its values (and show the secret one as "expected an integer").
    report = refused(empty, path, ImportOptions(dry_run=True, srid=4326))
    assert report.features == 0 and report.fatal == (
        "GDAL could not read the file as GeoJSON: alg.geojson is not valid GeoJSON")
    leaks_nothing(report)


def test_a_geojson_crs_link_is_not_fetched(empty, tmp_path):
    with listening_socket() as (url, connections):
        path = tmp_path / "link.geojson"
        path.write_text(json.dumps({
            "type": "FeatureCollection",
            "crs": {"type": "link", "properties": {"href": f"{url}/crs.wkt", "type": "ogcwkt"}},
            "features": [{"type": "Feature", "geometry": {"type": "Point",
                                                          "coordinates": [20.61, 50.86]},
                          "properties": {"name": "a"}}]}))
        report = run_import(empty, path, ImportOptions(dry_run=True))
    assert connections == []
    assert report.ok and report.crs == "EPSG:4326", report.as_dict()


def test_csv_wkt_cells_naming_files_or_urls_open_nothing(empty, tmp_path):
    with listening_socket() as (url, connections):
        path = tmp_path / "wkt.csv"
        path.write_text("name,wkt\n"
                        f'a,"CSV:{SERVER_FILE}"\n'
                        f'b,"/vsicurl/{url}/x.csv"\n'
                        f'c,"GeoJSON:{url}/x.geojson"\n'
                        'd,"POINT (20.61 50.86)"\n')
        report = refused(empty, path)
    assert connections == []
    assert [(e.row, e.field, e.reason) for e in report.errors] == [
        (1, "geometry", "no geometry"), (2, "geometry", "no geometry"),
        (3, "geometry", "no geometry")]
    leaks_nothing(report)


def test_an_upload_named_like_a_connection_string_fetches_nothing(layer, tmp_path, users):
    with listening_socket() as (url, connections):
        for name in (f"GeoJSON:{url}/x.geojson", f"/vsicurl/{url}/x.geojson", "../../x.geojson"):
            response = api_client(users["editor"]).post(
                f"/api/layers/{layer.slug}/imports/",
                {"file": SimpleUploadedFile(name, b'{"type": "FeatureCollection", '
                                                  b'"features": []}')}, format="multipart")
            assert response.status_code == 400
            assert response.json()["fatal"] == "the file has no features"
    assert connections == []


# --- content against name ----------------------------------------------------------------------

def test_a_geopackage_renamed_geojson_is_refused(empty, tmp_path):
    gpkg = points_file(tmp_path, "points.gpkg", driver="GPKG")
    path = tmp_path / "points.geojson"
    path.write_bytes(gpkg.read_bytes())
    report = refused(empty, path)
    assert report.fatal == "points.geojson is not GeoJSON: it is a GeoPackage (rename it " \
                           "to .gpkg)"


def test_geojson_renamed_gpkg_is_refused(empty, tmp_path):
    geojson = points_file(tmp_path, "points.geojson")
    path = tmp_path / "points.gpkg"
    path.write_bytes(geojson.read_bytes())
    report = refused(empty, path)
    assert report.fatal == "points.gpkg is not a GeoPackage: it holds JSON text (rename it " \
                           "to .geojson)"


def test_an_sqlite_database_that_is_no_geopackage_is_refused(empty, tmp_path):
    path = tmp_path / "baza.gpkg"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (a)")
    report = refused(empty, path)
    assert report.fatal == "baza.gpkg is an SQLite database but not a GeoPackage (its " \
                           "application_id is not GPKG)"


@pytest.mark.parametrize("name,content,fatal", [
    ("dane.csv", b"PK\x03\x04" + bytes(60), "dane.csv is not CSV: it is a zip archive"),
    ("dane.csv", b"SQLite format 3\x00" + bytes(100), "dane.csv is not CSV: it is an SQLite "
                                                      "database"),
    ("dane.csv", b"name,lon,lat\na,20.6,50.8\x00\x01\n", "dane.csv is not CSV: it holds "
                                                         "binary data (NUL bytes)"),
    ("dane.geojson", b"\x89PNG\r\n\x1a\n" + bytes(40), "dane.geojson is not GeoJSON: it holds "
                                                       "binary data"),
    ("dane.geojson", b"PK\x03\x04" + bytes(60), "dane.geojson is not GeoJSON: it is a zip "
                                                "archive (a zipped Shapefile? name it .zip)"),
    ("dane.zip", b'{"type": "FeatureCollection"}', "dane.zip is not a zip archive: it holds "
                                                   "JSON text (rename it to .geojson)"),
    ("dane.gpkg", b"<OGRVRTDataSource/>", "dane.gpkg is not a GeoPackage: it holds XML"),
])
def test_content_that_does_not_match_the_name_is_refused(empty, tmp_path, name, content,
                                                          fatal):
    path = tmp_path / name
    path.write_bytes(content)
    report = refused(empty, path)
    assert report.fatal == fatal


# --- zips ---------------------------------------------------------------------------------------

def shapefile_parts(tmp_path) -> dict[str, bytes]:
    shp = write(tmp_path / "p.shp", [Point(20.61, 50.86)],
                {"name": np.array(["a"], dtype=object)}, driver="ESRI Shapefile")
    return {f"p{ext}": (tmp_path / f"p{ext}").read_bytes()
            for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg") if shp.with_suffix(ext).exists()}


def make_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression, compresslevel=9) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_a_zip_bomb_is_refused_before_it_is_unpacked(empty, tmp_path):
    members = shapefile_parts(tmp_path)
    members["p.dbf"] = members["p.dbf"][:-1] + b" " * (50 * 2**20)  # 50 MB of padding
    path = make_zip(tmp_path / "bomb.zip", members)
    assert path.stat().st_size < 60 * 1024
    report = refused(empty, path)
    assert report.fatal.startswith("bomb.zip: p.dbf would unpack to 50.0 MB from ")
    assert "compressed more than 200 times" in report.fatal


def test_a_zip_over_the_unpacked_size_or_file_count_is_refused(empty, tmp_path, settings):
    members = shapefile_parts(tmp_path)
    total = sum(map(len, members.values()))
    path = make_zip(tmp_path / "dane.zip", members, zipfile.ZIP_STORED)
    settings.LAYER_IMPORT_ZIP_MAX_BYTES = total - 1
    assert refused(empty, path).fatal == (
        f"dane.zip would unpack to {total} bytes; at most {total - 1} bytes are accepted")
    settings.LAYER_IMPORT_ZIP_MAX_BYTES = total
    settings.LAYER_IMPORT_ZIP_MAX_FILES = len(members) - 1
    assert refused(empty, path).fatal == (
        f"dane.zip holds {len(members)} files and folders; at most {len(members) - 1} "
        "are accepted")
    settings.LAYER_IMPORT_ZIP_MAX_FILES = len(members)
    assert run_import(empty, path, ImportOptions(dry_run=True)).ok


def test_a_zip_listing_a_million_entries_is_refused_before_its_directory_is_read(empty,
                                                                                 tmp_path):
    """zipfile parses the whole central directory into memory: the end record, which says
    how many entries and how many bytes it holds, is judged first."""
    path = make_zip(tmp_path / "spis.zip", shapefile_parts(tmp_path))
    data = bytearray(path.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    data[end + 8:end + 12] = (1_000_000 % 0x10000).to_bytes(2, "little") * 2
    path.write_bytes(bytes(data))
    assert refused(empty, path).fatal == (
        f"spis.zip holds {1_000_000 % 0x10000} files and folders; at most 100 are accepted")
    data[end + 8:end + 12] = (3).to_bytes(2, "little") * 2
    data[end + 12:end + 16] = (50 * 2**20).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert refused(empty, path).fatal == (
        "spis.zip has a table of contents of 50.0 MB, more than 100 files and folders need")


@pytest.mark.parametrize("bad", ["../p.txt", "dane/../../p.txt", "/etc/p.txt", "..\\..\\p.txt",
                                 "C:/p.txt"])
def test_a_zip_with_paths_leaving_its_folder_is_refused(empty, tmp_path, bad):
    members = {**shapefile_parts(tmp_path), bad: b"x"}
    report = refused(empty, make_zip(tmp_path / "dane.zip", members))
    assert report.fatal == f"dane.zip holds an unsafe path ({bad!r}): absolute paths and .. " \
                           "are refused"


def test_a_zip_with_a_symlink_is_refused(empty, tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in shapefile_parts(tmp_path).items():
            z.writestr(name, data)
        info = zipfile.ZipInfo("p.txt")
        info.create_system = 3  # Unix, whose mode bits carry the file type
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, SERVER_FILE)
    report = refused(empty, path)
    assert report.fatal == "link.zip holds a symbolic link (p.txt): links are refused"


def test_only_the_shapefiles_own_parts_are_unpacked(empty, tmp_path):
    """A VRT, a .qix or a second .prj beside the .shp are never given to GDAL."""
    members = {**shapefile_parts(tmp_path), "p.vrt": vrt(f"CSV:{SERVER_FILE}").encode(),
               "p.shp.xml": b"<metadata/>", "inne/p.prj": b"garbage"}
    report = run_import(empty, make_zip(tmp_path / "dane.zip", members),
                        ImportOptions(dry_run=True))
    assert report.ok and report.features == 1, report.as_dict()
    leaks_nothing(report)


# --- messages -----------------------------------------------------------------------------------

BROKEN = [("smieci.geojson", b"{ not json"), ("zly.gpkg", b"SQLite format 3\x00" + bytes(200)),
          ("zly.zip", b"PK\x03\x04 broken")]


@pytest.mark.parametrize("name,content", BROKEN)
def test_rest_import_errors_name_the_upload_and_no_server_path(layer, users, name, content):
    response = api_client(users["editor"]).post(
        f"/api/layers/{layer.slug}/imports/", {"file": SimpleUploadedFile(name, content)},
        format="multipart")
    assert response.status_code == 400
    assert response.json()["filename"] == name
    no_server_path(response.content.decode())


@pytest.mark.parametrize("name,content", BROKEN)
def test_admin_import_errors_name_the_upload_and_no_server_path(layer, editors, name, content):
    client = Client()
    client.force_login(make_user("gis-editor", staff=True, groups=[editors]))
    response = client.post(f"/admin/layers/layer/{layer.pk}/import/", {
        "file": SimpleUploadedFile(name, content), "invalid": "reject", "mode": "append"})
    assert response.status_code == 400
    assert response.context["report"].fatal
    no_server_path(response.content.decode())


# --- the city loader ----------------------------------------------------------------------------

def test_the_city_loader_reads_its_files_as_uploads_are_read(tmp_path):
    from layers.city import CityLoadError, read_files

    disguised = tmp_path / "warstwa.geojson"
    disguised.write_text(vrt(f"CSV:{SERVER_FILE}"))
    with pytest.raises(CityLoadError) as refusal:
        read_files([{"slug": "w", "sources": [{"file": disguised.name}]}], tmp_path)
    assert str(refusal.value) == "warstwa.geojson is not GeoJSON: it holds XML (GeoJSON is " \
                                 "JSON text starting with {)"
    with listening_socket() as (url, connections):
        linked = tmp_path / "link.geojson"
        linked.write_text(json.dumps({
            "type": "FeatureCollection",
            "crs": {"type": "link", "properties": {"href": f"{url}/crs.wkt", "type": "ogcwkt"}},
            "features": [{"type": "Feature", "geometry": {"type": "Point",
                                                          "coordinates": [20.61, 50.86]},
                          "properties": {"name": "a"}}]}))
        csv = tmp_path / "punkty.csv"
        csv.write_text("name,x,y\nb,20.62,50.87\n")
        read = read_files([
            {"slug": "a", "sources": [{"file": linked.name}]},
            {"slug": "b", "sources": [{"file": csv.name, "srs": "EPSG:4326",
                                       "csv": {"x": "x", "y": "y"}}]}], tmp_path)
        reads = [f.source for f in read["a"] + read["b"]]
    assert connections == []
    assert [(r.names, r.columns) for r in reads] == [(["name"], [["a"]]), (["name"], [["b"]])]
    assert [r.srid for r in reads] == [4326, 4326]


# --- the reader itself --------------------------------------------------------------------------

@pytest.mark.parametrize("driver", ["GeoJSON", "GPKG", "CSV", "ESRI Shapefile"])
def test_the_reader_knows_exactly_one_gdal_driver(tmp_path, driver):
    from layers.importing import gdal_sandbox

    assert gdal_sandbox.registered_drivers(driver) == [driver]


def test_the_reader_refuses_a_vrt_even_when_asked_to_read_it(tmp_path):
    """Below the content checks: GDAL itself is given no driver but the one asked for."""
    from layers.importing import gdal_sandbox

    path = tmp_path / "data.geojson"
    path.write_text(vrt(f"CSV:{SERVER_FILE}"))
    with pytest.raises(gdal_sandbox.ReadError) as refusal:
        gdal_sandbox.read_vector(path, "GeoJSON")
    for secret in SERVER_FILE_TEXT:
        assert secret not in str(refusal.value)


def test_a_read_that_takes_too_long_is_stopped(empty, tmp_path, settings):
    from layers.importing import gdal_sandbox

    gdal_sandbox.vector_drivers()  # known before the clock is set to nothing
    settings.LAYER_IMPORT_READ_TIMEOUT = 0
    report = refused(empty, points_file(tmp_path))
    assert report.fatal == ("GDAL could not read the file as GeoJSON: reading the file took "
                            "longer than 0 s and was stopped")
