"""Downloads at /data/<layer>.geojson|.csv|.gpkg: streamed, read back by GDAL, carrying licence
and attribution, conditional on the layer version, and round-tripping through the importer."""

import csv
import io
import json
import subprocess

import pyogrio
import pytest
from django.http import StreamingHttpResponse

from layers.importing import ImportOptions, run_import
from layers.models import Feature, Layer
from tests.layers_fixtures import make_layer

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.layers_fixtures"]


def body(response) -> bytes:
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content)
    return b"".join(response) if hasattr(response, "streaming_content") else response.content


def test_geojson_is_streamed_and_carries_licence_and_attribution(client):
    layer = Layer.objects.get(slug="biblioteki")
    response = client.get("/data/biblioteki.geojson")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/geo+json"
    assert response["Content-Disposition"] == 'attachment; filename="biblioteki.geojson"'
    assert response["Link"].endswith('/data/biblioteki.licence.txt>; rel="license"')
    data = json.loads(body(response))
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 16
    assert data["licence"] == layer.licence and data["attribution"] == layer.attribution
    assert data["synthetic"] is False
    ids = sorted(Feature.objects.filter(layer=layer).values_list("pk", flat=True))
    assert [f["id"] for f in data["features"]] == ids
    first = Feature.objects.get(pk=ids[0])
    assert data["features"][0]["properties"] == first.properties
    assert data["features"][0]["geometry"]["coordinates"] == pytest.approx(first.geom.coords)


def test_csv_has_schema_columns_and_wkt_or_lon_lat(client):
    layer = Layer.objects.get(slug="biblioteki")
    rows = list(csv.reader(io.StringIO(body(client.get("/data/biblioteki.csv")).decode())))
    assert rows[0] == ["id", *layer.field_names(), "wkt"]
    assert len(rows) == 17 and rows[1][-1].startswith("POINT(")
    lonlat = list(csv.DictReader(io.StringIO(body(client.get(
        "/data/biblioteki.csv", {"geometry": "lonlat"})).decode())))
    feature = Feature.objects.get(pk=int(lonlat[0]["id"]))
    assert (float(lonlat[0]["lon"]), float(lonlat[0]["lat"])) == pytest.approx(
        feature.geom.coords, abs=1e-7)


def test_csv_lon_lat_of_polygons_and_unknown_geometry_options_are_400(client):
    response = client.get("/data/okregi-wyborcze.csv", {"geometry": "lonlat"})
    assert response.status_code == 400
    assert "geometry=lonlat is for point layers" in response.content.decode()
    assert client.get("/data/biblioteki.csv", {"geometry": "kml"}).status_code == 400


def test_geopackage_holds_the_features_and_the_licence_in_its_metadata(client, tmp_path):
    layer = Layer.objects.get(slug="okregi-wyborcze")
    response = client.get("/data/okregi-wyborcze.gpkg")
    assert response.status_code == 200
    path = tmp_path / "okregi.gpkg"
    path.write_bytes(body(response))
    info = pyogrio.read_info(path, layer="okregi-wyborcze")
    assert info["features"] == 5 and info["crs"] == "EPSG:4326"
    assert info["layer_metadata"]["LICENCE"] == layer.licence
    assert info["layer_metadata"]["ATTRIBUTION"] == layer.attribution
    assert set(layer.field_names()) <= set(info["fields"])
    # And GDAL's own command-line client agrees, description included.
    out = subprocess.run(["ogrinfo", "-so", str(path), "okregi-wyborcze"], capture_output=True,
                         text=True, check=True).stdout
    assert "Feature Count: 5" in out and layer.attribution in out


def test_downloads_answer_if_none_match_with_304_until_the_layer_changes(client, layer, users):
    from layers import editing

    first = client.get("/data/test-points.geojson")
    tag = first["ETag"]
    assert client.get("/data/test-points.geojson",
                      HTTP_IF_NONE_MATCH=tag).status_code == 304
    feature = Feature.objects.filter(layer=layer).first()
    editing.update_feature(feature.pk, properties={"name": "nowa"}, replace=False)
    again = client.get("/data/test-points.geojson", HTTP_IF_NONE_MATCH=tag)
    assert again.status_code == 200 and again["ETag"] != tag
    assert b'"name": "nowa"' in body(again)


def test_gpkg_is_rebuilt_when_the_layer_changes(client, layer, tmp_path):
    from layers import editing

    one = tmp_path / "a.gpkg"
    one.write_bytes(body(client.get("/data/test-points.gpkg")))
    feature = Feature.objects.filter(layer=layer).first()
    editing.delete_feature(feature.pk)
    two = tmp_path / "b.gpkg"
    two.write_bytes(body(client.get("/data/test-points.gpkg")))
    assert pyogrio.read_info(one)["features"] == 3
    assert pyogrio.read_info(two)["features"] == 2


def test_synthetic_layers_say_so_in_every_download(client, editors):
    fake = make_layer("fake-points", editors)
    Layer.objects.filter(pk=fake.pk).update(synthetic=True)
    assert json.loads(body(client.get("/data/fake-points.geojson")))["synthetic"] is True
    text = client.get("/data/fake-points.licence.txt").content.decode()
    assert text.splitlines()[1].startswith("SYNTHETIC DATA")
    assert client.get("/data/fake-points.csv")["X-Synthetic-Data"] == "true"


def test_unknown_layers_and_formats_are_404(client):
    assert client.get("/data/no-such-layer.geojson").status_code == 404
    assert client.get("/data/biblioteki.shp").status_code == 404
    assert client.post("/data/biblioteki.geojson").status_code == 405


def test_an_empty_layer_downloads_in_every_format(client, editors, tmp_path):
    make_layer("empty-one", editors, n=0)
    assert json.loads(body(client.get("/data/empty-one.geojson")))["features"] == []
    assert body(client.get("/data/empty-one.csv")).decode().startswith("id,name,count")
    path = tmp_path / "e.gpkg"
    path.write_bytes(body(client.get("/data/empty-one.gpkg")))
    assert pyogrio.read_info(path)["features"] == 0


@pytest.mark.parametrize("fmt,opts", [("csv", {"srid": 4326}), ("gpkg", {}), ("geojson", {})])
def test_an_export_imports_back_identically(client, layer, editors, tmp_path, fmt, opts):
    path = tmp_path / f"roundtrip.{fmt}"
    path.write_bytes(body(client.get(f"/data/test-points.{fmt}")))
    copy = make_layer("roundtrip", editors, n=0)
    mapping = {"id": ""} if fmt == "csv" else ({"feature_id": ""} if fmt == "gpkg" else {})
    report = run_import(copy, path, ImportOptions(dry_run=False, mapping=mapping, **opts))
    assert report.ok, report.as_dict()
    def key(qs):
        # Downloads carry 7 decimals of a degree (about 1 cm).
        return sorted((json.dumps(f.properties, sort_keys=True),
                       tuple(round(c, 7) for c in f.geom.coords)) for f in qs)
    assert key(Feature.objects.filter(layer=copy)) == key(Feature.objects.filter(layer=layer))


def test_gdal_reads_the_download_over_http(live_url):
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al",
                          f"{live_url}/data/defibrylatory.geojson"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Feature Count: 30" in out.stdout
