"""The GIS staff admin: schema-driven attribute fields on the map form, per-layer lists with
property filters, add/edit/delete with history, revert, schema changes, import with a dry run,
soft deletion and restore."""

import json
import re
from html import unescape

import numpy as np
import pyogrio.raw
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from shapely import wkb as shapely_wkb
from shapely.geometry import Point

from layers.models import DeletedLayer, Feature, FeatureHistory, ImportRun, Layer
from tests.layers_fixtures import admin_form, make_layer, make_user

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.layers_fixtures"]


@pytest.fixture
def gis(db, editors):
    """A staff editor of the test layers, logged in."""
    client = Client()
    client.force_login(make_user("gis-editor", staff=True, groups=[editors]))
    return client


def test_attributes_are_typed_form_fields_not_a_json_box(gis, layer):
    feature = Feature.objects.filter(layer=layer).first()
    response = gis.get(f"/admin/layers/feature/{feature.pk}/change/")
    html = response.content.decode()
    form = response.context["adminform"].form
    assert "properties" not in form.fields
    kinds = {form.fields[f"attr_{i}"].label: type(form.fields[f"attr_{i}"]).__name__
             for i in range(len(layer.fields))}
    assert kinds == {"name": "CharField", "count": "IntegerField", "kind": "TypedChoiceField",
                     "open": "TypedChoiceField", "since": "DateField", "area": "DecimalField"}
    assert 'name="attr_1"' in html and 'type="number"' in html
    assert '<option value="school">school</option>' in html
    assert 'class="vDateField' in html
    assert form.initial["attr_0"] == "Punkt 0" and form.initial["attr_1"] == 0
    # The map draws only what the layer holds (its settings are a data- attribute: no inline
    # script under the Content-Security-Policy).
    widget = re.search(r'data-sdi-map-widget="([^"]*)"', html)
    assert json.loads(unescape(widget.group(1)))["geom_type"] == "Point"


def test_edit_through_the_form_goes_through_the_editing_service(gis, layer):
    feature = Feature.objects.filter(layer=layer).first()
    data = admin_form(layer, {"name": "Nowa nazwa", "count": 5, "kind": "school",
                              "open": True, "since": "2024-05-01", "area": "12,5"},
                      json.dumps({"type": "Point", "coordinates": [20.65, 50.88]}))
    response = gis.post(f"/admin/layers/feature/{feature.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    feature.refresh_from_db()
    assert feature.properties == {"name": "Nowa nazwa", "count": 5, "kind": "school",
                                  "open": True, "since": "2024-05-01", "area": 12.5}
    entry = FeatureHistory.objects.get(feature_id=feature.pk, version=2)
    assert (entry.channel, entry.user.username) == ("admin", "gis-editor")


@pytest.mark.parametrize("props,field,message", [
    ({"name": ""}, "attr_0", "To pole jest wymagane."),
    ({"name": "x", "count": "1.5"}, "attr_1", "Wpisz liczbę całkowitą."),
    ({"name": "x", "kind": "pub"}, "attr_2", "Wybierz poprawną wartość"),
    ({"name": "x", "since": "jutro"}, "attr_4", "Wpisz poprawną datę."),
])
def test_bad_attributes_are_reported_on_their_field_and_change_nothing(gis, layer, props, field,
                                                                       message):
    feature = Feature.objects.filter(layer=layer).first()
    before = dict(feature.properties)
    response = gis.post(f"/admin/layers/feature/{feature.pk}/change/",
                        admin_form(layer, props, feature.geom.json))
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    feature.refresh_from_db()
    assert feature.properties == before and feature.version == 1


def test_bad_geometries_are_reported_precisely(gis, editors):
    areas = make_layer(
        "admin-areas", editors, geometry_type="Polygon", n=0,
        schema={"fields": [{"name": "name", "type": "string"}]})
    bowtie = {"type": "Polygon", "coordinates": [[[20.6, 50.8], [20.7, 50.9], [20.7, 50.8],
                                                  [20.6, 50.9], [20.6, 50.8]]]}
    response = gis.post(f"/admin/layers/feature/add/?layer={areas.pk}",
                        admin_form(areas, {"name": "x"}, json.dumps(bowtie)))
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["geom"])
    assert "geometry: invalid (Self-intersection" in errors
    assert not Feature.objects.filter(layer=areas).exists()


def test_adding_starts_by_choosing_a_layer(gis, layer, staff_layer):
    chooser = gis.get("/admin/layers/feature/add/")
    html = chooser.content.decode()
    assert f"?layer={layer.pk}" in html and f"?layer={staff_layer.pk}" in html
    assert "biblioteki" not in html  # not an editor of the city's layers
    response = gis.post(f"/admin/layers/feature/add/?layer={layer.pk}", admin_form(
        layer, {"name": "Z admina"}, json.dumps({"type": "Point", "coordinates": [20.6, 50.8]})))
    assert response.status_code == 302
    created = Feature.objects.get(layer=layer, properties__name="Z admina")
    assert FeatureHistory.objects.get(feature_id=created.pk).action == "create"
    libraries = Layer.objects.get(slug="biblioteki")
    assert gis.get(f"/admin/layers/feature/add/?layer={libraries.pk}").status_code == 403


def test_per_layer_list_has_attribute_columns_filters_and_search(gis, layer):
    response = gis.get("/admin/layers/feature/", {"layer__id__exact": layer.pk})
    html = response.content.decode()
    headers = [h["text"] for h in response.context["result_headers"]]
    assert headers[1:5] == ["ID", "name", "count", "kind"]  # [0]: the select-all box
    assert "Punkt 2" in html
    filters = [spec.title for spec in response.context["cl"].filter_specs]
    assert "kind" in filters and "count" in filters
    only = gis.get("/admin/layers/feature/", {"layer__id__exact": layer.pk, "p1": "2"})
    assert only.context["cl"].result_count == 1
    found = gis.get("/admin/layers/feature/", {"layer__id__exact": layer.pk, "q": "Punkt 1"})
    assert found.context["cl"].result_count == 1


def test_delete_in_admin_is_recorded_and_revertible_from_the_history_page(gis, layer):
    feature = Feature.objects.filter(layer=layer).first()
    response = gis.post(f"/admin/layers/feature/{feature.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Feature.objects.filter(pk=feature.pk).exists()
    page = gis.get(f"/admin/layers/feature/{feature.pk}/history/")
    assert page.status_code == 200
    assert page.context["entries"][0].action == "delete" and page.context["can_revert"]
    revert = gis.post(f"/admin/layers/feature/{feature.pk}/revert/", {"version": 1})
    assert revert.status_code == 302
    assert Feature.objects.get(pk=feature.pk).properties["name"] == "Punkt 0"


def test_staff_who_are_not_editors_see_but_cannot_revert(layer, users):
    client = Client()
    client.force_login(users["staff"])
    feature = Feature.objects.filter(layer=layer).first()
    assert client.get(f"/admin/layers/feature/{feature.pk}/history/").status_code == 200
    assert client.post(f"/admin/layers/feature/{feature.pk}/revert/",
                       {"version": 1}).status_code == 403


def _layer_form(layer, **changes):
    data = {"slug": layer.slug, "title_pl": layer.title_pl, "title_en": layer.title_en,
            "geometry_type": layer.geometry_type, "role": layer.role,
            "visibility": layer.visibility, "schema": json.dumps(layer.schema),
            "keywords": "", "tile_minzoom": 0, "tile_maxzoom": 22,
            "editor_groups": [g.pk for g in layer.editor_groups.all()]}
    data.update(changes)
    return data


def test_schema_rename_in_the_layer_form_migrates_values(gis, layer):
    fields = [dict(f) for f in layer.fields]
    fields[1]["name"] = "liczba"
    response = gis.post(f"/admin/layers/layer/{layer.pk}/change/", _layer_form(
        layer, schema=json.dumps({"fields": fields}), schema_renames="count = liczba"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert sorted(f.properties["liczba"] for f in Feature.objects.filter(layer=layer)) == [
        0, 1, 2]


def test_a_source_address_typed_without_a_scheme_is_kept_as_https(gis, layer):
    response = gis.post(f"/admin/layers/layer/{layer.pk}/change/", _layer_form(
        layer, source_url="geoportal.kielce.eu/dane"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Layer.objects.get(pk=layer.pk).source_url == "https://geoportal.kielce.eu/dane"


def test_a_type_change_values_cannot_satisfy_is_a_form_error_with_ids(gis, layer):
    fields = [dict(f) for f in layer.fields]
    fields[0]["type"] = "integer"
    response = gis.post(f"/admin/layers/layer/{layer.pk}/change/", _layer_form(
        layer, schema=json.dumps({"fields": fields})))
    assert response.status_code == 200
    error = " ".join(response.context["adminform"].form.errors["schema"])
    ids = sorted(Feature.objects.filter(layer=layer).values_list("pk", flat=True))
    assert "name: some values cannot become integer" in error and str(ids[0]) in error
    assert Layer.objects.get(pk=layer.pk).fields[0]["type"] == "string"


def _gpkg(tmp_path, rows):
    path = tmp_path / "nowe.gpkg"
    pyogrio.raw.write(str(path), np.array([shapely_wkb.dumps(Point(20.6 + i / 100, 50.86))
                                           for i in range(len(rows))], dtype=object),
                      [np.array(rows, dtype=object)], ["name"], driver="GPKG",
                      geometry_type="Point", crs="EPSG:4326")
    return path


def test_import_in_the_admin_dry_run_then_confirm_then_revert(gis, layer, tmp_path):
    path = _gpkg(tmp_path, ["A", "B"])
    url = f"/admin/layers/layer/{layer.pk}/import/"
    dry = gis.post(url, {"file": SimpleUploadedFile("nowe.gpkg", path.read_bytes()),
                         "invalid": "reject", "mode": "append"})
    assert dry.status_code == 200
    report = dry.context["report"]
    assert report.ok and report.features == 2 and report.crs == "EPSG:4326"
    assert "Dry run" in dry.content.decode() or "Próba" in dry.content.decode()
    assert Feature.objects.filter(layer=layer).count() == 3
    done = gis.post(url, {"token": dry.context["token"], "options": dry.context["options"],
                          "filename": "nowe.gpkg"})
    assert done.status_code == 302
    assert Feature.objects.filter(layer=layer).count() == 5
    run = ImportRun.objects.get(layer=layer)
    reverted = gis.post("/admin/layers/importrun/", {"action": "revert_imports",
                                                     "_selected_action": [run.pk]})
    assert reverted.status_code == 302
    assert Feature.objects.filter(layer=layer).count() == 3


def test_import_in_the_admin_lists_row_errors_and_writes_nothing(gis, layer, tmp_path):
    path = _gpkg(tmp_path, ["A", None])
    response = gis.post(f"/admin/layers/layer/{layer.pk}/import/", {
        "file": SimpleUploadedFile("nowe.gpkg", path.read_bytes()), "invalid": "reject",
        "mode": "append"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="report-errors"' in html and "required" in html
    assert response.context["token"] is None
    assert Feature.objects.filter(layer=layer).count() == 3


def test_deleting_a_layer_in_the_admin_is_soft_and_restorable(layer, registrar):
    client = Client()
    client.force_login(registrar)
    response = client.post(f"/admin/layers/layer/{layer.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Layer.objects.filter(pk=layer.pk).exists()
    assert DeletedLayer.objects.filter(pk=layer.pk).exists()
    listing = client.get("/admin/layers/deletedlayer/")
    assert layer.slug in listing.content.decode()
    client.post("/admin/layers/deletedlayer/", {"action": "restore",
                                                "_selected_action": [layer.pk]})
    assert Layer.objects.filter(pk=layer.pk).exists()
    assert Feature.objects.filter(layer_id=layer.pk).count() == 3


def test_two_editors_in_the_admin_never_silently_overwrite_each_other(gis, layer):
    from layers import editing

    feature = Feature.objects.filter(layer=layer).first()
    opened = gis.get(f"/admin/layers/feature/{feature.pk}/change/")
    assert opened.context["adminform"].form.initial["edit_version"] == 1
    editing.update_feature(feature.pk, properties={"count": 99}, replace=False, channel="test")
    data = admin_form(layer, {"name": "Moja zmiana"}, feature.geom.json)
    response = gis.post(f"/admin/layers/feature/{feature.pk}/change/",
                        {**data, "edit_version": 1})
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.non_field_errors())
    assert "po tym, jak go otworzyłeś (wersja 1, teraz 2)" in errors  # Polish first
    feature.refresh_from_db()
    assert feature.properties["count"] == 99 and feature.properties["name"] == "Punkt 0"


def test_a_new_layer_cannot_take_the_slug_of_a_deleted_one(layer, users):
    from layers import lifecycle

    lifecycle.delete_layer(layer)
    client = Client()
    client.force_login(users["superuser"])
    response = client.post("/admin/layers/layer/add/", {
        "slug": "test-points", "title_pl": "Nowa", "geometry_type": "Point", "role": "data",
        "visibility": "public", "schema": '{"fields": []}', "keywords": "",
        "tile_minzoom": 0, "tile_maxzoom": 22})
    assert response.status_code == 200
    assert "należy do usuniętej warstwy" in " ".join(
        response.context["adminform"].form.errors["slug"])
    assert Layer.all_objects.filter(slug="test-points").count() == 1
