"""Open311 GeoReport v2: services, service definitions, requests (list, one, filters) and
posting a request, in JSON and XML; bad input answered in the Open311 error shape."""

import datetime
import xml.etree.ElementTree as ET

import pytest
from django.core.cache import cache
from django.utils import timezone

from reports import geo, services, testing
from reports.models import Report

pytestmark = pytest.mark.django_db

LON, LAT = testing.RYNEK
BASE = "/open311/v2"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Rate-limit windows start at a fixed instant: a test never straddles two windows."""
    from reports import ratelimit

    monkeypatch.setattr(ratelimit, "_now", lambda: 1_800_000_000.0)


@pytest.fixture(autouse=True)
def clean(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    cache.clear()


@pytest.fixture
def category():
    return testing.category(questions=[
        {"name": "size", "type": "choice", "required": True, "label_pl": "Wielkość",
         "choices": [{"key": "small", "label_pl": "mała"}, {"key": "large", "label_pl": "duża"}]},
        {"name": "depth", "type": "number", "label_pl": "Głębokość (cm)"},
        {"name": "danger", "type": "boolean", "label_pl": "Groźne"},
    ])


def make(category, title="Zgłoszenie", publish=True, **fields):
    report = services.submit(category=category, geom=geo.point(LON, LAT), title=title,
                             description="Opis zgłoszenia testowego.", answers={},
                             email="x@example.org")
    if publish:
        report = services.publish(report, None)
    if fields:
        Report.objects.filter(pk=report.pk).update(**fields)
    return report


def test_services_json_and_xml(client, category):
    testing.category(slug="retired", name_pl="Stara", active=False)
    services_json = client.get(f"{BASE}/services.json")
    assert services_json.status_code == 200
    assert services_json["Content-Type"].startswith("application/json")
    rows = services_json.json()
    assert [r["service_code"] for r in rows] == [category.slug]
    assert rows[0] == {"service_code": category.slug, "service_name": "Dziura (test)",
                       "description": "Pothole (test)", "metadata": True, "type": "realtime",
                       "keywords": "Pothole (test)", "group": ""}
    root = ET.fromstring(client.get(f"{BASE}/services.xml").content)
    assert root.tag == "services"
    assert [s.findtext("service_code") for s in root.findall("service")] == [category.slug]
    assert root.find("service/metadata").text == "true"


def test_service_definition_lists_the_extra_questions(client, category):
    definition = client.get(f"{BASE}/services/{category.slug}.json").json()
    assert definition["service_code"] == category.slug
    attrs = {a["code"]: a for a in definition["attributes"]}
    assert attrs["size"]["datatype"] == "singlevaluelist" and attrs["size"]["required"] is True
    assert attrs["size"]["values"] == [{"key": "small", "name": "mała"},
                                       {"key": "large", "name": "duża"}]
    assert attrs["depth"]["datatype"] == "number" and attrs["depth"]["order"] == 2
    assert [v["key"] for v in attrs["danger"]["values"]] == ["true", "false"]
    root = ET.fromstring(client.get(f"{BASE}/services/{category.slug}.xml").content)
    assert root.tag == "service_definition"
    assert [a.findtext("code") for a in root.findall("attributes/attribute")] == [
        "size", "depth", "danger"]
    missing = client.get(f"{BASE}/services/nope.json")
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": "unknown service_code 'nope'"}]


def test_requests_list_public_reports_with_open311_fields(client, category):
    public = make(category, title="Publiczne")
    make(category, title="Czeka", publish=False)
    rows = client.get(f"{BASE}/requests.json").json()
    assert [r["service_request_id"] for r in rows] == [str(public.pk)]
    row = rows[0]
    assert row["status"] == "open" and row["service_code"] == category.slug
    assert row["lat"] == LAT and row["long"] == LON
    assert row["description"].startswith("Publiczne")
    assert datetime.datetime.fromisoformat(row["requested_datetime"]).tzinfo is not None
    assert set(row) == {"service_request_id", "status", "status_notes", "service_name",
                        "service_code", "description", "agency_responsible", "service_notice",
                        "requested_datetime", "updated_datetime", "expected_datetime",
                        "address", "address_id", "zipcode", "lat", "long", "media_url"}
    services.set_status(public, None, "rejected", "Poza kompetencją miasta.")
    row = client.get(f"{BASE}/requests/{public.pk}.json").json()[0]
    assert row["status"] == "closed" and row["status_notes"] == "Poza kompetencją miasta."
    root = ET.fromstring(client.get(f"{BASE}/requests/{public.pk}.xml").content)
    assert root.tag == "service_requests"
    assert root.find("request/status").text == "closed"


def test_request_filters(client, category):
    other = testing.category(slug="light-test", name_pl="Latarnia")
    a = make(category, title="A")
    b = make(other, title="B", status="fixed")
    old = make(category, title="Stare",
               created_at=timezone.now() - datetime.timedelta(days=200))

    def ids(query):
        response = client.get(f"{BASE}/requests.json?{query}")
        assert response.status_code == 200, response.content
        return sorted(int(r["service_request_id"]) for r in response.json())

    assert ids("") == sorted([a.pk, b.pk])  # the last 90 days by default
    assert ids(f"service_code={other.slug}") == [b.pk]
    assert ids("status=open") == [a.pk]
    assert ids("status=closed") == [b.pk]
    assert ids("status=open,closed") == sorted([a.pk, b.pk])
    start = (timezone.now() - datetime.timedelta(days=220)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (timezone.now() - datetime.timedelta(days=150)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(f"start_date={start}&end_date={end}") == [old.pk]
    # service_request_id overrides every other parameter.
    assert ids(f"service_request_id={old.pk},{a.pk}&status=closed") == sorted([a.pk, old.pk])

    for bad, message in (("status=pending", "status"), ("start_date=yesterday", "start_date"),
                         ("service_request_id=1,x", "service_request_id"),
                         (f"start_date={end}&end_date={start}", "before"),
                         (f"start_date={start}&end_date=2099-01-01T00:00:00Z", "90 days")):
        response = client.get(f"{BASE}/requests.json?{bad}")
        assert response.status_code == 400, bad
        assert message in response.json()[0]["description"]
    assert client.get(f"{BASE}/requests.yaml").status_code == 404
    assert client.get(f"{BASE}/requests/{10**9}.json").status_code == 404
    assert client.get(f"{BASE}/requests/abc.xml").status_code == 404
    assert ET.fromstring(client.get(f"{BASE}/requests/abc.xml").content).tag == "errors"
    assert client.delete(f"{BASE}/requests.json").status_code == 405


def post(client, data, ip="10.9.0.1", fmt="json"):
    return client.post(f"{BASE}/requests.{fmt}", data, REMOTE_ADDR=ip)


def good(category, **extra):
    return {"service_code": category.slug, "lat": str(LAT), "long": str(LON),
            "email": "klient@example.org", "first_name": "Jan", "phone": "+48 600 000 000",
            "description": "Dziura w jezdni\nprzy fontannie na Rynku.",
            "attribute[size]": "large", "attribute[depth]": "12", "attribute[danger]": "true",
            **extra}


def test_post_files_a_report_that_waits_for_moderation(client, category):
    response = post(client, good(category))
    assert response.status_code == 200, response.content
    body = response.json()
    report = Report.objects.get(pk=int(body[0]["service_request_id"]))
    assert "moderation" in body[0]["service_notice"]
    assert (report.channel, report.state) == ("open311", "pending")
    assert report.title == "Dziura w jezdni"
    assert report.answers == {"size": "large", "depth": 12, "danger": True}
    assert report.email == "klient@example.org"
    # Names and phone numbers are not asked for and not kept.
    assert "Jan" not in str(Report.objects.filter(pk=report.pk).values().get())
    assert client.get(f"{BASE}/requests/{report.pk}.json").status_code == 404
    services.publish(report, None)
    assert client.get(f"{BASE}/requests/{report.pk}.json").status_code == 200
    xml = post(client, good(category, **{"email": "inny@example.org"}), fmt="xml")
    assert ET.fromstring(xml.content).find("request/service_request_id").text.isdigit()


@pytest.mark.parametrize("change,message", [
    ({"service_code": "nope"}, "service_code"),
    ({"lat": "", "long": ""}, "lat, long"),
    ({"lat": "abc"}, "lat, long"),
    ({"lat": "52.2297", "long": "21.0122"}, "outside the city"),
    ({"description": "short"}, "description"),
    ({"email": ""}, "email"),
    ({"email": "not-an-email"}, "email"),
    ({"attribute[size]": ""}, "attribute[size]: This answer is required."),
    ({"attribute[size]": "huge"}, "attribute[size]: Choose one of: small, large."),
    ({"attribute[depth]": "deep"}, "attribute[depth]: Enter a number."),
    ({"website": "http://spam.example"}, "could not be accepted"),
])
def test_post_refuses_bad_input_and_stores_nothing(client, category, change, message):
    response = post(client, good(category, **change))
    assert response.status_code == 400
    error = response.json()[0]
    assert error["code"] == 400 and message in error["description"]
    assert Report.objects.count() == 0


def test_post_refused_for_a_category_that_needs_a_photo(client):
    category = testing.category(photo_required=True)
    response = post(client, good(category))
    assert response.status_code == 400 and "photo" in response.json()[0]["description"]
    assert Report.objects.count() == 0


def test_post_is_rate_limited_per_ip_and_email(client, category, settings):
    settings.REPORTS_RATE_LIMITS = {"ip": (2, 3600), "email": (1, 3600)}
    assert post(client, good(category)).status_code == 200
    limited = post(client, good(category), ip="10.9.0.2")
    assert limited.status_code == 429 and "Retry-After" in limited
    assert post(client, good(category, email="b@example.org")).status_code == 200
    assert post(client, good(category, email="c@example.org")).status_code == 429
    assert Report.objects.count() == 2
