"""REST API for layers and features: GeoJSON CRUD, filters, pagination, token auth, ETag/If-Match
optimistic locking, precise 400s that change nothing, OpenAPI document."""

import json

import pytest
from django.contrib.gis.geos import Polygon
from drf_spectacular.validation import validate_schema as validate_openapi

from layers.models import Feature, FeatureHistory, Layer
from tests.layers_fixtures import SCHEMA, api_client, make_layer

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.layers_fixtures"]

POINT = {"type": "Point", "coordinates": [20.63, 50.87]}


def feature_body(props=None, geometry=None):
    return {"type": "Feature", "geometry": geometry or POINT,
            "properties": props if props is not None else {"name": "Nowy punkt", "count": 7}}


def url(layer, fid=None):
    base = f"/api/layers/{layer.slug}/features/"
    return base if fid is None else f"{base}{fid}/"


def snapshot(layer):
    return sorted((f.pk, f.version, json.dumps(f.properties, sort_keys=True), f.geom.wkt)
                  for f in Feature.objects.filter(layer=layer))


# --- reading ---------------------------------------------------------------------------------

def test_layer_list_shows_metadata_and_hides_staff_layers_from_non_staff(layer, staff_layer,
                                                                         users):
    slugs = {la["slug"] for la in api_client().get("/api/layers/").json()}
    assert "test-points" in slugs and "biblioteki" in slugs and "test-hidden" not in slugs
    staff_slugs = {la["slug"] for la in api_client(users["staff"]).get("/api/layers/").json()}
    assert "test-hidden" in staff_slugs
    body = api_client().get("/api/layers/test-points/").json()
    assert body["title"] == "Warstwa test-points" and body["licence"] == "CC BY 4.0"
    assert body["schema"] == SCHEMA and body["feature_count"] == 3
    assert body["editor_groups"] == ["test-editors"]
    assert body["links"]["gpkg"].endswith("/data/test-points.gpkg")


def test_features_are_a_geojson_feature_collection_with_pagination(layer):
    response = api_client().get(url(layer), {"page_size": 2})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["count"] == 3
    assert len(body["features"]) == 2 and body["next"]
    first = body["features"][0]
    assert first["type"] == "Feature" and first["geometry"]["type"] == "Point"
    assert first["properties"] == {"name": "Punkt 0", "count": 0, "kind": "library"}
    second_page = api_client().get(body["next"]).json()
    ids = [f["id"] for f in body["features"] + second_page["features"]]
    assert ids == sorted(Feature.objects.filter(layer=layer).values_list("pk", flat=True))


def test_in_bbox_and_property_filters(layer):
    inside = api_client().get(url(layer), {"in_bbox": "20.605,50.8,20.65,50.9"}).json()
    assert [f["properties"]["name"] for f in inside["features"]] == ["Punkt 1", "Punkt 2"]
    by_count = api_client().get(url(layer), {"count": "2"}).json()
    assert [f["properties"]["name"] for f in by_count["features"]] == ["Punkt 2"]
    both = api_client().get(url(layer), {"in_bbox": "20.605,50.8,20.65,50.9",
                                         "name": "Punkt 1", "kind": "library"}).json()
    assert both["count"] == 1


@pytest.mark.parametrize("params,message", [
    ({"colour": "red"}, "unknown filter 'colour'"),
    ({"count": "many"}, "count: expected an integer"),
    ({"in_bbox": "1,2,3"}, "in_bbox: expected min_lon,min_lat,max_lon,max_lat"),
    ({"in_bbox": "5,5,1,1"}, "in_bbox: min must not exceed max"),
    ({"page": "99"}, "Niepoprawna strona"),  # DRF's own message, in the site's Polish
])
def test_bad_filters_are_400_or_404_with_the_reason(layer, params, message):
    response = api_client().get(url(layer), params)
    assert response.status_code in (400, 404)
    assert message in response.json()["detail"]


def test_a_property_named_like_an_sql_keyword_is_just_a_property(editors, users):
    schema = {"fields": [{"name": "select", "type": "string"},
                         {"name": "order; DROP TABLE layers_feature; --", "type": "integer"}]}
    odd = make_layer("sql-words", editors, schema=schema, n=0)
    client = api_client(users["editor"])
    props = {"select": "from", "order; DROP TABLE layers_feature; --": 1}
    created = client.post(url(odd), feature_body(props), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["properties"] == props
    found = api_client().get(url(odd), {"order; DROP TABLE layers_feature; --": "1",
                                        "select": "from"}).json()
    assert found["count"] == 1
    assert Feature.objects.filter(layer__slug="biblioteki").count() == 16  # table intact


def test_feature_has_an_etag_and_answers_if_none_match(layer):
    feature = Feature.objects.filter(layer=layer).first()
    response = api_client().get(url(layer, feature.pk))
    assert response["ETag"] == f'"{feature.pk}-1"'
    assert response.json()["version"] == 1
    again = api_client().get(url(layer, feature.pk), HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_a_feature_of_another_layer_is_404(layer):
    other = Feature.objects.filter(layer__slug="biblioteki").first()
    assert api_client().get(url(layer, other.pk)).status_code == 404


# --- writing ---------------------------------------------------------------------------------

def test_editor_creates_a_feature_with_history_and_a_version_bump(layer, users):
    version = layer.version
    response = api_client(users["editor"]).post(url(layer), feature_body(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["ETag"] == f'"{body["id"]}-1"'
    assert response["Location"].endswith(url(layer, body["id"]))
    assert body["properties"] == {"name": "Nowy punkt", "count": 7}
    entry = FeatureHistory.objects.get(feature_id=body["id"])
    assert (entry.action, entry.channel, entry.user.username) == ("create", "api", "editor")
    assert Layer.objects.get(pk=layer.pk).version == version + 1


def test_update_with_current_if_match_then_stale_if_match_gets_412(layer, users):
    client = api_client(users["editor"])
    feature = Feature.objects.filter(layer=layer).first()
    tag = client.get(url(layer, feature.pk))["ETag"]
    first = client.put(url(layer, feature.pk), feature_body({"name": "A"}), format="json",
                       HTTP_IF_MATCH=tag)
    assert first.status_code == 200 and first["ETag"] == f'"{feature.pk}-2"'
    before = snapshot(layer)
    stale = client.put(url(layer, feature.pk), feature_body({"name": "B"}), format="json",
                       HTTP_IF_MATCH=tag)
    assert stale.status_code == 412
    assert stale.json()["current_etag"] == f'"{feature.pk}-2"'
    assert snapshot(layer) == before


def test_two_editors_never_silently_overwrite_each_other(layer, users, editors):
    from tests.layers_fixtures import make_user

    alice, bob = api_client(users["editor"]), api_client(make_user("bob", groups=[editors]))
    feature = Feature.objects.filter(layer=layer).first()
    tag_a = alice.get(url(layer, feature.pk))["ETag"]
    tag_b = bob.get(url(layer, feature.pk))["ETag"]
    assert alice.patch(url(layer, feature.pk), {"properties": {"count": 100}}, format="json",
                       HTTP_IF_MATCH=tag_a).status_code == 200
    lost = bob.patch(url(layer, feature.pk), {"properties": {"count": 200}}, format="json",
                     HTTP_IF_MATCH=tag_b)
    assert lost.status_code == 412
    feature.refresh_from_db()
    assert feature.properties["count"] == 100 and feature.version == 2
    assert FeatureHistory.objects.filter(feature_id=feature.pk, action="update").count() == 1


def test_writes_without_if_match_are_428_and_star_matches_any_version(layer, users):
    client = api_client(users["editor"])
    feature = Feature.objects.filter(layer=layer).first()
    missing = client.put(url(layer, feature.pk), feature_body({"name": "X"}), format="json")
    assert missing.status_code == 428 and "If-Match" in missing.json()["detail"]
    assert client.delete(url(layer, feature.pk)).status_code == 428
    weak = client.put(url(layer, feature.pk), feature_body({"name": "X"}), format="json",
                      HTTP_IF_MATCH=f'W/"{feature.pk}-1"')
    assert weak.status_code == 412
    star = client.put(url(layer, feature.pk), feature_body({"name": "X"}), format="json",
                      HTTP_IF_MATCH="*")
    assert star.status_code == 200


def test_patch_merges_properties_and_null_removes_one(layer, users):
    client = api_client(users["editor"])
    feature = Feature.objects.filter(layer=layer).first()
    response = client.patch(url(layer, feature.pk), {"properties": {"count": None, "open": True}},
                            format="json", HTTP_IF_MATCH=f'"{feature.pk}-1"')
    assert response.status_code == 200, response.content
    assert response.json()["properties"] == {"name": "Punkt 0", "kind": "library", "open": True}
    assert response.json()["geometry"]["coordinates"] == [20.6, 50.85]


def test_delete_with_if_match_records_history(layer, users):
    client = api_client(users["editor"])
    feature = Feature.objects.filter(layer=layer).first()
    response = client.delete(url(layer, feature.pk), HTTP_IF_MATCH=f'"{feature.pk}-1"')
    assert response.status_code == 204
    assert not Feature.objects.filter(pk=feature.pk).exists()
    entry = FeatureHistory.objects.get(feature_id=feature.pk, action="delete")
    assert entry.before["properties"]["name"] == "Punkt 0" and entry.after is None
    assert client.get(url(layer, feature.pk)).status_code == 404


BOWTIE = {"type": "Polygon", "coordinates": [[[20.6, 50.8], [20.7, 50.9], [20.7, 50.8],
                                              [20.6, 50.9], [20.6, 50.8]]]}


@pytest.mark.parametrize("body,messages", [
    (feature_body({"count": 1}), ["name: required"]),
    (feature_body({"name": "x", "count": "seven"}), ["count: expected an integer"]),
    (feature_body({"name": "x", "kind": "pub"}), ["kind: 'pub' is not one of"]),
    (feature_body({"name": "x", "since": "31/12/2020"}), ["since: expected a date"]),
    (feature_body({"name": "x", "colour": "red"}), ["colour: not a field of this layer"]),
    (feature_body({"name": "x"}, {"type": "LineString",
                                  "coordinates": [[20.6, 50.8], [20.7, 50.9]]}),
     ["LineString given, layer holds Point"]),
    (feature_body({"name": "x"}, {"type": "Point", "coordinates": [7444000.0, 5636000.0]}),
     ["coordinates outside the valid area of EPSG:4326"]),
    (feature_body({"name": "x"}, {"type": "Point", "coordinates": "here"}),
     ["geometry: not a valid GeoJSON geometry"]),
    (feature_body({"name": "x"}, {"type": "Pointy", "coordinates": [1, 2]}),
     ["geometry: not a valid GeoJSON geometry"]),
    ({"type": "FeatureCollection", "features": []}, ["type: expected 'Feature'"]),
    ([1, 2, 3], ["body: a GeoJSON Feature object is required"]),
    ({"type": "Feature", "geometry": None, "properties": {"name": "x"}},
     ["geometry: a GeoJSON geometry object is required"]),
])
def test_bad_features_get_a_precise_400_and_change_nothing(layer, users, body, messages):
    before, version = snapshot(layer), Layer.objects.get(pk=layer.pk).version
    response = api_client(users["editor"]).post(url(layer), body, format="json")
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    for message in messages:
        assert message in detail
    assert snapshot(layer) == before
    assert Layer.objects.get(pk=layer.pk).version == version


def test_self_intersecting_polygon_is_refused_naming_the_reason(editors, users):
    polygons = make_layer("test-areas", editors, geometry_type="Polygon", n=0)
    response = api_client(users["editor"]).post(url(polygons), feature_body({"name": "x"},
                                                                            BOWTIE),
                                                format="json")
    assert response.status_code == 400
    assert "geometry: invalid (Self-intersection" in response.json()["detail"]
    assert not Feature.objects.filter(layer=polygons).exists()


def test_malformed_json_is_a_400(layer, users):
    response = api_client(users["editor"]).generic(
        "POST", url(layer), '{"type": "Feature", "geometry": ', content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]


def test_a_bad_update_changes_nothing(layer, users):
    feature = Feature.objects.filter(layer=layer).first()
    before = snapshot(layer)
    response = api_client(users["editor"]).put(
        url(layer, feature.pk), feature_body({"name": "x", "count": 1.5}), format="json",
        HTTP_IF_MATCH=f'"{feature.pk}-1"')
    assert response.status_code == 400 and "count: expected an integer" in response.json()[
        "detail"]
    assert snapshot(layer) == before


# --- authentication and rights ---------------------------------------------------------------

def test_anonymous_writes_are_401_and_bad_tokens_too(layer):
    assert api_client().post(url(layer), feature_body(), format="json").status_code == 401
    bad = api_client()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.get(url(layer)).status_code == 401
    assert not Feature.objects.filter(layer=layer, properties__name="Nowy punkt").exists()


def test_users_outside_the_editor_groups_get_403(layer, users):
    for role in ("user", "staff"):
        response = api_client(users[role]).post(url(layer), feature_body(), format="json")
        assert response.status_code == 403, role
        assert "editor group" in response.json()["detail"]
    # An editor of test-points is no editor of the Kielce libraries.
    libraries = Layer.objects.get(slug="biblioteki")
    response = api_client(users["editor"]).post(url(libraries), feature_body(), format="json")
    assert response.status_code == 403


def test_session_login_works_for_reading_and_writing_needs_csrf(client, layer, users):
    client.force_login(users["editor"])
    assert client.get(url(layer)).status_code == 200
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(users["editor"])
    response = strict.post(url(layer), json.dumps(feature_body()),
                           content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


# --- layers: create, update, schema, delete --------------------------------------------------

def test_registrar_creates_a_layer_and_editors_cannot(registrar, users):
    body = {"slug": "drzewa", "title": "Drzewa", "geometry_type": "Point",
            "visibility": "public", "licence": "CC0", "attribution": "UM Kielce",
            "schema": {"fields": [{"name": "gatunek", "type": "string", "required": True},
                                  {"name": "obwod_cm", "type": "integer"}]},
            "editor_groups": ["test-editors"]}
    assert api_client(users["editor"]).post("/api/layers/", body,
                                            format="json").status_code == 403
    response = api_client(registrar).post("/api/layers/", body, format="json")
    assert response.status_code == 201, response.content
    layer = Layer.objects.get(slug="drzewa")
    assert layer.title_pl == "Drzewa" and layer.fields[1]["type"] == "integer"
    created = api_client(users["editor"]).post("/api/layers/drzewa/features/",
                                               feature_body({"gatunek": "lipa"}), format="json")
    assert created.status_code == 201


@pytest.mark.parametrize("change,message", [
    ({"schema": {"fields": [{"name": "x", "type": "money"}]}}, "type must be one of"),
    ({"schema": {"fields": [{"name": "x", "type": "string"}, {"name": "x", "type": "date"}]}},
     "declared twice"),
    ({"schema": "fields"}, "expected {"),
    ({"slug": "biblioteki"}, "Istnieje już layer z tą wartością pola slug"),
    ({"slug": "no spaces"}, "slug"),
    ({"geometry_type": "Circle"}, '\\"Circle\\" nie jest poprawnym wyborem'),
    ({"visibility": "secret"}, '\\"secret\\" nie jest poprawnym wyborem'),
    ({"editor_groups": ["no-such-group"]}, "name=no-such-group nie istnieje"),
])
def test_bad_layer_definitions_are_400(registrar, change, message):
    body = {"slug": "nowa", "title": "Nowa", "geometry_type": "Point", **change}
    response = api_client(registrar).post("/api/layers/", body, format="json")
    assert response.status_code == 400
    assert message in json.dumps(response.json(), ensure_ascii=False)
    assert not Layer.all_objects.filter(slug__in=["nowa", "no spaces"]).exists()


def test_editors_change_metadata_but_not_visibility_or_groups(layer, users, registrar):
    client = api_client(users["editor"])
    response = client.patch("/api/layers/test-points/", {"title_en": "Points"}, format="json")
    assert response.status_code == 200 and response.json()["title_en"] == "Points"
    hide = client.patch("/api/layers/test-points/", {"visibility": "staff"}, format="json")
    assert hide.status_code == 403
    assert Layer.objects.get(pk=layer.pk).visibility == "public"
    ok = api_client(registrar).patch("/api/layers/test-points/", {"visibility": "staff"},
                                     format="json")
    assert ok.status_code == 200
    assert api_client().get("/api/layers/test-points/").status_code == 404


def test_registrar_sets_the_tile_settings_and_they_are_read_back(layer, registrar):
    client = api_client(registrar)
    response = client.patch("/api/layers/test-points/", {
        "tile_minzoom": 8, "tile_maxzoom": 16, "tile_feature_limit": 500}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["tile_minzoom"], body["tile_maxzoom"], body["tile_feature_limit"]) == \
        (8, 16, 500)
    stored = Layer.objects.get(pk=layer.pk)
    assert (stored.tile_minzoom, stored.tile_maxzoom, stored.tile_feature_limit) == (8, 16, 500)
    assert client.patch("/api/layers/test-points/", {"tile_feature_limit": None},
                        format="json").json()["tile_feature_limit"] is None
    assert Layer.objects.get(pk=layer.pk).tile_feature_limit is None


def test_editors_without_change_layer_may_not_set_tile_settings(layer, users):
    client = api_client(users["editor"])
    for change in ({"tile_feature_limit": 10}, {"tile_minzoom": 12},
                   {"tile_maxzoom": 14, "title_en": "Points"}):
        response = client.patch("/api/layers/test-points/", change, format="json")
        assert response.status_code == 403, (change, response.content)
        for name in change:
            if name.startswith("tile_"):
                assert name in response.json()["detail"]
    stored = Layer.objects.get(pk=layer.pk)
    assert (stored.tile_minzoom, stored.tile_maxzoom, stored.tile_feature_limit) == (0, 22, None)
    assert stored.title_en == "Layer test-points"
    # Sending back the values read is no change: a GET, edit, PUT round trip works.
    body = client.get("/api/layers/test-points/").json()
    body["title_en"] = "Points"
    response = client.put("/api/layers/test-points/", body, format="json")
    assert response.status_code == 200, response.content
    assert Layer.objects.get(pk=layer.pk).title_en == "Points"


@pytest.mark.parametrize("change,field,message", [
    ({"tile_feature_limitx": 5}, "tile_feature_limitx", "unknown field"),
    ({"colour": "red", "title_en": "x"}, "colour", "unknown field"),
    ({"version": 99}, "version", "read-only"),
    ({"feature_count": 0}, "feature_count", "read-only"),
    ({"links": {}}, "links", "read-only"),
    ({"last_updated": "2020-01-01T00:00:00Z"}, "last_updated", "read-only"),
    ({"tile_feature_limit": "many"}, "tile_feature_limit", "liczb"),
    ({"tile_feature_limit": 0}, "tile_feature_limit", "1"),
    ({"tile_feature_limit": 2.5}, "tile_feature_limit", "liczb"),
    ({"tile_feature_limit": True}, "tile_feature_limit", "liczb"),
    ({"tile_minzoom": -1}, "tile_minzoom", "0"),
    ({"tile_maxzoom": 23}, "tile_maxzoom", "22"),
    ({"tile_maxzoom": [4]}, "tile_maxzoom", "liczb"),
    ({"tile_minzoom": 15, "tile_maxzoom": 10}, "tile_minzoom", "must not exceed"),
    ({"tile_minzoom": 23}, "tile_minzoom", "22"),
])
def test_fields_a_client_may_not_set_are_400_naming_them(layer, registrar, change, field,
                                                        message):
    before = Layer.objects.filter(pk=layer.pk).values().get()
    response = api_client(registrar).patch("/api/layers/test-points/", change, format="json")
    assert response.status_code == 400, (change, response.status_code, response.content)
    body = response.json()
    assert field in body, body
    assert message in " ".join(map(str, body[field])), body
    assert Layer.objects.filter(pk=layer.pk).values().get() == before


def test_a_partial_zoom_change_is_checked_against_the_stored_range(layer, registrar):
    Layer.objects.filter(pk=layer.pk).update(tile_minzoom=5, tile_maxzoom=12)
    client = api_client(registrar)
    response = client.patch("/api/layers/test-points/", {"tile_maxzoom": 4}, format="json")
    assert response.status_code == 400 and "tile_minzoom" in response.json()
    assert client.patch("/api/layers/test-points/", {"tile_maxzoom": 5},
                        format="json").status_code == 200


def test_creating_a_layer_follows_the_same_rule(users, registrar, django_user_model):
    from django.contrib.auth.models import Permission
    creator = django_user_model.objects.create_user("creator", is_staff=True)
    creator.user_permissions.add(Permission.objects.get(codename="add_layer",
                                                        content_type__app_label="layers"))
    body = {"slug": "lawki", "title": "Ławki", "geometry_type": "Point"}
    for extra, status, name in [({"tile_feature_limit": 100}, 403, "tile_feature_limit"),
                                ({"visibility": "staff"}, 403, "visibility"),
                                ({"version": 5}, 400, "version"),
                                ({"nazwa": "x"}, 400, "nazwa")]:
        response = api_client(creator).post("/api/layers/", {**body, **extra}, format="json")
        assert response.status_code == status, (extra, response.content)
        assert name in json.dumps(response.json())
        assert not Layer.all_objects.filter(slug="lawki").exists()
    # Defaults sent explicitly change nothing, so they need no extra right.
    ok = api_client(creator).post("/api/layers/", {**body, "visibility": "public",
                                                   "tile_minzoom": 0}, format="json")
    assert ok.status_code == 201, ok.content
    made = api_client(registrar).post("/api/layers/", {
        "slug": "lawki-2", "title": "Ławki 2", "tile_minzoom": 10, "tile_feature_limit": 50},
        format="json")
    assert made.status_code == 201, made.content
    stored = Layer.objects.get(slug="lawki-2")
    assert (stored.tile_minzoom, stored.tile_feature_limit) == (10, 50)


def test_openapi_document_describes_the_api(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    document = response.json()
    validate_openapi(document)
    paths = document["paths"]
    for path in ("/api/layers/", "/api/layers/{slug}/features/",
                 "/api/layers/{slug}/features/{feature_id}/",
                 "/api/layers/{slug}/features/{feature_id}/revert/",
                 "/api/layers/{slug}/imports/"):
        assert path in paths, path
    put = paths["/api/layers/{slug}/features/{feature_id}/"]["put"]
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in put["parameters"])
    assert "tokenAuth" in document["components"]["securitySchemes"]


def test_polygon_features_are_readable_as_geojson(users):
    districts = Layer.objects.get(slug="okregi-wyborcze")
    body = api_client().get(url(districts)).json()
    assert body["count"] == 5
    geom = body["features"][0]["geometry"]
    assert geom["type"] in ("Polygon", "MultiPolygon")
    from django.contrib.gis.geos import GEOSGeometry
    parsed = GEOSGeometry(json.dumps(geom))
    assert parsed.valid and parsed.intersects(Polygon.from_bbox((20.5, 50.8, 20.8, 50.95)))
