"""The report form after a failed send (error summary linked to the fields, the text kept, no
"Latitude" for a resident told to tap the map), the hourly limit counting accepted reports only,
the 429 page, and the reporter's private link to a report that is not public yet."""

import re
from html import unescape

import pytest
from django.core import signing
from django.test import Client

from reports import follow, geo, services, testing
from reports.models import Report

pytestmark = pytest.mark.django_db

LON, LAT = testing.RYNEK


@pytest.fixture(autouse=True)
def clean(settings, tmp_path):
    from django.core.cache import cache

    settings.MEDIA_ROOT = tmp_path
    cache.clear()  # the rate limits
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Rate-limit windows start at a fixed instant: a test never straddles two windows."""
    from reports import ratelimit

    monkeypatch.setattr(ratelimit, "_now", lambda: 1_800_000_000.0)


def data(category, **extra):
    sent = {"category": category.slug, "lat": f"{LAT}", "lon": f"{LON}",
            "title": "Dziura na Rynku", "description": "Głęboka dziura przy fontannie.",
            "email": "mieszkaniec@example.org", "duplicates_seen": "on", **extra}
    return {k: v for k, v in sent.items() if v is not None}


def en() -> Client:
    c = Client()
    c.cookies["django_language"] = "en"
    return c


def summary(html: str) -> list[tuple[str, str]]:
    """(link target, text) of each item of the error summary."""
    box = re.search(r'<div class="rp-errors" id="error-summary".*?</div>', html, re.S)
    assert box, "no error summary"
    items = re.findall(r"<li>(.*?)</li>", box.group(0), re.S)
    found = []
    for item in items:
        link = re.search(r'<a href="#([^"]+)">', item)
        found.append((link.group(1) if link else "", " ".join(
            unescape(re.sub(r"<[^>]+>", "", item)).split())))
    return found


# --- a failed send ---------------------------------------------------------------------------

def test_a_failed_send_lists_every_problem_at_the_top_linked_to_its_field(client):
    category = testing.category(trusted=True)
    response = client.post("/reports/new/", data(
        category, lat=None, lon=None, title="Dz", email="not-an-email",
        description="Głęboka dziura <script>alert(1)</script> przy fontannie."))
    assert response.status_code == 400
    html = response.content.decode()
    items = summary(html)
    targets = [t for t, _ in items]
    assert targets == ["pick-map", "id_title", "id_email"], items
    place = items[0][1]
    assert place.startswith("Miejsce: ") and "dotknij mapy" in place.lower()
    # The resident was told to tap the map: no "Latitude" / "Szerokość" anywhere in the
    # problems, and the manual coordinates stay folded away.
    assert not re.search(r"Latitude|Szerokość", " ".join(t for _, t in items))
    assert "<details >" in html or "<details>" in html
    assert 'aria-describedby="place-help place-errors"' in html
    # The text is kept, escaped.
    assert "Głęboka dziura &lt;script&gt;alert(1)&lt;/script&gt; przy fontannie." in html
    assert "<script>alert(1)" not in html
    assert 'value="Dz"' in html and 'value="not-an-email"' in html
    assert Report.objects.count() == 0


def test_typed_coordinates_out_of_range_are_named_as_such_with_the_details_open(client):
    category = testing.category(trusted=True)
    html = client.post("/reports/new/", data(category, lat="95", lon="abc")).content.decode()
    items = summary(html)
    assert [t for t, _ in items] == ["id_lat", "id_lon"]
    assert items[0][1].startswith("Szerokość geograficzna") or "Latitude" in items[0][1]
    assert "<details open>" in html


def test_a_point_outside_the_city_points_to_the_map():
    category = testing.category(trusted=True)
    lon, lat = testing.WARSAW
    html = en().post("/reports/new/", data(category, lat=str(lat), lon=str(lon))).content.decode()
    assert summary(html) == [("pick-map", "Place: The point is outside the city. Tap a place "
                                          "on the map within the city boundary.")]


def test_question_errors_are_in_the_summary_and_next_to_the_question(client):
    category = testing.category(trusted=True, questions=[
        {"name": "lamp", "type": "text", "required": True, "label_pl": "Numer latarni"}])
    html = client.post("/reports/new/", data(category)).content.decode()
    assert ("id_q-pothole-test-lamp", "Numer latarni: To pole jest wymagane.") in summary(html) \
        or any(t == "id_q-pothole-test-lamp" for t, _ in summary(html))
    assert re.search(r'id="id_q-pothole-test-lamp"[^>]*aria-invalid="true"', html)
    assert 'id="id_q-pothole-test-lamp_error"' in html


def test_photos_sent_with_a_refused_form_must_be_chosen_again_and_the_page_says_so(client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    category = testing.category(trusted=True)
    html = client.post("/reports/new/", data(category, title="Dz", photos=[
        SimpleUploadedFile("a.jpg", testing.jpeg(), content_type="image/jpeg")])).content.decode()
    assert 'id="photos-again"' in html
    html = client.post("/reports/new/", data(category, title="Dz")).content.decode()
    assert 'id="photos-again"' not in html


def test_the_map_link_prefills_the_place(client):
    html = client.get("/reports/new/", {"lat": "50.87031", "lon": "20.62861"}).content.decode()
    assert 'value="50.87031"' in html and 'value="20.62861"' in html
    for bad in ({"lat": "nan", "lon": "1"}, {"lat": "200", "lon": "20"}, {"lat": "x"}):
        page = client.get("/reports/new/", bad)
        assert page.status_code == 200
        assert re.search(r'<input [^>]*name="lat"(?![^>]*value=)[^>]*>', page.content.decode())


# --- the hourly limit -------------------------------------------------------------------------

def test_refused_forms_do_not_count_against_the_hourly_limit(client, settings):
    settings.REPORTS_RATE_LIMITS = {"ip": (2, 3600), "email": (100, 3600),
                                    "attempts": (50, 3600)}
    category = testing.category(trusted=True)
    for _ in range(5):
        assert client.post("/reports/new/", data(category, title="Dz")).status_code == 400
    for n in range(2):
        assert client.post("/reports/new/", data(
            category, email=f"r{n}@example.org")).status_code == 302
    third = client.post("/reports/new/", data(category, email="r3@example.org"))
    assert third.status_code == 429 and Report.objects.count() == 2


def test_the_flood_guard_counts_every_form(client, settings):
    settings.REPORTS_RATE_LIMITS = {"ip": (20, 3600), "email": (100, 3600),
                                    "attempts": (3, 3600)}
    category = testing.category(trusted=True)
    for _ in range(3):
        assert client.post("/reports/new/", data(category, title="Dz")).status_code == 400
    assert client.post("/reports/new/", data(category)).status_code == 429
    assert Report.objects.count() == 0


@pytest.mark.parametrize("seconds_left, pl, en_text", [
    (40, "za 1 minutę", "in 1 minute."), (120, "za 2 minuty", "in 2 minutes."),
    (300, "za 5 minut", "in 5 minutes."), (1320, "za 22 minuty", "in 22 minutes."),
])
def test_the_429_page_keeps_the_text_and_says_when_with_the_right_plural(
        settings, monkeypatch, seconds_left, pl, en_text):
    from reports import ratelimit

    window = 3600
    monkeypatch.setattr(ratelimit, "_now", lambda: 1_800_000_000.0 // window * window
                        + window - seconds_left)
    settings.REPORTS_RATE_LIMITS = {"ip": (1, window), "email": (100, window)}
    category = testing.category(trusted=True)
    for client, expected in ((Client(), pl), (en(), en_text)):
        from django.core.cache import cache

        cache.clear()
        assert client.post("/reports/new/", data(category, email="a@example.org"),
                           REMOTE_ADDR="10.9.0.1").status_code == 302
        response = client.post("/reports/new/", data(
            category, title="Latarnia nie świeci", description="Od tygodnia ciemno."),
            REMOTE_ADDR="10.9.0.1")
        assert response.status_code == 429
        assert response["Retry-After"] == str(seconds_left)
        html = response.content.decode()
        assert expected in html, html[:3000]
        assert "minutes." not in html or expected.endswith("minutes.")
        # The resident's text is still in the form, ready to send later.
        assert 'value="Latarnia nie świeci"' in html and "Od tygodnia ciemno." in html
        assert 'id="report-form"' in html
    assert Report.objects.count() == 2


# --- the reporter's private link ------------------------------------------------------------------

def test_the_thank_you_page_links_to_a_private_page_that_follows_a_pending_report(client):
    category = testing.category()  # not trusted: waits for a moderator
    response = client.post("/reports/new/", data(category, title="Śmieci w parku"))
    assert response.status_code == 302
    report = Report.objects.get()
    assert not report.is_public
    thanks = client.get("/reports/thanks/")
    assert thanks["Cache-Control"] == "private, no-store"
    html = thanks.content.decode()
    link = re.search(r'<a id="follow-link" class="button" href="([^"]+)"', html).group(1)
    path = link.removeprefix("http://testserver")
    assert path == follow.path(report.pk) and path.startswith("/reports/follow/")
    # The public page stays 404 while the report is pending...
    assert Client().get(f"/reports/{report.pk}/").status_code == 404
    # ...the private one shows it to anyone holding the link, and only to them.
    page = Client().get(path)
    assert page.status_code == 200
    assert page["X-Robots-Tag"] == "noindex, nofollow"
    assert page["Referrer-Policy"] == "no-referrer"
    assert "no-store" in page["Cache-Control"] and "private" in page["Cache-Control"]
    body = page.content.decode()
    assert '<meta name="robots" content="noindex, nofollow">' in body
    assert "Śmieci w parku" in body and "Czeka na moderację" in body
    assert report.email not in body
    # Moderation and status changes show on it.
    moderator = testing.moderator()
    services.publish(report, moderator)
    services.set_status(report, moderator, Report.Status.IN_PROGRESS, "Zlecono sprzątanie.")
    body = Client().get(path).content.decode()
    assert f'href="/reports/{report.pk}/" id="public-link"' in body
    assert "Zlecono sprzątanie." in body


@pytest.mark.parametrize("token", ["1", "1.abc", "x" * 300, "%2e%2e", "1:sig"])
def test_a_forged_or_broken_follow_link_is_404(client, token):
    assert client.get(f"/reports/follow/{token}/").status_code == 404


def test_a_follow_link_cannot_be_made_for_another_report(client):
    category = testing.category()
    mine = services.submit(category=category, geom=geo.point(LON, LAT), title="Moje",
                           description="Opis mojego zgłoszenia.", answers={}, email="a@x.org")
    other = services.submit(category=category, geom=geo.point(LON, LAT), title="Cudze",
                            description="Opis cudzego zgłoszenia.", answers={}, email="b@x.org")
    signature = follow.token(mine.pk).split(".", 1)[1]
    assert client.get(f"/reports/follow/{other.pk}.{signature}/").status_code == 404
    other_salt = signing.Signer(salt="something.else", sep=".", algorithm="sha256")
    assert client.get(f"/reports/follow/{other_salt.sign(str(other.pk))}/").status_code == 404
    assert follow.report_id(follow.token(other.pk)) == other.pk


def test_the_confirmation_email_carries_the_private_link_to_the_reporter_only(
        client, mailoutbox, django_capture_on_commit_callbacks, settings):
    settings.PUBLIC_BASE_URL = "https://sdi.example.org"
    category = testing.category(trusted=True)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/reports/new/", data(category))
    report = Report.objects.get()
    link = f"https://sdi.example.org{follow.path(report.pk)}"
    assert [m.to for m in mailoutbox] == [[report.email]] and link in mailoutbox[0].body
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.support(report, "ktos@example.org")
        services.set_status(report, testing.moderator(), Report.Status.IN_PROGRESS, "W toku.")
    assert mailoutbox and all(link not in m.body for m in mailoutbox)


def test_the_429_page_says_the_photos_must_be_chosen_again(client, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.REPORTS_RATE_LIMITS = {"ip": (1, 3600), "email": (100, 3600)}
    category = testing.category(trusted=True)
    assert client.post("/reports/new/", data(category)).status_code == 302
    response = client.post("/reports/new/", data(category, title="Druga dziura", photos=[
        SimpleUploadedFile("b.jpg", testing.jpeg(), content_type="image/jpeg")]))
    html = response.content.decode()
    assert response.status_code == 429
    assert 'id="photos-again"' in html and "wybierz zdjęcia ponownie" in html
    assert 'value="Druga dziura"' in html
    assert Report.objects.count() == 1
