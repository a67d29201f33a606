"""OGC API Features Part 4 (create, replace, update, delete) through layers.editing: token auth,
editor groups, CSRF for session callers, schema validation, ETag / If-Match, history."""

import json

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.gis.geos import Point
from django.test import Client
from rest_framework.authtoken.models import Token

from layers.models import Feature, FeatureHistory, Layer

pytestmark = pytest.mark.django_db

SLUG = "biblioteki"
ITEMS = f"/ogc/collections/{SLUG}/items"
GEOJSON = "application/geo+json"


def feature(name="Nowa biblioteka", lon=20.63, lat=50.87, **extra):
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"ID": 999, "NAZWA": name, **extra}}


@pytest.fixture
def editor():
    user = User.objects.create_user("ogc-editor", password="x-very-secret-1")
    group = Group.objects.create(name="ogc-editors")
    user.groups.add(group)
    Layer.objects.get(slug=SLUG).editor_groups.add(group)
    return user


def token_for(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=user).key}"}


@pytest.fixture
def auth(editor):
    return token_for(editor)


def post(client, body, headers, url=ITEMS, content_type=GEOJSON):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=data, content_type=content_type, **headers)


def count():
    return Feature.objects.filter(layer__slug=SLUG).count()


def assert_error(response, status, text=""):
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["code"] and text.lower() in body["description"].lower(), body
    return body


def test_create_read_update_delete_with_history(client, auth, editor):
    layer = Layer.objects.get(slug=SLUG)
    version = layer.version
    response = post(client, feature(), auth)
    assert response.status_code == 201, response.content
    location = response["Location"]
    fid = int(location.rsplit("/", 1)[1])
    assert location == f"http://testserver{ITEMS}/{fid}"
    assert response["ETag"] == f'"{fid}-1"'
    created = Feature.objects.get(pk=fid)
    assert created.properties == {"ID": 999, "NAZWA": "Nowa biblioteka"}
    assert created.geom.coords == pytest.approx((20.63, 50.87))
    layer.refresh_from_db()
    assert layer.version == version + 1

    read = client.get(f"{ITEMS}/{fid}")
    assert read["ETag"] == response["ETag"]

    put = client.put(f"{ITEMS}/{fid}", data=json.dumps(feature("Zmieniona")),
                     content_type=GEOJSON, HTTP_IF_MATCH=read["ETag"], **auth)
    assert put.status_code == 204, put.content
    assert put["ETag"] == f'"{fid}-2"'
    patch = client.patch(f"{ITEMS}/{fid}",
                         data=json.dumps({"properties": {"ULICA": "Sienkiewicza"}}),
                         content_type="application/merge-patch+json", HTTP_IF_MATCH=put["ETag"],
                         **auth)
    assert patch.status_code == 204, patch.content
    assert Feature.objects.get(pk=fid).properties == {"ID": 999, "NAZWA": "Zmieniona",
                                                       "ULICA": "Sienkiewicza"}
    # a merge patch with null removes the property
    removed = client.patch(f"{ITEMS}/{fid}", data=json.dumps({"properties": {"ULICA": None}}),
                           content_type="application/merge-patch+json",
                           HTTP_IF_MATCH=patch["ETag"], **auth)
    assert removed.status_code == 204, removed.content
    assert "ULICA" not in Feature.objects.get(pk=fid).properties

    delete = client.delete(f"{ITEMS}/{fid}", HTTP_IF_MATCH=f'"{fid}-4"', **auth)
    assert delete.status_code == 204, delete.content
    assert client.get(f"{ITEMS}/{fid}").status_code == 404
    history = list(FeatureHistory.objects.filter(feature_id=fid).order_by("version")
                   .values_list("action", "version", "channel", "user"))
    assert history == [("create", 1, "ogc", editor.pk), ("update", 2, "ogc", editor.pk),
                       ("update", 3, "ogc", editor.pk), ("update", 4, "ogc", editor.pk),
                       ("delete", 5, "ogc", editor.pk)]


def test_stale_if_match_is_412_and_changes_nothing(client, auth):
    target = Feature.objects.filter(layer__slug=SLUG).first()
    before = dict(target.properties)
    stale = f'"{target.id}-{target.version - 1 if target.version > 1 else 99}"'
    body = feature("Nie zapisze się")
    response = client.put(f"{ITEMS}/{target.id}", data=json.dumps(body), content_type=GEOJSON,
                          HTTP_IF_MATCH=stale, **auth)
    assert_error(response, 412, "changed since")
    assert response["ETag"] == f'"{target.id}-{target.version}"'
    for wrong in ('"1-1"', "garbage", f'"{target.id}-abc"'):
        assert client.delete(f"{ITEMS}/{target.id}", HTTP_IF_MATCH=wrong,
                             **auth).status_code == 412
    target.refresh_from_db()
    assert target.properties == before


def test_writes_without_if_match_are_428_and_star_matches_any_version(client, auth):
    # As on the REST API: a client that never read the feature cannot overwrite an edit.
    target = Feature.objects.filter(layer__slug=SLUG).first()
    before = (dict(target.properties), target.version)
    url = f"{ITEMS}/{target.id}"
    for response in (
            client.put(url, data=json.dumps(feature("Bez If-Match")), content_type=GEOJSON,
                       **auth),
            client.patch(url, data=json.dumps({"properties": {"NAZWA": "Bez If-Match"}}),
                         content_type="application/merge-patch+json", **auth),
            client.delete(url, **auth)):
        body = assert_error(response, 428, "If-Match is required")
        assert body["code"] == "PreconditionRequired"
        assert "ETag" in body["description"]
    target.refresh_from_db()
    assert (target.properties, target.version) == before
    assert not FeatureHistory.objects.filter(feature_id=target.id, version__gt=before[1])
    star = client.patch(url, data=json.dumps({"properties": {"NAZWA": "Z gwiazdką"}}),
                        content_type="application/merge-patch+json", HTTP_IF_MATCH="*", **auth)
    assert star.status_code == 204, star.content
    assert client.delete(url, HTTP_IF_MATCH="*", **auth).status_code == 204


def test_the_openapi_document_says_if_match_is_required(client):
    document = client.get("/ogc/openapi", {"f": "json"}).json()
    assert document["components"]["parameters"]["If-Match"]["required"] is True
    item = document["paths"][f"/collections/{SLUG}/items/{{featureId}}"]
    for method in ("put", "patch", "delete"):
        assert "428" in item[method]["responses"]


def test_content_crs_epsg_4326_is_lat_lon_and_2180_is_northing_easting(client, auth):
    response = post(client, feature(lon=50.87, lat=20.63), {
        **auth, "HTTP_CONTENT_CRS": "<http://www.opengis.net/def/crs/EPSG/0/4326>"})
    assert response.status_code == 201, response.content
    stored = Feature.objects.get(pk=response["Location"].rsplit("/", 1)[1]).geom
    assert stored.coords == pytest.approx((20.63, 50.87))
    point = Point(20.63, 50.87, srid=4326).transform(2180, clone=True)
    response = post(client, feature(lon=point.y, lat=point.x),  # northing, easting
                    {**auth, "HTTP_CONTENT_CRS": "<http://www.opengis.net/def/crs/EPSG/0/2180>"})
    assert response.status_code == 201, response.content
    stored = Feature.objects.get(pk=response["Location"].rsplit("/", 1)[1]).geom
    assert stored.coords == pytest.approx((20.63, 50.87), abs=1e-7)


@pytest.mark.parametrize("body,text", [
    ("not json", "not JSON"),
    ("[1, 2]", "Feature object"),
    ({"type": "FeatureCollection", "features": []}, "GeoJSON Feature"),
    ({"type": "Feature", "properties": {}}, "geometry"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": "x"}, "properties": {}},
     "geometry"),
    ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]},
      "properties": {}}, "geometry"),
    (feature(lon=1e400), "finite"),
    (feature(ID="abc"), "ID: expected an integer"),
    (feature(nosuch=1), "nosuch: not a field"),
    ({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[20, 50], [21, 51]]},
      "properties": {"NAZWA": "x"}}, "LineString given"),
    (feature(lon=7470000, lat=5630000), "outside"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [20, 50]},
      "properties": "NAZWA"}, "properties must be an object"),
])
def test_invalid_features_are_400_and_nothing_is_written(client, auth, body, text):
    before, history = count(), FeatureHistory.objects.count()
    response = post(client, body, auth)
    assert_error(response, 400, text)
    assert count() == before and FeatureHistory.objects.count() == history


def test_a_50_mb_body_is_refused_before_it_is_read(client, auth):
    before = count()
    response = post(client, b"x" * (50 * 1024 * 1024), auth)
    assert_error(response, 413, "bytes")
    assert count() == before


def test_unknown_content_crs_is_400(client, auth):
    response = post(client, feature(), {**auth, "HTTP_CONTENT_CRS": "<EPSG:1>"})
    assert_error(response, 400, "Content-Crs")


@pytest.mark.parametrize("headers,status,text", [
    ({}, 401, "Token"),
    ({"HTTP_AUTHORIZATION": "Token nope"}, 401, "invalid token"),
    ({"HTTP_AUTHORIZATION": "Bearer abc"}, 401, "Token <key>"),
    ({"HTTP_AUTHORIZATION": "Token a' OR '1'='1"}, 401, ""),
])
def test_unauthenticated_writes_are_401(client, headers, status, text):
    before = count()
    target = Feature.objects.filter(layer__slug=SLUG).first()
    assert_error(post(client, feature(), headers), status, text)
    assert_error(client.delete(f"{ITEMS}/{target.id}", **headers), status)
    assert count() == before


def test_token_of_a_non_editor_and_staff_status_are_403(client):
    staff = User.objects.create_user("ogc-staff", password="x-very-secret-2", is_staff=True)
    response = post(client, feature(), token_for(staff))
    assert_error(response, 403, "editor groups")
    boss = User.objects.create_superuser("ogc-boss", password="x-very-secret-3")
    assert post(client, feature(), token_for(boss)).status_code == 201


def test_editor_of_one_layer_cannot_write_another(client, auth):
    target = Feature.objects.filter(layer__slug="defibrylatory").first()
    response = client.delete(f"/ogc/collections/defibrylatory/items/{target.id}", **auth)
    assert_error(response, 403)
    assert Feature.objects.filter(pk=target.id).exists()
    # nor reach it through the layer they may edit
    response = client.delete(f"{ITEMS}/{target.id}", **auth)
    assert_error(response, 404)
    assert Feature.objects.filter(pk=target.id).exists()


def test_staff_only_layers_do_not_exist_for_writes(client, auth, editor):
    Layer.objects.filter(slug=SLUG).update(visibility="staff")
    assert_error(post(client, feature(), auth), 404)


def test_session_writes_need_csrf_token_writes_do_not(editor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    response = post(client, feature(), {})
    assert_error(response, 403, "CSRF")
    client.get("/admin/login/")  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    response = post(client, feature(), {"HTTP_X_CSRFTOKEN": csrf})
    assert response.status_code == 201, response.content
    token_client = Client(enforce_csrf_checks=True)
    assert post(token_client, feature(), token_for(editor)).status_code == 201


def test_options_lists_the_methods(client):
    response = client.options(ITEMS)
    assert set(response["Allow"].split(", ")) >= {"GET", "POST"}
    target = Feature.objects.filter(layer__slug=SLUG).first()
    response = client.options(f"{ITEMS}/{target.id}")
    assert set(response["Allow"].split(", ")) >= {"GET", "PUT", "PATCH", "DELETE"}
