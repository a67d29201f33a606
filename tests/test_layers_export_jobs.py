"""Exports as jobs, without a worker: `POST /api/layers/<slug>/exports/` (rights, options,
202 and the job's address) and the file's download rights. The worker running them end to end
is in test_jobs_worker.py."""

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from procrastinate.contrib.django.models import ProcrastinateJob

from jobs.models import Job
from layers.tasks import export_name
from tests.layers_fixtures import *  # noqa: F403
from tests.layers_fixtures import api_client, make_layer


@pytest.fixture
def layers_(editors):
    return {"public": make_layer("exp-public", n=2),
            "staff": make_layer("exp-staff", visibility="staff", n=2),
            "areas": make_layer("exp-areas", geometry_type="Polygon", n=0)}


def post(user, slug, data, fmt="json"):
    return api_client(user).post(f"/api/layers/{slug}/exports/", data, format=fmt)


def test_an_export_answers_202_with_the_jobs_address(users, layers_):
    response = post(users["user"], "exp-public", {"format": "gpkg"})
    assert response.status_code == 202
    body = response.json()
    job = Job.objects.get(pk=body["id"])
    assert response["Location"] == f"http://testserver/api/jobs/{job.pk}/"
    assert body["state"] == "queued" and body["kind"] == "layers.export"
    assert body["concerns"] == {"type": "layers.layer", "id": str(layers_["public"].pk),
                                "label": "exp-public"}
    assert job.user == users["user"]
    assert job.payload == {"layer": layers_["public"].pk, "slug": "exp-public", "format": "gpkg"}
    queued = ProcrastinateJob.objects.get(pk=job.procrastinate_id)
    assert (queued.task_name, queued.args) == ("layers.export", {"job_id": job.pk})
    # Asking again while it waits answers the same job.
    again = post(users["user"], "exp-public", {"format": "gpkg"})
    assert again.status_code == 202 and again.json()["id"] == job.pk
    assert post(users["editor"], "exp-public", {"format": "gpkg"}).json()["id"] != job.pk


def test_csv_options_are_kept_and_a_form_post_works(users, layers_):
    response = post(users["user"], "exp-public", {"format": "csv", "geometry": "lonlat",
                                                  "excel": "1"}, fmt="multipart")
    assert response.status_code == 202
    assert Job.objects.get(pk=response.json()["id"]).payload == {
        "layer": layers_["public"].pk, "slug": "exp-public", "format": "csv",
        "geometry": "lonlat", "excel": True}


@pytest.mark.parametrize("data, message", [
    ({}, "format: expected one of gpkg, geojson, csv, got ''"),
    ({"format": "shp"}, "format: expected one of gpkg, geojson, csv, got 'shp'"),
    ({"format": "gpkg", "crs": "EPSG:2180"}, "crs: unknown option (known: excel, format, "
                                             "geometry)"),
    ({"format": "gpkg", "geometry": "lonlat"}, "geometry: only for format csv"),
    ({"format": "csv", "geometry": "xy"}, "geometry: expected wkt or lonlat, got 'xy'"),
    ({"format": "csv", "excel": "maybe"}, "excel: expected 1 (the form for Excel: semicolons, "
                                          "decimal commas) or 0 (plain CSV), got 'maybe'"),
])
def test_bad_options_are_400_naming_them_and_queue_nothing(users, layers_, data, message):
    response = post(users["user"], "exp-public", data)
    assert response.status_code == 400
    assert message in response.json()["errors"]
    assert not Job.objects.exists() and not ProcrastinateJob.objects.exists()


@pytest.mark.parametrize("body", [
    [{"format": "gpkg"}], "gpkg", 12, None,
    "[" * 300 + '{"format": "gpkg"}' + "]" * 300,  # nested past the parser's depth limit
])
def test_a_body_that_is_not_an_object_of_options_is_400_and_queues_nothing(users, layers_,
                                                                            body):
    # Found by the property-based run (test_api_properties): such bodies used to answer 500.
    raw = body if isinstance(body, str) and body.startswith("[") else json.dumps(body)
    response = api_client(users["user"]).post("/api/layers/exp-public/exports/", raw,
                                              content_type="application/json")
    assert response.status_code == 400
    assert not Job.objects.exists() and not ProcrastinateJob.objects.exists()


def test_lon_lat_of_polygons_is_400(users, layers_):
    response = post(users["user"], "exp-areas", {"format": "csv", "geometry": "lonlat"})
    assert response.status_code == 400
    assert response.json()["errors"] == ["geometry=lonlat is for point layers; exp-areas holds "
                                         "Polygon: use geometry=wkt"]


def test_rights_hidden_layers_are_404_before_anyone_is_asked_to_log_in(users, layers_):
    assert post(None, "exp-public", {"format": "gpkg"}).status_code == 401
    assert post(None, "exp-staff", {"format": "gpkg"}).status_code == 404
    assert post(users["user"], "exp-staff", {"format": "gpkg"}).status_code == 404
    assert post(users["user"], "no-such-layer", {"format": "gpkg"}).status_code == 404
    assert not Job.objects.exists()
    assert post(users["staff"], "exp-staff", {"format": "gpkg"}).status_code == 202


@pytest.fixture
def finished_export(users, layers_, settings, tmp_path):
    """A finished export of the public layer by the plain user, with its file in storage."""
    settings.MEDIA_ROOT = tmp_path
    layer = layers_["public"]
    job = Job.objects.create(kind="layers.export", user=users["user"], state="succeeded",
                             payload={"layer": layer.pk, "slug": layer.slug, "format": "geojson"},
                             result={"filename": "exp-public.geojson"})
    default_storage.save(export_name(job.pk, "exp-public.geojson"),
                         ContentFile(b'{"type": "FeatureCollection", "features": []}'))
    yield job, layer


def test_the_file_is_for_who_asked_and_staff(users, finished_export):
    job, layer = finished_export
    url = f"/api/layers/exp-public/exports/{job.pk}/file"
    response = api_client(users["user"]).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b'{"type": "FeatureCollection"')
    assert response["Content-Type"] == "application/geo+json"
    assert response["Content-Disposition"] == 'attachment; filename="exp-public.geojson"'
    assert response["Cache-Control"] == "private, no-cache"
    assert 'rel="license"' in response["Link"]
    assert api_client(users["staff"]).get(url).status_code == 200
    assert api_client(users["editor"]).get(url).status_code == 404
    assert api_client(None).get(url).status_code == 401
    assert api_client(users["user"]).get(
        f"/api/layers/exp-staff/exports/{job.pk}/file").status_code == 404


def test_a_layer_made_staff_only_later_is_no_longer_downloadable_by_others(users,
                                                                            finished_export):
    job, layer = finished_export
    layer.visibility = "staff"
    layer.save()
    url = f"/api/layers/exp-public/exports/{job.pk}/file"
    assert api_client(users["user"]).get(url).status_code == 404
    assert api_client(None).get(url).status_code == 404
    assert api_client(users["staff"]).get(url).status_code == 200


def test_unfinished_and_expired_exports(users, finished_export):
    job, layer = finished_export
    url = f"/api/layers/exp-public/exports/{job.pk}/file"
    default_storage.delete(export_name(job.pk, "exp-public.geojson"))
    response = api_client(users["user"]).get(url)
    assert response.status_code == 410
    assert response.json()["detail"] == (f"the file of export {job.pk} has expired; export the "
                                         "layer again")
    Job.objects.filter(pk=job.pk).update(state="running")
    assert api_client(users["user"]).get(url).status_code == 404


def test_data_gpkg_of_a_large_layer_is_prepared_by_a_job_meanwhile_503(client, users, layers_,
                                                                        settings, tmp_path):
    settings.EXPORT_CACHE_DIR = tmp_path  # not a GeoPackage cached by an earlier run
    settings.EXPORT_GPKG_SYNC_MAX_FEATURES = 1
    for _ in range(2):
        response = client.get("/data/exp-public.gpkg")
        assert response.status_code == 503 and response["Retry-After"] == "30"
        text = response.content.decode()
        assert "Plik GeoPackage warstwy exp-public (2 obiektów) jest przygotowywany" in text
        assert "The GeoPackage of layer exp-public (2 features) is being prepared" in text
    job = Job.objects.get(kind="layers.gpkg_download")  # one, however often it is asked for
    assert job.payload == {"layer": layers_["public"].pk, "slug": "exp-public",
                           "version": layers_["public"].version}
    assert job.user is None
    # Small layers are built within the request, as before; so are staff-only layers for staff.
    settings.EXPORT_GPKG_SYNC_MAX_FEATURES = 2
    assert client.get("/data/exp-public.gpkg").status_code == 200
    assert client.get("/data/exp-staff.gpkg").status_code == 404
