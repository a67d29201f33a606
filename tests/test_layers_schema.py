"""Changing a layer's schema without losing data: add, rename (values move), retype (values
converted, or the change refused naming the features), drop only when confirmed."""

import json

import pytest
from django.contrib.gis.geos import Point
from django.test import Client

from layers import editing
from layers.models import Feature, FeatureHistory, Layer, SchemaChangeLog
from layers.schema import CoercionError, coerce
from layers.schema_changes import SchemaChangeError, change_schema, describe
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


# --- the schema change log ------------------------------------------------------------------

def test_an_applied_change_is_logged_with_who_when_what_and_both_schemas(layer, users):
    before = Layer.objects.get(pk=layer.pk).schema
    renamed = fields_of(layer, count={"name": "liczba", "type": "decimal"})
    new = {"fields": renamed + [{"name": "note", "type": "string"}]}
    change = change_schema(layer, new, renames={"count": "liczba"}, user=users["editor"],
                           channel="api")
    entry = SchemaChangeLog.objects.get(layer=layer)
    assert (entry.user, entry.channel) == (users["editor"], "api")
    assert entry.before == before and entry.after == Layer.objects.get(pk=layer.pk).schema
    assert entry.after["fields"] == new["fields"]
    assert entry.summary["added"] == ["note"]
    assert entry.summary["renamed"] == {"count": "liczba"}
    assert entry.summary["retyped"] == {"liczba": ["integer", "decimal"]}
    assert entry.summary["features_changed"] == 3
    # The log points at the history rows of the values it migrated.
    assert str(entry.batch) == change.batch
    assert FeatureHistory.objects.filter(batch=entry.batch, channel="schema").count() == 3
    assert describe(entry.summary) == ("added note; renamed count → liczba; type liczba "
                                       "integer → decimal; 3 feature(s) migrated")


def test_refused_and_dry_run_changes_log_nothing(layer):
    with pytest.raises(SchemaChangeError):
        change_schema(layer, {"fields": fields_of(layer, name={"name": "name",
                                                               "type": "integer"})})
    change_schema(layer, {"fields": layer.fields + [{"name": "x", "type": "string"}]},
                  dry_run=True)
    assert not SchemaChangeLog.objects.filter(layer=layer).exists()
    assert "x" not in Layer.objects.get(pk=layer.pk).field_names()


def test_a_dropped_field_and_the_name_field_are_in_the_log(layer, users):
    Layer.objects.filter(pk=layer.pk).update(name_field="name")
    layer.refresh_from_db()
    change_schema(layer, {"fields": fields_of(layer, name=None)}, allow_drop=True,
                  user=users["superuser"], channel="admin")
    entry = SchemaChangeLog.objects.get(layer=layer)
    assert entry.summary["dropped"] == ["name"]
    assert entry.summary["name_field"] == ["name", ""]
    assert "name" in [f["name"] for f in entry.before["fields"]]
    assert "name" not in [f["name"] for f in entry.after["fields"]]
    # The dropped values stay on record in the feature history of that batch.
    old = FeatureHistory.objects.filter(batch=entry.batch).values_list("before", flat=True)
    assert sorted(h["properties"]["name"] for h in old) == ["Punkt 0", "Punkt 1", "Punkt 2"]


def test_rest_and_admin_changes_are_logged_with_their_channel_and_user(layer, users):
    renamed = fields_of(layer, count={"name": "liczba", "type": "integer"})
    response = api_client(users["editor"]).patch(
        "/api/layers/test-points/", {"schema": {"fields": renamed},
                                     "schema_renames": {"count": "liczba"}}, format="json")
    assert response.status_code == 200, response.content
    client = Client()
    client.force_login(users["superuser"])
    current = Layer.objects.get(pk=layer.pk)
    data = {"slug": current.slug, "title_pl": current.title_pl, "title_en": current.title_en,
            "geometry_type": current.geometry_type, "role": current.role,
            "visibility": current.visibility, "keywords": "", "tile_minzoom": 0,
            "tile_maxzoom": 22, "editor_groups": [g.pk for g in current.editor_groups.all()],
            "schema": json.dumps({"fields": current.fields + [{"name": "uwagi",
                                                               "type": "string"}]})}
    response = client.post(f"/admin/layers/layer/{layer.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    log = list(SchemaChangeLog.objects.filter(layer=layer).order_by("at", "id")
               .values_list("channel", "user__username", "summary__renamed", "summary__added"))
    assert log == [("api", "editor", {"count": "liczba"}, []),
                   ("admin", "root", {}, ["uwagi"])]


def test_an_import_that_adds_fields_is_logged(layer, users, tmp_path):
    from layers.importing import ImportOptions, run_import

    path = tmp_path / "nowe.csv"
    path.write_text("name,count,kind,pietro,lon,lat\nA,1,library,2,20.61,50.86\n",
                    encoding="utf-8")
    report = run_import(layer, path, ImportOptions(dry_run=True, add_fields=True),
                        user=users["editor"])
    assert report.ok and not SchemaChangeLog.objects.filter(layer=layer).exists()
    report = run_import(layer, path, ImportOptions(dry_run=False, add_fields=True),
                        user=users["editor"])
    assert report.ok, report.as_dict()
    entry = SchemaChangeLog.objects.get(layer=layer)
    assert (entry.channel, entry.user, str(entry.batch)) == ("import", users["editor"],
                                                             report.batch)
    assert entry.summary == {"added": ["pietro"], "file": "nowe.csv"}
    assert [f["name"] for f in entry.after["fields"]][-1] == "pietro"
    assert "pietro" not in [f["name"] for f in entry.before["fields"]]


def test_staff_read_the_log_on_the_layer_page_and_nobody_edits_it(layer, staff_layer, users):
    change_schema(layer, {"fields": layer.fields + [{"name": "note", "type": "string"}]},
                  user=users["editor"], channel="api")
    change_schema(staff_layer, {"fields": staff_layer.fields + [{"name": "tajne",
                                                                 "type": "string"}]})
    entry = SchemaChangeLog.objects.get(layer=layer)
    hidden = SchemaChangeLog.objects.get(layer=staff_layer)
    staff = Client()
    staff.force_login(users["staff"])
    page = staff.get(f"/admin/layers/layer/{layer.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "added note" in html and f"/admin/layers/schemachangelog/{entry.pk}/change/" in html
    listing = staff.get(f"/admin/layers/schemachangelog/?layer__id__exact={layer.pk}")
    assert listing.status_code == 200 and "added note" in listing.content.decode()
    detail = staff.get(f"/admin/layers/schemachangelog/{entry.pk}/change/")
    assert detail.status_code == 200 and "&quot;note&quot;" in detail.content.decode()
    # Read-only for everybody, the superuser included: the log is written by the schema code.
    root = Client()
    root.force_login(users["superuser"])
    assert root.get("/admin/layers/schemachangelog/add/").status_code == 403
    assert root.post(f"/admin/layers/schemachangelog/{entry.pk}/delete/",
                     {"post": "yes"}).status_code == 403
    assert SchemaChangeLog.objects.filter(pk=entry.pk).exists()
    # Nobody outside staff sees it; a staff-only layer's log is for staff only.
    plain = Client()
    plain.force_login(users["user"])
    assert plain.get(f"/admin/layers/schemachangelog/{entry.pk}/change/").status_code == 302
    assert staff.get(f"/admin/layers/schemachangelog/{hidden.pk}/change/").status_code == 200
