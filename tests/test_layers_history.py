"""History and revert: every change recorded with who/when/before/after; a feature or a whole
batch reverted; layers deleted softly and restorable for 30 days."""

import datetime
import json

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.utils import timezone

from layers import editing, history, lifecycle
from layers.models import Feature, FeatureHistory, Layer
from tests.layers_fixtures import api_client, make_user

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.layers_fixtures"]


def feature_url(layer, fid, tail=""):
    return f"/api/layers/{layer.slug}/features/{fid}/{tail}"


def edit(layer, fid, user, **props):
    feature = Feature.objects.get(pk=fid)
    return editing.update_feature(fid, properties={**feature.properties, **props}, user=user,
                                  channel="test")


def test_every_change_is_recorded_with_user_channel_before_and_after(layer, users):
    feature = Feature.objects.filter(layer=layer).first()
    client = api_client(users["editor"])
    client.patch(feature_url(layer, feature.pk), {"properties": {"count": 5}}, format="json",
                 HTTP_IF_MATCH=f'"{feature.pk}-1"')
    client.delete(feature_url(layer, feature.pk), HTTP_IF_MATCH=f'"{feature.pk}-2"')
    entries = list(FeatureHistory.objects.filter(feature_id=feature.pk).order_by("version"))
    assert [(e.action, e.version, e.channel) for e in entries] == [
        ("create", 1, "test"), ("update", 2, "api"), ("delete", 3, "api")]
    assert entries[1].user.username == "editor"
    assert entries[1].before["properties"]["count"] == 0
    assert entries[1].after["properties"]["count"] == 5
    assert entries[2].after is None and entries[2].before["properties"]["count"] == 5
    assert timezone.now() - entries[2].at < datetime.timedelta(minutes=1)


def test_feature_and_layer_history_over_rest(layer, users):
    feature = Feature.objects.filter(layer=layer).first()
    edit(layer, feature.pk, users["editor"], count=9)
    response = api_client(users["editor"]).get(feature_url(layer, feature.pk, "history/"))
    assert response.status_code == 200
    assert [(e["action"], e["version"]) for e in response.json()] == [("update", 2),
                                                                       ("create", 1)]
    assert response.json()[0]["user"] == "editor"
    whole = api_client(users["staff"]).get(f"/api/layers/{layer.slug}/history/").json()
    assert whole["count"] == 4
    # History names people: not for anonymous users or users without a role on the layer.
    assert api_client().get(f"/api/layers/{layer.slug}/history/").status_code == 401
    assert api_client(users["user"]).get(
        f"/api/layers/{layer.slug}/history/").status_code == 403
    bad = api_client(users["staff"]).get(f"/api/layers/{layer.slug}/history/",
                                         {"batch": "nope"})
    assert bad.status_code == 400


def test_revert_a_feature_to_an_earlier_version(layer, users):
    feature = Feature.objects.filter(layer=layer).first()
    edit(layer, feature.pk, users["editor"], count=10)
    edit(layer, feature.pk, users["editor"], count=20, name="Zmieniony")
    client = api_client(users["editor"])
    response = client.post(feature_url(layer, feature.pk, "revert/"), {"version": 1},
                           format="json", HTTP_IF_MATCH=f'"{feature.pk}-3"')
    assert response.status_code == 200, response.content
    assert response.json()["properties"] == {"name": "Punkt 0", "count": 0, "kind": "library"}
    assert response["ETag"] == f'"{feature.pk}-4"'
    last = FeatureHistory.objects.filter(feature_id=feature.pk).order_by("-version").first()
    assert (last.action, last.channel, last.user.username) == ("update", "revert", "editor")
    # A stale If-Match on revert is refused like any other write.
    stale = client.post(feature_url(layer, feature.pk, "revert/"), {"version": 2},
                        format="json", HTTP_IF_MATCH=f'"{feature.pk}-3"')
    assert stale.status_code == 412


def test_revert_brings_a_deleted_feature_back_under_its_id(layer, users):
    feature = Feature.objects.filter(layer=layer).first()
    geom = feature.geom.clone()
    editing.delete_feature(feature.pk, user=users["editor"], channel="test")
    response = api_client(users["editor"]).post(feature_url(layer, feature.pk, "revert/"),
                                                {"version": 1}, format="json")
    assert response.status_code == 200, response.content
    back = Feature.objects.get(pk=feature.pk)
    assert back.geom.equals(geom) and back.properties["name"] == "Punkt 0"
    assert back.version == 3  # created 1, deleted 2, re-created 3: one story, no reuse


@pytest.mark.parametrize("body,message", [
    ({"version": 99}, "has no version 99"),
    ({"version": "1"}, "version: an integer is required"),
    ({}, "version: an integer is required"),
])
def test_bad_reverts_are_400(layer, users, body, message):
    feature = Feature.objects.filter(layer=layer).first()
    response = api_client(users["editor"]).post(feature_url(layer, feature.pk, "revert/"), body,
                                                format="json")
    assert response.status_code == 400 and message in response.json()["detail"]
    assert Feature.objects.get(pk=feature.pk).version == 1


def test_revert_refuses_a_version_that_no_longer_fits_the_schema(layer, users):
    from layers.schema_changes import change_schema

    feature = Feature.objects.filter(layer=layer).first()
    fields = [f for f in layer.fields if f["name"] != "kind"]
    change_schema(layer, {"fields": fields}, allow_drop=True)
    response = api_client(users["editor"]).post(feature_url(layer, feature.pk, "revert/"),
                                                {"version": 1}, format="json")
    assert response.status_code == 400
    assert "kind: not a field of this layer" in response.json()["detail"]


def test_reverting_needs_edit_rights(layer, users):
    feature = Feature.objects.filter(layer=layer).first()
    response = api_client(users["staff"]).post(feature_url(layer, feature.pk, "revert/"),
                                               {"version": 1}, format="json")
    assert response.status_code == 403


# --- batches ---------------------------------------------------------------------------------

def _batch_edit(layer, user):
    """A bulk edit in one batch: a create, an update and a delete."""
    import uuid

    batch = uuid.uuid4()
    ids = list(Feature.objects.filter(layer=layer).order_by("pk").values_list("pk", flat=True))
    new = editing.create_feature(layer, Point(20.7, 50.9, srid=4326), {"name": "Z partii"},
                                 user=user, channel="test", batch=batch)
    editing.update_feature(ids[0], properties={"name": "Zmieniony w partii"}, user=user,
                           channel="test", batch=batch)
    editing.delete_feature(ids[1], user=user, channel="test", batch=batch)
    return batch, new.pk, ids


def test_revert_a_whole_batch(layer, users):
    before = {f.pk: (f.properties, f.geom.wkt) for f in Feature.objects.filter(layer=layer)}
    batch, new_id, ids = _batch_edit(layer, users["editor"])
    result = history.revert_batch(layer, batch, user=users["editor"])
    assert (result["deleted"], result["restored"], result["updated"]) == (1, 1, 1)
    after = {f.pk: (f.properties, f.geom.wkt) for f in Feature.objects.filter(layer=layer)}
    assert after == before
    reverted = FeatureHistory.objects.filter(batch=result["revert_batch"])
    assert set(reverted.values_list("channel", flat=True)) == {"revert"}
    assert reverted.count() == 3


def test_a_batch_is_not_reverted_over_later_edits(layer, users):
    batch, new_id, ids = _batch_edit(layer, users["editor"])
    edit(layer, new_id, users["editor"], count=1)
    state = sorted(Feature.objects.filter(layer=layer).values_list("pk", "version"))
    with pytest.raises(history.RevertError, match=f"features changed after this batch: {new_id}"):
        history.revert_batch(layer, batch, user=users["editor"])
    assert sorted(Feature.objects.filter(layer=layer).values_list("pk", "version")) == state


# --- soft deletion of layers -----------------------------------------------------------------

def test_a_deleted_layer_vanishes_everywhere_and_comes_back_on_restore(layer, users, registrar):
    fid = Feature.objects.filter(layer=layer).first().pk
    assert api_client().delete("/api/layers/test-points/").status_code == 401
    assert api_client(users["editor"]).delete("/api/layers/test-points/").status_code == 403
    assert api_client(registrar).delete("/api/layers/test-points/").status_code == 204
    client = api_client(users["superuser"])
    for path in ("/api/layers/test-points/", f"/api/layers/test-points/features/{fid}/",
                 "/data/test-points.geojson", "/tiles/test-points.json",
                 "/ogc/collections/test-points/items"):
        assert client.get(path).status_code == 404, path
    assert "test-points" not in {la["slug"] for la in client.get("/api/layers/").json()}
    assert not Layer.objects.filter(slug="test-points").exists()
    assert Feature.objects.filter(layer_id=layer.pk).count() == 3  # kept, for restore
    # The slug stays taken while the layer can be restored.
    taken = client.post("/api/layers/", {"slug": "test-points", "title": "x"}, format="json")
    assert taken.status_code == 400 and "deleted layer" in taken.json()["slug"][0]
    assert api_client(users["editor"]).post("/api/layers/test-points/restore/").status_code == 404
    restored = api_client(registrar).post("/api/layers/test-points/restore/")
    assert restored.status_code == 200
    assert api_client().get(f"/api/layers/test-points/features/{fid}/").status_code == 200


def test_deleted_layers_are_purged_after_30_days(layer, editors):
    other = Layer.objects.get(slug="test-points")
    lifecycle.delete_layer(other)
    Layer.all_objects.filter(pk=other.pk).update(
        deleted_at=timezone.now() - datetime.timedelta(days=29))
    assert lifecycle.purge_deleted_layers() == []
    Layer.all_objects.filter(pk=other.pk).update(
        deleted_at=timezone.now() - datetime.timedelta(days=31))
    call_command("purge_deleted_layers", verbosity=0)
    assert not Layer.all_objects.filter(pk=other.pk).exists()
    assert not Feature.objects.filter(layer_id=other.pk).exists()


def test_city_reload_does_not_resurrect_a_deleted_layer():
    from layers.city import load_city

    libraries = Layer.objects.get(slug="biblioteki")
    lifecycle.delete_layer(libraries)
    results = {r.slug: r.status for r in load_city("kielce", force=True)}
    assert results["biblioteki"] == "deleted"
    assert not Layer.objects.filter(slug="biblioteki").exists()


def test_history_json_is_plain_geojson(layer):
    entry = FeatureHistory.objects.filter(layer=layer).first()
    geometry = json.loads(entry.after["geometry"])
    assert geometry["type"] == "Point"


def test_history_survives_a_feature_deleted_by_another_editor(layer, editors):
    other = make_user("other", groups=[editors])
    fid = Feature.objects.filter(layer=layer).first().pk
    editing.delete_feature(fid, user=other, channel="test")
    assert FeatureHistory.objects.filter(feature_id=fid).count() == 2
