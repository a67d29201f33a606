"""Who sees and who changes what, on every channel: a matrix of channel × role × visibility.

Roles: anonymous; a plain user; an editor (in the layer's editor group, not staff); staff (not
in the group); a staff editor; a superuser. A staff-only layer must be indistinguishable from an
unknown one (404, never 403) for anyone who is not staff, on every channel; writes need the
editor group (or superuser). The OGC API shows staff their staff-only layers too.
"""

import json

import pytest
from django.test import Client

from indicators import computing
from indicators.models import Discrepancy, Indicator, IndicatorValue
from layers import permissions
from layers.models import Feature, Layer
from tests.layers_fixtures import api_client, make_layer, make_user

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.layers_fixtures"]

ROLES = ["anonymous", "user", "editor", "staff", "staff_editor", "superuser"]
STAFF = {"staff", "staff_editor", "superuser"}
EDITORS = {"editor", "staff_editor", "superuser"}


@pytest.fixture
def cast(db, editors):
    users = {
        "anonymous": None,
        "user": make_user("m-user"),
        "editor": make_user("m-editor", groups=[editors]),
        "staff": make_user("m-staff", staff=True),
        "staff_editor": make_user("m-staff-editor", staff=True, groups=[editors]),
        "superuser": make_user("m-root", superuser=True),
    }
    layers = {"public": make_layer("m-public", editors),
              "staff": make_layer("m-secret", editors, visibility="staff")}
    return users, layers


@pytest.fixture
def indicators(cast):
    """One indicator computed from each layer of the cast (its libraries per council district,
    a `where` naming a value of the layer), with its values stored."""
    _, layers = cast
    made = {}
    for visibility, layer in layers.items():
        indicator = Indicator.objects.create(
            code=f"m-{visibility}-libraries", name_pl=f"Biblioteki {layer.slug}",
            name_en=f"Libraries {layer.slug}", theme="Sport and culture",
            method={"kind": "count", "layer": layer.slug, "where": {"kind": "library"},
                    "period": "2024"})
        indicator.area_layers.add(Layer.objects.get(slug=DISTRICTS))
        computing.compute_indicator(indicator)
        # and a second source that disagrees, for the discrepancy channels
        district = Feature.objects.filter(layer__slug=DISTRICTS).order_by("id").first()
        Discrepancy.objects.create(indicator=indicator, area=district, period="2024",
                                   values={"A": 1, "B": 5}, spread=4, allowed=0)
        made[visibility] = indicator
    return made


DISTRICTS = "okregi-wyborcze"
# Every channel an indicator reaches, by code: the API, its CSVs, the legend, the discrepancy
# list, the gap matrix, the map's table. 404 where the indicator is not to be seen.
INDICATOR_PATHS = (
    "/api/indicators/{code}/", "/api/indicators/{code}/values/",
    "/api/indicators/{code}/values/?f=csv", "/api/indicators/{code}/legend/",
    "/api/indicators/values/?indicator={code}", "/api/indicators/values/?indicator={code}&f=csv",
    "/api/indicators/discrepancies/?indicator={code}", "/api/audit/gaps/?indicator={code}",
    "/map/table.json?indicator={code}")
# Channels that list indicators without being asked for one: the hidden one is not among them.
INDICATOR_LISTINGS = (
    "/api/indicators/", "/api/indicators/values/", "/api/indicators/values/?f=csv",
    "/api/indicators/discrepancies/?all=1", "/api/audit/gaps/", "/api/audit/inventory/", "/",
    "/districts/okreg-1/", "/districts/okreg-1.json", "/districts/okreg-1.csv",
    "/compare/?areas=okreg-1,okreg-2", "/ogc/collections/indicator-values/items?limit=10000")


def session(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def expected_read(role, visibility):
    return 200 if visibility == "public" or role in STAFF else 404


def expected_write(role, visibility):
    if visibility == "staff" and role not in STAFF:
        return 404  # the layer does not exist for them
    if role == "anonymous":
        return 401
    return 201 if role in EDITORS else 403


def _read(role, visibility, cast, path_of):
    users, layers = cast
    layer = layers[visibility]
    return path_of(layer), layer, users[role]


@pytest.mark.parametrize("visibility", ["public", "staff"])
@pytest.mark.parametrize("role", ROLES)
class TestMatrix:
    def test_rest_layer_and_features(self, role, visibility, cast):
        users, layers = cast
        layer, client = layers[visibility], api_client(users[role])
        want = expected_read(role, visibility)
        assert client.get(f"/api/layers/{layer.slug}/").status_code == want
        assert client.get(f"/api/layers/{layer.slug}/features/").status_code == want
        fid = Feature.objects.filter(layer=layer).first().pk
        assert client.get(f"/api/layers/{layer.slug}/features/{fid}/").status_code == want
        listed = {la["slug"] for la in client.get("/api/layers/").json()}
        assert (layer.slug in listed) == (want == 200)

    def test_rest_write(self, role, visibility, cast):
        users, layers = cast
        layer, client = layers[visibility], api_client(users[role])
        count = Feature.objects.filter(layer=layer).count()
        response = client.post(f"/api/layers/{layer.slug}/features/", {
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [20.6, 50.85]},
            "properties": {"name": role}}, format="json")
        assert response.status_code == expected_write(role, visibility), response.content
        written = response.status_code == 201
        assert Feature.objects.filter(layer=layer).count() == count + written
        fid = Feature.objects.filter(layer=layer).first().pk
        update = client.patch(f"/api/layers/{layer.slug}/features/{fid}/",
                              {"properties": {"count": 5}}, format="json", HTTP_IF_MATCH="*")
        assert update.status_code == (200 if written else expected_write(role, visibility))
        assert permissions.can_edit(users[role], layer) == written

    def test_downloads(self, role, visibility, cast):
        users, layers = cast
        layer, client = layers[visibility], session(users[role])
        want = expected_read(role, visibility)
        for fmt in ("geojson", "csv", "gpkg", "licence.txt"):
            assert client.get(f"/data/{layer.slug}.{fmt}").status_code == want, fmt

    def test_tiles(self, role, visibility, cast):
        users, layers = cast
        layer, client = layers[visibility], session(users[role])
        want = expected_read(role, visibility)
        assert client.get(f"/tiles/{layer.slug}.json").status_code == want
        tile = client.get(f"/tiles/{layer.slug}/12/2282/1387.pbf")
        assert (tile.status_code in (200, 204)) == (want == 200), tile.status_code
        both = client.get(f"/tiles/biblioteki,{layer.slug}/12/2282/1387.pbf")
        assert (both.status_code in (200, 204)) == (want == 200)

    def test_ogc_read_by_session_and_by_token(self, role, visibility, cast):
        users, layers = cast
        layer = layers[visibility]
        want = expected_read(role, visibility)
        for client in (session(users[role]), api_client(users[role])):
            response = client.get(f"/ogc/collections/{layer.slug}")
            assert response.status_code == want
            items = client.get(f"/ogc/collections/{layer.slug}/items")
            assert items.status_code == want
            if want == 200:
                assert items.json()["numberMatched"] == Feature.objects.filter(
                    layer=layer).count()
            ids = {c["id"] for c in client.get("/ogc/collections").json()["collections"]}
            assert (layer.slug in ids) == (want == 200)
            records = client.get("/ogc/collections/catalogue/items?limit=100").json()
            assert (layer.slug in {r["id"] for r in records["features"]}) == (want == 200)
            if role in STAFF:
                # what staff see must stay out of shared caches
                assert "private" in response["Cache-Control"]

    def test_ogc_write(self, role, visibility, cast):
        users, layers = cast
        layer, client = layers[visibility], api_client(users[role])
        count = Feature.objects.filter(layer=layer).count()
        response = client.post(f"/ogc/collections/{layer.slug}/items", json.dumps({
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [20.6, 50.85]},
            "properties": {"name": role}}), content_type="application/geo+json")
        assert response.status_code == expected_write(role, visibility), response.content
        assert Feature.objects.filter(layer=layer).count() == count + (
            response.status_code == 201)

    def test_admin(self, role, visibility, cast):
        users, layers = cast
        layer, client = layers[visibility], session(users[role])
        feature = Feature.objects.filter(layer=layer).first()
        change = f"/admin/layers/feature/{feature.pk}/change/"
        page = client.get(change)
        if role not in STAFF:
            # Not staff: the admin does not exist beyond its login page.
            assert page.status_code == 302 and "/admin/login/" in page["Location"]
            return
        assert page.status_code == 200
        editable = role in EDITORS
        assert ('name="_save"' in page.content.decode()) == editable
        listing = client.get("/admin/layers/feature/", {"layer__id__exact": layer.pk})
        assert listing.status_code == 200 and str(feature.pk) in listing.content.decode()
        from tests.layers_fixtures import admin_form
        post = client.post(change, admin_form(layer, {"name": "zmiana"}, feature.geom.json))
        assert post.status_code == (302 if editable else 403)
        feature.refresh_from_db()
        assert (feature.properties["name"] == "zmiana") == editable

    def test_pages_never_mention_a_staff_layer_to_others(self, role, visibility, cast):
        users, layers = cast
        layer, client = layers[visibility], session(users[role])
        for path in ("/", "/data/"):
            response = client.get(path)
            if response.status_code == 404:
                continue  # a page another channel has not built yet
            assert response.status_code == 200
            text = response.content.decode()
            if visibility == "staff" and role not in STAFF:
                assert layer.slug not in text and layer.title_pl not in text, path


    def test_indicators_computed_from_the_layer(self, role, visibility, cast, indicators):
        """An indicator is seen by exactly those who may read every layer it is computed from:
        on every channel (API, CSV, legend, gaps, OGC, tiles, map, profiles, compare)."""
        users, layers = cast
        layer, indicator = layers[visibility], indicators[visibility]
        visible = expected_read(role, visibility) == 200
        for client in (session(users[role]), api_client(users[role])):
            for path in INDICATOR_PATHS:
                response = client.get(path.format(code=indicator.code))
                assert response.status_code == (200 if visible else 404), path
            tile = client.get(f"/tiles/indicators/{indicator.code}/10/570/343.pbf")
            assert (tile.status_code in (200, 204)) == visible, tile.status_code
            if visible and visibility == "staff":
                assert "private" in tile["Cache-Control"]
            items = client.get("/ogc/collections/indicator-values/items",
                               {"indicator": indicator.code, "f": "json"})
            assert items.status_code == 200
            assert (items.json()["numberMatched"] > 0) == visible
            value = IndicatorValue.objects.filter(indicator=indicator).first()
            item = client.get(f"/ogc/collections/indicator-values/items/{value.pk}?f=json")
            assert item.status_code == (200 if visible else 404)
            if visible and visibility == "staff":
                for path in ("/api/indicators/", f"/api/indicators/{indicator.code}/values/"):
                    assert "private" in client.get(path)["Cache-Control"], path
        client = session(users[role])
        for path in INDICATOR_LISTINGS:
            response = client.get(path)
            assert response.status_code == 200, path
            text = response.content.decode()
            if path != "/api/audit/inventory/":
                assert (indicator.code in text) == visible, path
            if not visible:
                # not even its name, nor the layer its method reads
                assert indicator.name_pl not in text and layer.slug not in text, path


def test_an_indicator_over_a_hidden_indicator_is_hidden(cast, indicators):
    """Per resident of ... : the population figure is another indicator; one computed from a
    staff-only layer hides what is computed from it too."""
    users, layers = cast
    derived = Indicator.objects.create(
        code="m-derived", name_pl="Pochodny", theme="Sport and culture",
        method={"kind": "per_1000", "layer": layers["public"].slug,
                "population": indicators["staff"].code, "period": "2024"})
    derived.area_layers.add(Layer.objects.get(slug=DISTRICTS))
    for role, visible in (("anonymous", False), ("user", False), ("staff", True)):
        client = api_client(users[role])
        listed = {i["code"] for i in client.get("/api/indicators/").json()}
        assert ("m-derived" in listed) == visible, role
        assert client.get("/api/indicators/m-derived/").status_code == (200 if visible
                                                                         else 404)


def test_tokens_reach_staff_layers_on_downloads_and_tiles(cast):
    users, layers = cast
    secret = layers["staff"]
    for role, want in (("user", 404), ("staff", 200)):
        client = api_client(users[role])
        assert client.get(f"/data/{secret.slug}.geojson").status_code == want
        assert client.get(f"/tiles/{secret.slug}.json").status_code == want


def test_staff_only_answers_are_not_cacheable_by_shared_caches(cast):
    users, layers = cast
    response = session(users["staff"]).get(f"/data/{layers['staff'].slug}.geojson")
    assert response["Cache-Control"].startswith("private")
    public = session(None).get(f"/data/{layers['public'].slug}.geojson")
    assert public["Cache-Control"].startswith("public")


def test_an_inactive_staff_user_sees_nothing_hidden(cast):
    users, layers = cast
    staff = users["staff"]
    staff.is_active = False
    staff.save()
    assert not permissions.can_view(staff, layers["staff"])
    assert list(permissions.visible_layers(staff).filter(slug="m-secret")) == []


def test_editor_groups_of_one_layer_do_not_open_another(cast):
    users, layers = cast
    other = make_layer("m-other", None)
    response = api_client(users["editor"]).post(
        f"/api/layers/{other.slug}/features/",
        json.dumps({"type": "Feature", "geometry": {"type": "Point", "coordinates": [20.6, 50.8]},
                    "properties": {"name": "x"}}), content_type="application/json")
    assert response.status_code == 403
    assert not permissions.can_edit(users["editor"], other)
    assert Layer.objects.get(slug="m-other").version == other.version
