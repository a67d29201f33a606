"""GIS staff edit layers and features in the Django admin with Leaflet map widgets."""

import json
import re

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command

from layers.models import Feature, Layer
from tests.layers_fixtures import admin_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, monkeypatch):
    # The documented way: createsuperuser --noinput with DJANGO_SUPERUSER_* variables.
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "gis")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-test-password")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "gis@example.org")
    call_command("createsuperuser", "--noinput", verbosity=0)
    assert client.login(username="gis", password="a-long-test-password")
    return client


def test_feature_change_form_has_a_local_leaflet_map(staff_client):
    feature = Feature.objects.filter(layer__slug="biblioteki").first()
    html = staff_client.get(f"/admin/layers/feature/{feature.pk}/change/").content.decode()
    assert "/static/leaflet/leaflet.js" in html
    assert "/static/leaflet/draw/leaflet.draw.js" in html
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert external == []


def test_no_external_basemap_in_tests():
    assert settings.BASEMAP_URL == ""
    assert settings.LEAFLET_CONFIG["TILES"] == []


def test_staff_edits_a_feature_on_the_map_and_the_layer_version_moves(staff_client):
    feature = Feature.objects.filter(layer__slug="biblioteki").first()
    layer_version = feature.layer.version
    props = dict(feature.properties, TELEFON="41 000 00 00")
    moved = {"type": "Point", "coordinates": [20.63, 50.87]}
    response = staff_client.post(f"/admin/layers/feature/{feature.pk}/change/",
                                 admin_form(feature.layer, props, json.dumps(moved)))
    assert response.status_code == 302, response.content.decode()[:2000]
    feature.refresh_from_db()
    assert feature.properties["TELEFON"] == "41 000 00 00"
    assert feature.geom.coords == pytest.approx((20.63, 50.87))
    assert feature.version == 2
    assert Layer.objects.get(pk=feature.layer_id).version == layer_version + 1


def test_admin_refuses_properties_that_break_the_layer_schema(staff_client):
    feature = Feature.objects.filter(layer__slug="biblioteki").first()
    before = dict(feature.properties)
    bad = dict(feature.properties, ID="not a number")
    response = staff_client.post(f"/admin/layers/feature/{feature.pk}/change/",
                                 admin_form(feature.layer, bad, feature.geom.json))
    assert response.status_code == 200
    # Attributes are typed form fields: Django's own (Polish) message for a non-integer.
    assert response.context["adminform"].form.errors["attr_0"] == ["Wpisz liczbę całkowitą."]
    feature.refresh_from_db()
    assert feature.properties == before


def test_anonymous_users_cannot_reach_the_admin(client):
    response = client.get("/admin/layers/feature/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not User.objects.filter(username="gis").exists()


def test_admin_edit_is_recorded_in_history(staff_client):
    from layers.models import FeatureHistory

    feature = Feature.objects.filter(layer__slug="defibrylatory").first()
    staff_client.post(f"/admin/layers/feature/{feature.pk}/change/",
                      admin_form(feature.layer, feature.properties, feature.geom.json))
    # (the city load recorded the feature's creation, channel "import")
    entry = FeatureHistory.objects.get(feature_id=feature.pk, channel="admin")
    assert (entry.action, entry.channel, entry.user.username) == ("update", "admin", "gis")
    assert entry.before["properties"] == feature.properties


def test_admin_refuses_a_wrong_geometry_type(staff_client):
    feature = Feature.objects.filter(layer__slug="biblioteki").first()
    line = {"type": "LineString", "coordinates": [[20.6, 50.8], [20.7, 50.9]]}
    response = staff_client.post(f"/admin/layers/feature/{feature.pk}/change/",
                                 admin_form(feature.layer, feature.properties, json.dumps(line)))
    assert response.status_code == 200
    assert "LineString given, layer holds Point" in response.content.decode()
