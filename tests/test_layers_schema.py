"""Changing a layer's schema without losing data: add, rename (values move), retype (values
converted, or the change refused naming the features), drop only when confirmed."""

import pytest
from django.contrib.gis.geos import Point

from layers import editing
from layers.models import Feature, FeatureHistory, Layer
from layers.schema import CoercionError, coerce
from layers.schema_changes import SchemaChangeError, change_schema
from tests.layers_fixtures import api_client

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.layers_fixtures"]


def fields_of(layer, **changes):
    """The layer's fields with some replaced ({name: new field or None to drop})."""
    out = []
    for f in layer.fields:
        if f["name"] in changes:
            if changes[f["name"]] is not None:
                out.append(changes[f["name"]])
        else:
            out.append(dict(f))
    return out


def props(layer):
    return {f.pk: f.properties for f in Feature.objects.filter(layer=layer).order_by("pk")}


def test_adding_an_optional_field_keeps_every_value(layer):
    before = props(layer)
    change = change_schema(layer, {"fields": layer.fields + [{"name": "note", "type": "string"}]})
    assert change.added == ["note"] and change.features_changed == 0
    assert props(layer) == before
    assert Layer.objects.get(pk=layer.pk).field_names()[-1] == "note"


def test_adding_a_required_field_is_refused_naming_the_features(layer):
    ids = sorted(props(layer))
    with pytest.raises(SchemaChangeError) as exc:
        change_schema(layer, {"fields": layer.fields + [
            {"name": "owner", "type": "string", "required": True}]})
    assert exc.value.errors == [f"owner: no value for a required field — 3 feature(s): "
                                f"{', '.join(map(str, ids))}"]
    assert "owner" not in Layer.objects.get(pk=layer.pk).field_names()


def test_renaming_a_field_moves_its_values_and_records_history(layer, users):
    version = Layer.objects.get(pk=layer.pk).version
    renamed = fields_of(layer, count={"name": "liczba", "type": "integer"})
    change = change_schema(layer, {"fields": renamed}, renames={"count": "liczba"},
                           user=users["editor"])
    assert change.renamed == {"count": "liczba"} and change.features_changed == 3
    values = sorted(p["liczba"] for p in props(layer).values())
    assert values == [0, 1, 2]
    assert all("count" not in p for p in props(layer).values())
    feature = Feature.objects.filter(layer=layer).order_by("pk").first()
    assert feature.version == 2  # a stale ETag from before the rename fails
    entry = FeatureHistory.objects.get(feature_id=feature.pk, version=2)
    assert (entry.channel, entry.user.username) == ("schema", "editor")
    assert entry.before["properties"]["count"] == 0 and entry.after["properties"]["liczba"] == 0
    assert Layer.objects.get(pk=layer.pk).version == version + 1


def test_renaming_the_name_field_follows(layer):
    layer.name_field = "name"
    layer.save()
    change_schema(layer, {"fields": fields_of(layer, name={"name": "nazwa", "type": "string",
                                                           "required": True})},
                  renames={"name": "nazwa"})
    assert Layer.objects.get(pk=layer.pk).name_field == "nazwa"


def test_a_type_change_that_values_satisfy_converts_them(layer):
    change = change_schema(layer, {"fields": fields_of(layer, count={"name": "count",
                                                                      "type": "string"})})
    assert change.retyped == {"count": ("integer", "string")}
    assert sorted(p["count"] for p in props(layer).values()) == ["0", "1", "2"]
    # and back: "0", "1", "2" are integers
    change_schema(layer, {"fields": fields_of(layer, count={"name": "count",
                                                             "type": "integer"})})
    assert sorted(p["count"] for p in props(layer).values()) == [0, 1, 2]


def test_a_type_change_values_cannot_satisfy_is_refused_listing_the_ids(layer):
    bad = editing.create_feature(layer, Point(20.6, 50.8, srid=4326),
                                 {"name": "Szkoła nr 1", "count": 4}, channel="test")
    before = props(layer)
    with pytest.raises(SchemaChangeError) as exc:
        change_schema(layer, {"fields": fields_of(layer, name={"name": "name",
                                                                "type": "integer"})})
    message = exc.value.errors[0]
    assert message.startswith("name: some values cannot become integer (expected an integer)")
    assert "4 feature(s)" in message and str(bad.pk) in message
    assert props(layer) == before
    assert Layer.objects.get(pk=layer.pk).fields[0]["type"] == "string"


def test_new_choices_that_existing_values_break_are_refused(layer):
    editing.create_feature(layer, Point(20.6, 50.8, srid=4326),
                           {"name": "x", "kind": "school"}, channel="test")
    with pytest.raises(SchemaChangeError, match=r"kind: some values are not one of \['library'\]"):
        change_schema(layer, {"fields": fields_of(layer, kind={
            "name": "kind", "type": "string", "choices": ["library"]})})


def test_dropping_a_field_with_values_needs_confirmation(layer):
    smaller = {"fields": fields_of(layer, count=None)}
    with pytest.raises(SchemaChangeError, match="count: removing the field would drop the "
                                                "values of 3 feature"):
        change_schema(layer, smaller)
    assert all("count" in p for p in props(layer).values())
    change_schema(layer, smaller, allow_drop=True)
    assert all("count" not in p for p in props(layer).values())
    # The dropped values stay in history.
    assert FeatureHistory.objects.filter(layer=layer, channel="schema").count() == 3


@pytest.mark.parametrize("renames,message", [
    ({"nope": "name"}, "rename 'nope': no such field in the current schema"),
    ({"count": "missing"}, "'missing' is not in the new schema"),
    ({"count": "name"}, "'name' exists already"),
])
def test_bad_renames_are_refused(layer, renames, message):
    with pytest.raises(SchemaChangeError, match=message):
        change_schema(layer, {"fields": layer.fields}, renames=renames)


def test_schema_change_over_rest_reports_problems_as_400(layer, users):
    client = api_client(users["editor"])
    renamed = fields_of(layer, count={"name": "liczba", "type": "integer"})
    ok = client.patch("/api/layers/test-points/", {"schema": {"fields": renamed},
                                                   "schema_renames": {"count": "liczba"}},
                      format="json")
    assert ok.status_code == 200, ok.content
    assert [f["name"] for f in ok.json()["schema"]["fields"]][1] == "liczba"
    bad = client.patch("/api/layers/test-points/", {"schema": {"fields": fields_of(
        Layer.objects.get(pk=layer.pk), name={"name": "name", "type": "date"})}}, format="json")
    assert bad.status_code == 400
    assert "schema: name: some values cannot become date" in bad.json()["detail"]
    assert Layer.objects.get(pk=layer.pk).fields[0]["type"] == "string"


@pytest.mark.parametrize("ftype,value,expected", [
    ("integer", "12", 12), ("integer", 12.0, 12), ("integer", " 1 200 ", 1200),
    ("decimal", "12,5", 12.5), ("decimal", "3", 3), ("decimal", 2, 2),
    ("boolean", "Tak", True), ("boolean", "nie", False), ("boolean", 0, False),
    ("date", "31.12.2020", "2020-12-31"), ("date", "2020-12-31T10:00:00", "2020-12-31"),
    ("string", 12, "12"), ("string", True, "true"), ("string", "", None),
])
def test_coerce_converts_without_loss(ftype, value, expected):
    assert coerce(ftype, value) == expected


@pytest.mark.parametrize("ftype,value", [
    ("integer", "12.5"), ("integer", True), ("integer", "abc"), ("decimal", "1,2,3"),
    ("decimal", "nan"), ("boolean", "maybe"), ("date", "2020-13-45"), ("date", "yesterday"),
])
def test_coerce_refuses_what_would_lose_information(ftype, value):
    with pytest.raises(CoercionError):
        coerce(ftype, value)
