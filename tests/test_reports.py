"""Citizen reports: the whole flow (submit → moderate → publish → status updates), duplicates and
"me too", merging, redaction, editing, hiding, filters, statistics, languages."""

import datetime
import io

import numpy as np
import pytest
import shapely
from django.core.management import call_command
from django.utils import timezone
from PIL import Image
from pyproj import Transformer
from shapely import wkb as shapely_wkb

from layers.models import Feature, FeatureHistory, Layer
from reports import geo, services, stats, testing
from reports.layer import SCHEMA
from reports.models import Category, Department, Photo, Report, ReportEvent, Supporter

pytestmark = pytest.mark.django_db

LON, LAT = testing.RYNEK


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def fresh_limits():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Runs the on-commit work (emails, file clean-up) that the test transaction holds back."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def moderator(client):
    return testing.moderator()


def form_data(category, **extra):
    data = {"category": category.slug, "lat": f"{LAT}", "lon": f"{LON}",
            "title": "Dziura na Rynku", "description": "Głęboka dziura przy fontannie.",
            "email": "mieszkaniec@example.org", "duplicates_seen": "on"}
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def upload(data: bytes, name="photo.jpg", content_type="image/jpeg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def submit(client, category, **extra):
    return client.post("/reports/new/", form_data(category, **extra))


def feature_of(report) -> Feature | None:
    report.refresh_from_db()
    return Feature.objects.filter(pk=report.feature_id).first() if report.feature_id else None


def act(client, report, action, **data):
    return client.post(f"/reports/moderate/{report.pk}/", {"action": action, **data})


def test_submit_moderate_publish_and_update_status(client, moderator, commit, mailoutbox):
    category = testing.category(questions=[
        {"name": "size", "type": "choice", "required": True, "label_pl": "Wielkość",
         "label_en": "Size", "choices": [{"key": "small", "label_pl": "mała"},
                                         {"key": "large", "label_pl": "duża"}]}])
    with commit():
        response = submit(client, category, photos=[upload(testing.jpeg())],
                          **{"q-pothole-test-size": "large"})
    assert response.status_code == 302 and response["Location"] == "/reports/thanks/"
    report = Report.objects.get()
    assert (report.state, report.status) == ("pending", "new")
    assert report.answers == {"size": "large"}
    assert report.photos.count() == 1
    assert "numer" in client.get("/reports/thanks/").content.decode()  # "Twoje zgłoszenie ma numer"

    # Awaiting moderation: invisible to the public on every page, absent from the layer.
    assert client.get(f"/reports/{report.pk}/").status_code == 404
    assert "Dziura na Rynku" not in client.get("/reports/").content.decode()
    assert feature_of(report) is None
    photo = report.photos.get()
    assert client.get(f"/reports/photos/{photo.key}.jpg").status_code == 404
    assert [m.to for m in mailoutbox] == [["mieszkaniec@example.org"]]  # confirmation

    client.force_login(moderator)
    assert "Dziura na Rynku" in client.get("/reports/moderate/").content.decode()
    with commit():
        assert act(client, report, "publish").status_code == 302
    report.refresh_from_db()
    assert report.state == "published" and report.published_at is not None
    # The mail links to the site's public address (PUBLIC_BASE_URL), not to a relative path.
    from django.conf import settings
    assert f"{settings.PUBLIC_BASE_URL}/reports/{report.pk}/" in mailoutbox[-1].body
    client.logout()

    page = client.get(f"/reports/{report.pk}/").content.decode()
    assert "Dziura na Rynku" in page and "duża" in page  # the answer, as its label
    assert client.get(f"/reports/photos/{photo.key}.jpg").status_code == 200
    feature = feature_of(report)
    assert feature.layer.slug == "zgloszenia"
    assert feature.properties["status"] == "new" and feature.properties["report_id"] == report.pk
    assert (round(feature.geom.x, 6), round(feature.geom.y, 6)) == (LON, LAT)

    client.force_login(moderator)
    for status in ("confirmed", "in_progress"):
        with commit():
            assert act(client, report, "status", status=status, reason="").status_code == 302
    with commit():
        assert act(client, report, "status", status="fixed",
                   reason="Załatane 2 listopada.").status_code == 302
        assert act(client, report, "reply", text="Dziękujemy za zgłoszenie!").status_code == 302
    report.refresh_from_db()
    assert report.status == "fixed" and report.fixed_at is not None
    kinds = list(report.events.values_list("kind", "status"))
    assert kinds == [("submitted", ""), ("published", ""), ("status", "confirmed"),
                     ("status", "in_progress"), ("status", "fixed"), ("reply", "")]

    feature = feature_of(report)
    assert feature.properties["status"] == "fixed"
    assert feature.properties["fixed"] == timezone.localdate(report.fixed_at).isoformat()
    assert feature.properties["days_to_fix"] >= 0
    history = FeatureHistory.objects.filter(feature_id=feature.pk, channel="reports")
    assert history.count() == 1 + 4  # created on publish, updated per status change and reply

    client.logout()
    page = client.get(f"/reports/{report.pk}/").content.decode()
    for text in ("potwierdzone", "w realizacji", "naprawione", "Załatane 2 listopada.",
                 "Dziękujemy za zgłoszenie!"):
        assert text in page
    # Every status change and the reply reached the reporter.
    updates = [m for m in mailoutbox if "Załatane" in m.body or "Dziękujemy" in m.body]
    assert updates and all(m.to == ["mieszkaniec@example.org"] for m in mailoutbox)
    assert len(mailoutbox) == 1 + 1 + 4  # received, published, 3 statuses, 1 reply


def test_rejection_needs_a_reason_and_changes_nothing_without_one(client, moderator):
    report = services.submit(category=testing.category(trusted=True),
                             geom=geo.point(LON, LAT), title="Coś", description="Opis opisu.",
                             answers={}, email="a@example.org")
    client.force_login(moderator)
    response = act(client, report, "status", status="rejected", reason="  ")
    assert response.status_code == 409
    assert "a rejection needs a reason" in response.content.decode()
    report.refresh_from_db()
    assert report.status == "new" and report.events.filter(kind="status").count() == 0
    assert act(client, report, "status", status="rejected",
               reason="Teren prywatny, nie miejski.").status_code == 302
    report.refresh_from_db()
    assert report.status == "rejected" and report.status_reason == "Teren prywatny, nie miejski."
    client.logout()
    assert "Teren prywatny, nie miejski." in client.get(f"/reports/{report.pk}/").content.decode()
    assert feature_of(report).properties["status"] == "rejected"


def test_trusted_category_is_public_at_once(client):
    category = testing.category(trusted=True)
    assert submit(client, category).status_code == 302
    report = Report.objects.get()
    assert report.is_public
    assert client.get(f"/reports/{report.pk}/").status_code == 200
    assert feature_of(report) is not None


def test_new_report_is_assigned_to_the_category_department(client, commit, mailoutbox):
    department = Department.objects.create(name_pl="Miejski Zarząd Dróg (test)",
                                           email="mzd@example.org")
    category = testing.category(department=department, trusted=True)
    with commit():
        submit(client, category)
    report = Report.objects.get()
    assert report.department == department
    assert report.events.filter(kind="assigned", text=department.name_pl).exists()
    assert feature_of(report).properties["department"] == department.name_pl
    assert "Miejski Zarząd Dróg (test)" in client.get(f"/reports/{report.pk}/").content.decode()


def test_assignment_by_moderator_emails_the_department(client, moderator, commit, mailoutbox):
    department = Department.objects.create(name_pl="Wydział testowy", email="dept@example.org")
    report = services.submit(category=testing.category(), geom=geo.point(LON, LAT),
                             title="Coś", description="Opis opisu.", answers={},
                             email="a@example.org")
    client.force_login(moderator)
    with commit():
        assert act(client, report, "assign", department=department.pk).status_code == 302
    assert [m.to for m in mailoutbox] == [["dept@example.org"]]
    assert "a@example.org" not in mailoutbox[0].body  # the department needs no reporter email
    assert act(client, report, "assign", department=department.pk).status_code == 409


def test_extra_questions_are_validated_and_typed(client):
    category = testing.category(trusted=True, questions=[
        {"name": "lamp", "type": "text", "required": True, "label_pl": "Numer latarni"},
        {"name": "count", "type": "number", "label_pl": "Ile"},
        {"name": "danger", "type": "boolean", "label_pl": "Groźne"},
    ])
    response = submit(client, category, **{"q-pothole-test-count": "dużo"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Numer latarni: To pole jest wymagane." in body or "Numer latarni" in body
    assert "Podaj liczbę" in body or "Enter a number" in body
    assert Report.objects.count() == 0

    response = submit(client, category, **{"q-pothole-test-lamp": "KL-123",
                                           "q-pothole-test-count": "2,5",
                                           "q-pothole-test-danger": "true"})
    assert response.status_code == 302
    assert Report.objects.get().answers == {"lamp": "KL-123", "count": 2.5, "danger": True}


def test_photo_required_category_refuses_a_report_without_photo(client):
    category = testing.category(photo_required=True)
    response = submit(client, category)
    assert response.status_code == 400
    assert Report.objects.count() == 0
    assert submit(client, category, photos=[upload(testing.jpeg())]).status_code == 302


def test_point_outside_the_city_is_refused(client):
    category = testing.category()
    lon, lat = testing.WARSAW
    response = submit(client, category, lat=str(lat), lon=str(lon))
    assert response.status_code == 400
    assert Report.objects.count() == 0
    response = submit(client, category, lat="abc", lon=None)
    assert response.status_code == 400 and Report.objects.count() == 0


# --- duplicates -------------------------------------------------------------------------------

def _report(category, lon=LON, lat=LAT, public=True, **fields):
    report = services.submit(category=category, geom=geo.point(lon, lat),
                             title=fields.pop("title", "Istniejące zgłoszenie"),
                             description="Opis istniejącego zgłoszenia.", answers={},
                             email=fields.pop("email", "first@example.org"))
    if public and not report.is_public:
        report = services.publish(report, None)
    for name, value in fields.items():
        setattr(report, name, value)
    if fields:
        report.save(update_fields=list(fields))
    return report


def _metres_east(lon, lat, metres):
    to_m = Transformer.from_crs(4326, 2180, always_xy=True)
    to_deg = Transformer.from_crs(2180, 4326, always_xy=True)
    x, y = to_m.transform(lon, lat)
    return to_deg.transform(x + metres, y)


def test_nearby_suggests_open_public_reports_of_the_category_within_its_radius(client):
    category = testing.category(duplicate_radius_m=50)
    other = testing.category(slug="light-test", name_pl="Latarnia")
    near = _report(category, *_metres_east(LON, LAT, 30), title="Blisko")
    _report(category, *_metres_east(LON, LAT, 80), title="Za daleko")
    _report(other, LON, LAT, title="Inna kategoria")
    _report(category, LON, LAT, title="Naprawione", status="fixed")
    _report(category, LON, LAT, public=False, title="Niemoderowane")

    body = client.get(f"/reports/nearby.json?category={category.slug}&lat={LAT}&lon={LON}").json()
    assert body["radius"] == 50
    assert [r["title"] for r in body["reports"]] == ["Blisko"]
    assert body["reports"][0]["id"] == near.pk
    assert 25 <= body["reports"][0]["distance_m"] <= 35  # metres on the ground
    assert "email" not in str(body)

    assert client.get("/reports/nearby.json?category=nope&lat=1&lon=1").status_code == 400
    assert client.get(f"/reports/nearby.json?category={category.slug}&lat=x&lon=1"
                      ).status_code == 400
    assert client.get(f"/reports/nearby.json?category={category.slug}&lat=91&lon=1"
                      ).status_code == 400


def test_form_shows_duplicates_once_then_accepts_the_report(client):
    category = testing.category()
    existing = _report(category, title="Ta sama dziura")
    response = submit(client, category, duplicates_seen=None)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Ta sama dziura" in page and f"/reports/{existing.pk}/support/" in page
    assert Report.objects.count() == 1  # nothing filed yet
    assert 'name="duplicates_seen" value="on"' in page or 'value="True"' in page
    # Submitting again (the resident saw them and goes on) files the report.
    assert submit(client, category, duplicates_seen="on").status_code == 302
    assert Report.objects.count() == 2


def test_me_too_instead_of_a_new_report(client, commit, mailoutbox, moderator):
    category = testing.category()
    report = _report(category)
    response = client.post(f"/reports/{report.pk}/support/", {"email": "sasiad@example.org"})
    assert response.status_code == 302
    assert Supporter.objects.filter(report=report, email="sasiad@example.org").count() == 1
    assert report.events.filter(kind="me_too").count() == 1
    assert feature_of(report).properties["supporters"] == 1
    page = client.get(f"/reports/{report.pk}/").content.decode()
    assert "sasiad@example.org" not in page
    # Supporters get the updates too.
    client.force_login(moderator)
    with commit():
        act(client, report, "status", status="confirmed", reason="Sprawdzone na miejscu.")
    assert sorted(m.to[0] for m in mailoutbox) == ["first@example.org", "sasiad@example.org"]
    client.logout()
    # A closed report takes no more "me too"s; unpublished ones do not exist for the public.
    services.set_status(report, moderator, "fixed")
    assert client.post(f"/reports/{report.pk}/support/", {}).status_code == 409
    pending = _report(category, public=False)
    assert client.post(f"/reports/{pending.pk}/support/", {}).status_code == 404
    assert client.post(f"/reports/{report.pk}/support/", {"email": "zły adres"}
                       ).status_code == 400


# --- moderation -------------------------------------------------------------------------------

def test_merge_folds_a_duplicate_into_the_earlier_report(client, moderator, commit, mailoutbox):
    category = testing.category()
    first = _report(category, title="Pierwsze", email="first@example.org")
    dup = _report(category, title="Duplikat", email="second@example.org")
    assert feature_of(dup) is not None
    client.force_login(moderator)
    assert act(client, dup, "merge", into=dup.pk).status_code == 409
    assert act(client, dup, "merge", into=999999).status_code == 400
    with commit():
        assert act(client, dup, "merge", into=first.pk).status_code == 302
    dup.refresh_from_db()
    assert dup.merged_into == first and feature_of(dup) is None
    assert feature_of(first).properties["supporters"] == 1
    assert first.events.filter(kind="merged_from", data__from=dup.pk).exists()
    assert act(client, dup, "merge", into=first.pk).status_code == 409  # already merged
    assert act(client, dup, "publish").status_code == 409
    client.logout()
    response = client.get(f"/reports/{dup.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/reports/{first.pk}/"
    assert "Duplikat" not in client.get("/reports/").content.decode()
    # The duplicate's reporter now follows the first report.
    mailoutbox.clear()
    with commit():
        services.set_status(first, moderator, "in_progress")
    assert sorted(m.to[0] for m in mailoutbox) == ["first@example.org", "second@example.org"]


def test_redaction_destroys_the_covered_part_and_is_recorded(client, moderator, commit, media):
    category = testing.category(trusted=True)
    submit(client, category, photos=[upload(testing.jpeg(400, 300, colour=(200, 40, 40)))])
    report = Report.objects.get()
    photo = report.photos.get()
    old_key, old_path = photo.key, media / photo.file.name
    assert old_path.exists()
    client.force_login(moderator)

    # A rectangle that leaves the image is refused; the photo stays as it was.
    response = act(client, report, "redact", photo=photo.pk, x=350, y=0, width=100, height=10)
    assert response.status_code == 400
    photo.refresh_from_db()
    assert photo.key == old_key

    with commit():
        response = act(client, report, "redact", photo=photo.pk, x=100, y=50, width=120,
                       height=80)
    assert response.status_code == 302
    photo.refresh_from_db()
    assert photo.key != old_key and not old_path.exists()
    img = Image.open(io.BytesIO(client.get(f"/reports/photos/{photo.key}.jpg").getvalue()))
    assert img.size == (400, 300)
    inside, outside = img.getpixel((160, 90)), img.getpixel((20, 20))
    assert max(inside) < 20  # black
    assert outside[0] > 150 and outside[1] < 90  # still red
    assert client.get(f"/reports/photos/{old_key}.jpg").status_code == 404
    event = report.events.get(kind="redacted")
    assert event.data == {"photo": 1, "box": [100, 50, 120, 80]} and not event.public
    assert event.user == moderator
    client.logout()
    assert "photo redacted" not in client.get(f"/reports/{report.pk}/").content.decode()


def test_remove_photo(client, moderator, commit, media):
    submit(client, testing.category(trusted=True), photos=[upload(testing.jpeg())])
    report = Report.objects.get()
    photo = report.photos.get()
    client.force_login(moderator)
    with commit():
        assert act(client, report, "remove_photo", photo=photo.pk).status_code == 302
    assert not Photo.objects.exists() and not (media / photo.file.name).exists()
    assert feature_of(report).properties["photos"] == 0
    assert act(client, report, "remove_photo", photo=photo.pk).status_code == 409


def test_edit_keeps_the_old_text_for_moderators_only(client, moderator):
    report = _report(testing.category(), title="Stary tytuł")
    client.force_login(moderator)
    response = act(client, report, "edit", title="Nowy tytuł",
                   description="Poprawiony opis zgłoszenia.")
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.title == "Nowy tytuł"
    assert feature_of(report).properties["title"] == "Nowy tytuł"
    event = report.events.get(kind="edited")
    assert event.data["before"]["title"] == "Stary tytuł"
    assert "Stary tytuł" in client.get(f"/reports/moderate/{report.pk}/").content.decode()
    client.logout()
    page = client.get(f"/reports/{report.pk}/").content.decode()
    assert "Nowy tytuł" in page and "Stary tytuł" not in page
    assert "edytowana przez moderatora" in page or "edited by a moderator" in page


def test_hide_takes_the_report_off_every_public_page(client, moderator):
    submit(client, testing.category(trusted=True), photos=[upload(testing.jpeg())])
    report = Report.objects.get()
    key = report.photos.get().key
    feature_id = feature_of(report).pk
    client.force_login(moderator)
    assert act(client, report, "hide", reason="Wulgaryzmy").status_code == 302
    assert act(client, report, "hide", reason="").status_code == 409
    client.logout()
    assert client.get(f"/reports/{report.pk}/").status_code == 404
    assert client.get(f"/reports/photos/{key}.jpg").status_code == 404
    assert not Feature.objects.filter(pk=feature_id).exists()
    assert report.events.get(kind="hidden").public is False
    # Publishing again brings it back.
    services.publish(report, moderator)
    assert client.get(f"/reports/{report.pk}/").status_code == 200
    assert feature_of(report) is not None


def test_moderation_needs_the_permission(client, django_user_model):
    report = _report(testing.category(), public=False)
    response = client.get(f"/reports/moderate/{report.pk}/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert act(client, report, "publish").status_code == 302
    report.refresh_from_db()
    assert report.state == "pending"
    staff = django_user_model.objects.create_user("staff", password="x-Secret-123",
                                                  is_staff=True)
    client.force_login(staff)
    assert client.get("/reports/moderate/").status_code == 403
    assert act(client, report, "publish").status_code == 403
    assert client.get(f"/reports/{report.pk}/").status_code == 404
    report.refresh_from_db()
    assert report.state == "pending"


def test_unknown_action_and_bad_input_are_4xx(client, moderator):
    report = _report(testing.category())
    client.force_login(moderator)
    assert act(client, report, "explode").status_code == 400
    assert act(client, report, "status", status="done").status_code == 400
    assert act(client, report, "reply", text="").status_code == 400
    assert client.get("/reports/moderate/?state=weird").status_code == 400
    assert client.get("/reports/moderate/999999/").status_code == 404
    assert report.events.count() == 2  # submitted, published


# --- public list, filters -------------------------------------------------------------------

def test_list_and_map_filter_by_category_status_district_and_date(client):
    pothole = testing.category()
    light = testing.category(slug="light-test", name_pl="Latarnia")
    districts = geo.districts()
    assert len(districts) == 5
    a = _report(pothole, title="Dziura w centrum")
    b = _report(light, title="Latarnia w centrum", status="fixed")
    # A point inside another district: its representative point.
    other = next(d for d in districts if not d.geom.intersects(a.geom))
    inner = other.geom.point_on_surface
    c = _report(pothole, inner.x, inner.y, title="Dziura gdzie indziej")
    Report.objects.filter(pk=c.pk).update(created_at=timezone.now() - datetime.timedelta(days=40))

    def titles(query):
        geojson = client.get(f"/reports/map.geojson?{query}").json()
        page = client.get(f"/reports/?{query}").content.decode()
        found = sorted(f["properties"]["title"] for f in geojson["features"])
        for title in found:
            assert title in page
        return found

    assert titles("") == ["Dziura gdzie indziej", "Dziura w centrum", "Latarnia w centrum"]
    assert titles(f"category={pothole.slug}") == ["Dziura gdzie indziej", "Dziura w centrum"]
    assert titles("status=fixed") == ["Latarnia w centrum"]
    home = next(d for d in districts if d.geom.intersects(a.geom))
    assert titles(f"district={home.pk}") == ["Dziura w centrum", "Latarnia w centrum"]
    assert titles(f"district={other.pk}") == ["Dziura gdzie indziej"]
    since = (timezone.localdate() - datetime.timedelta(days=7)).isoformat()
    assert titles(f"since={since}") == ["Dziura w centrum", "Latarnia w centrum"]
    until = (timezone.localdate() - datetime.timedelta(days=30)).isoformat()
    assert titles(f"until={until}") == ["Dziura gdzie indziej"]

    for bad in ("status=done", "category=nope", "district=abc", "district=1",
                "since=yesterday", f"since={since}&until={until}"):
        assert client.get(f"/reports/?{bad}").status_code == 400, bad
        assert client.get(f"/reports/map.geojson?{bad}").status_code == 400, bad
    assert b.pk and c.pk


def test_pages_are_polish_by_default_and_english_on_request(client, settings):
    testing.category()
    page = client.get("/reports/new/").content.decode()
    assert '<html lang="pl">' in page and "Zgłoś problem" in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get("/reports/new/").content.decode()
    assert '<html lang="en">' in page and "Report a problem" in page
    assert "Pothole (test)" in page


# --- data use -------------------------------------------------------------------------------

def test_layer_schema_and_feature_properties_validate(client):
    report = _report(testing.category())
    layer = Layer.objects.get(slug="zgloszenia")
    assert layer.schema == SCHEMA and layer.geometry_type == "Point"
    assert layer.visibility == "public"
    feature = feature_of(report)
    assert layer.validate_properties(feature.properties) == []
    assert set(feature.properties) <= {f["name"] for f in SCHEMA["fields"]}
    assert feature.properties["year"] == str(timezone.localdate(report.created_at).year)
    district = geo.district_of(report.geom)
    assert feature.properties["district"] == district.name


def _area_km2(feature) -> float:
    geom = shapely_wkb.loads(bytes(feature.geom.wkb))
    to_2180 = Transformer.from_crs(4326, 2180, always_xy=True)
    projected = shapely.transform(
        geom, lambda xy: np.column_stack(to_2180.transform(xy[:, 0], xy[:, 1])))
    return projected.area / 1e6


def test_statistics_per_district_match_an_independent_computation(client, moderator):
    pothole = testing.category()
    light = testing.category(slug="light-test", name_pl="Latarnia")
    fixed_days = [2.0, 4.0, 9.0]
    made = []
    for days in fixed_days:
        r = _report(pothole)
        Report.objects.filter(pk=r.pk).update(
            status="fixed", created_at=timezone.now() - datetime.timedelta(days=days),
            fixed_at=timezone.now())
        made.append(r)
    _report(light)
    _report(pothole, status="rejected")  # rejected reports are not counted
    _report(pothole, public=False)  # nor unpublished ones

    districts = {d.pk: d for d in geo.districts()}
    home = next(d for d in districts.values()
                if d.geom.intersects(geo.point(LON, LAT)))
    density = {row["area_id"]: row for row in stats.reports_per_km2(category=pothole.slug)}
    assert set(density) == set(districts)
    for area_id, row in density.items():
        expected_count = 3 if area_id == home.pk else 0
        assert row["reports"] == expected_count
        assert row["value"] == pytest.approx(expected_count / _area_km2(districts[area_id]),
                                             rel=1e-6)
    all_categories = {r["area_id"]: r["reports"] for r in stats.reports_per_km2()}
    assert all_categories[home.pk] == 4

    median = {row["area_id"]: row["value"] for row in stats.median_days_to_fix()}
    assert median[home.pk] == pytest.approx(4.0, abs=0.01)
    assert all(v is None for k, v in median.items() if k != home.pk)
    assert stats.reports_per_km2(period="1999")[0]["reports"] == 0

    body = client.get(f"/reports/stats.json?category={pothole.slug}").json()
    assert {r["area_id"]: r["reports"] for r in body["density"]}[home.pk] == 3
    for bad in ("areas=biblioteki", "category=nope"):
        assert client.get(f"/reports/stats.json?{bad}").status_code == 400
    with pytest.raises(stats.StatsError):
        stats.reports_per_km2(period="20x6")
    assert made


def test_load_reports_config_creates_the_layer_and_categories_without_reports():
    assert not Layer.objects.filter(slug="zgloszenia").exists()
    call_command("load_reports_config", "kielce", verbosity=0)
    layer = Layer.objects.get(slug="zgloszenia")
    assert layer.publisher == "Urząd Miasta Kielce" and layer.attribution
    assert Category.objects.filter(slug="pothole").exists()
    assert Report.objects.count() == 0 and layer.features.count() == 0
    Category.objects.filter(slug="pothole").update(name_pl="Zmieniona w adminie")
    call_command("load_reports_config", "kielce", verbosity=0)  # idempotent, file wins
    assert Category.objects.get(slug="pothole").name_pl.startswith("Dziura")
    assert Category.objects.filter(slug="pothole").count() == 1


def test_every_change_is_in_the_history_with_its_author(client, moderator):
    report = _report(testing.category(), public=False)
    services.publish(report, moderator)
    services.set_status(report, moderator, "confirmed", "")
    services.reply(report, moderator, "Odpowiedź")
    services.hide(report, moderator, "powód")
    events = list(ReportEvent.objects.filter(report=report).order_by("at", "id"))
    assert [e.kind for e in events] == ["submitted", "published", "status", "reply", "hidden"]
    assert [e.user for e in events] == [None, moderator, moderator, moderator, moderator]


def test_the_reports_indicator_matches_the_statistics_function(client):
    """The indicator declared in fixtures/kielce/indicators.yaml (density over the reports
    layer) and reports.stats give the same numbers per district."""
    from indicators.computing import compute_indicator
    from indicators.models import Indicator, IndicatorValue

    indicator = Indicator.objects.get(code="citizen-reports-per-km2")
    compute_indicator(indicator)
    assert not IndicatorValue.objects.filter(indicator=indicator).exclude(value=None).exists()

    pothole = testing.category()
    for _ in range(3):
        _report(pothole)
    rejected = _report(pothole)
    services.set_status(rejected, None, "rejected", "Nie dotyczy miasta.")
    _report(pothole, public=False)
    compute_indicator(indicator)
    year = str(timezone.localdate().year)
    expected = {r["area_id"]: r["value"] for r in stats.reports_per_km2(period=year)}
    got = dict(IndicatorValue.objects.filter(
        indicator=indicator, area__layer__slug="okregi-wyborcze", period=year)
        .values_list("area_id", "value"))
    assert set(got) == set(expected)
    for area_id, value in expected.items():
        assert got[area_id] == pytest.approx(value, rel=1e-6)
    assert sum(1 for v in got.values() if v) == 1  # all four public reports in one district


def test_staff_manage_categories_in_the_admin_with_validated_questions(client,
                                                                       django_user_model):
    admin = django_user_model.objects.create_superuser("gis", "gis@example.org", None)
    client.force_login(admin)
    form = {"slug": "bench", "name_pl": "Ławka", "name_en": "Bench", "description_pl": "",
            "description_en": "", "duplicate_radius_m": "40", "order": "0", "active": "on",
            "questions": '[{"name": "Broken!", "type": "colour"}]'}
    response = client.post("/admin/reports/category/add/", form)
    assert response.status_code == 200
    assert "name must be lower-case letters" in response.content.decode()
    assert not Category.objects.filter(slug="bench").exists()
    form["questions"] = ('[{"name": "broken", "type": "boolean", "label_pl": "Zniszczona"}]')
    form["trusted"] = "on"
    assert client.post("/admin/reports/category/add/", form).status_code == 302
    bench = Category.objects.get(slug="bench")
    assert bench.trusted and bench.questions[0]["name"] == "broken"
    # Reports are looked up in the admin but changed only on the moderation page.
    report = _report(bench)
    listing = client.get("/admin/reports/report/").content.decode()
    assert f"/reports/moderate/{report.pk}/" in listing
    assert client.post(f"/admin/reports/report/{report.pk}/delete/", {"post": "yes"}
                       ).status_code == 403
    assert Report.objects.filter(pk=report.pk).exists()


def test_every_reports_string_has_a_polish_translation():
    import subprocess
    from pathlib import Path

    import reports

    po = Path(reports.__file__).parent / "locale" / "pl" / "LC_MESSAGES" / "django.po"
    result = subprocess.run(["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "translated messages" in result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
