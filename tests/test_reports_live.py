"""Reports through real clients against gunicorn: an Open311 client library (georeport) reads
services and requests in JSON and XML, a plain HTTP client files a request, and GDAL's OGC API
driver reads the reports layer, with no personal data in any of it."""

import subprocess

import pytest
import requests
from georeport import GeoReport

from layers.models import Layer
from reports import geo, services, testing
from reports.models import Report

pytestmark = pytest.mark.django_db

LON, LAT = testing.RYNEK
SLUG = "live-test-pothole"
EMAIL = "live-reporter-2c9d@example.org"


@pytest.fixture(scope="module")
def committed(live_url, django_db_blocker):
    """Reports committed for the live server; removed again after the module."""
    with django_db_blocker.unblock():
        had_layer = Layer.objects.filter(slug="zgloszenia").exists()
        category = testing.category(slug=SLUG, questions=[
            {"name": "size", "type": "choice", "label_pl": "Wielkość",
             "choices": [{"key": "small", "label_pl": "mała"},
                         {"key": "large", "label_pl": "duża"}]}])

        def make(title):
            return services.submit(category=category, geom=geo.point(LON, LAT), title=title,
                                   description="Opis zgłoszenia na żywo.", answers={},
                                   email=EMAIL)

        public = services.publish(make("Live-public-report"), None)
        pending = make("Live-pending-report")
    yield {"public": public, "pending": pending, "category": category}
    with django_db_blocker.unblock():
        testing.purge([SLUG], drop_layer=not had_layer)


def _as_list(value):
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_open311_client_reads_services_and_requests(live_url, committed, fmt):
    client = GeoReport(f"{live_url}/open311/v2", output_format=fmt)
    codes = [s["service_code"] for s in _as_list(client.get_service_list())]
    assert SLUG in codes
    definition = client.get_service_definition(SLUG)
    attributes = definition["attributes"]
    if fmt == "xml":
        attributes = _as_list(attributes["attribute"])
    assert [a["code"] for a in attributes] == ["size"]

    public, pending = committed["public"], committed["pending"]
    found = _as_list(client.get_service_requests(service_code=SLUG))
    assert [r["service_request_id"] for r in found] == [str(public.pk)]
    one = client.get_service_request(str(public.pk))
    assert one["status"] == "open" and one["service_code"] == SLUG
    assert float(one["lat"]) == pytest.approx(LAT) and float(one["long"]) == pytest.approx(LON)
    assert EMAIL not in str(found) + str(one)
    assert requests.get(f"{live_url}/open311/v2/requests/{pending.pk}.{fmt}",
                        timeout=10).status_code == 404


def test_open311_post_over_http(live_url, committed):
    response = requests.post(f"{live_url}/open311/v2/requests.json", timeout=10, data={
        "service_code": SLUG, "lat": LAT, "long": LON, "email": "http-client@example.org",
        "description": "Zgłoszenie wysłane przez klienta Open311 przez HTTP.",
        "attribute[size]": "small"})
    assert response.status_code == 200, response.text
    request_id = int(response.json()[0]["service_request_id"])
    report = Report.objects.get(pk=request_id)
    assert report.channel == "open311" and report.answers == {"size": "small"}
    assert report.state == "pending"
    bad = requests.post(f"{live_url}/open311/v2/requests.json", timeout=10,
                        data={"service_code": SLUG, "lat": LAT, "long": LON})
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400


def test_gdal_reads_the_reports_layer_without_personal_data(live_url, committed):
    result = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-q", f"OAPIF:{live_url}/ogc", "zgloszenia"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Live-public-report" in result.stdout
    assert f"report_id (Integer) = {committed['public'].pk}" in result.stdout
    assert "Live-pending-report" not in result.stdout
    assert EMAIL not in result.stdout and "@" not in result.stdout
