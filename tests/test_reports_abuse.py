"""Abuse protection of the report form, "me too" and Open311: rate limits per IP and per email,
the honeypot, file types judged by content, size and pixel limits (decompression bombs), damaged
images, HTML injection, and photo metadata stripping. Every refusal stores nothing."""

import io
import time

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image

from reports import geo, photos, services, testing
from reports.models import Photo, Report, Supporter

pytestmark = pytest.mark.django_db

LON, LAT = testing.RYNEK


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """Rate-limit windows start at a fixed instant: a test never straddles two windows."""
    from reports import ratelimit

    monkeypatch.setattr(ratelimit, "_now", lambda: 1_800_000_000.0)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    cache.clear()
    return tmp_path


@pytest.fixture
def category():
    return testing.category(trusted=True)


def post(client, category, ip="10.0.0.1", files=(), **extra):
    data = {"category": category.slug, "lat": f"{LAT}", "lon": f"{LON}",
            "title": "Dziura na Rynku", "description": "Głęboka dziura przy fontannie.",
            "email": "mieszkaniec@example.org", "duplicates_seen": "on", **extra}
    if files:
        data["photos"] = list(files)
    return client.post("/reports/new/", data, REMOTE_ADDR=ip)


def upload(data: bytes, name="photo.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def nothing_stored(media):
    return (Report.objects.count() == 0 and Photo.objects.count() == 0
            and not [p for p in media.rglob("*") if p.is_file()])


# --- rate limits ---------------------------------------------------------------------------

def test_rate_limit_per_ip(client, category, settings, media):
    settings.REPORTS_RATE_LIMITS = {"ip": (2, 3600), "email": (100, 3600)}
    for n in range(2):
        assert post(client, category, email=f"r{n}@example.org").status_code == 302
    response = post(client, category, email="r3@example.org")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert "Zbyt wiele" in response.content.decode() or "Too many" in response.content.decode()
    assert Report.objects.count() == 2
    # Another address is not affected.
    assert post(client, category, ip="10.0.0.2", email="r4@example.org").status_code == 302


def test_rate_limit_per_email_across_addresses(client, category, settings):
    settings.REPORTS_RATE_LIMITS = {"ip": (100, 3600), "email": (2, 3600)}
    for n in range(2):
        assert post(client, category, ip=f"10.0.1.{n}").status_code == 302
    assert post(client, category, ip="10.0.1.9").status_code == 429
    # The email is compared case-insensitively.
    assert post(client, category, ip="10.0.1.10",
                email="MIESZKANIEC@example.org").status_code == 429
    assert Report.objects.count() == 2


def test_rate_limit_window_expires(client, category, settings, monkeypatch):
    from reports import ratelimit

    clock = [1_000_020.0]  # a window starts here: no sleeping, no boundary races
    monkeypatch.setattr(ratelimit, "_now", lambda: clock[0])
    settings.REPORTS_RATE_LIMITS = {"ip": (1, 60), "email": (100, 3600)}
    assert post(client, category, email="a@example.org").status_code == 302
    clock[0] += 59
    response = post(client, category, email="b@example.org")
    assert response.status_code == 429 and response["Retry-After"] == "1"
    clock[0] += 1
    assert post(client, category, email="c@example.org").status_code == 302


def test_rate_limit_applies_to_me_too(client, category, settings):
    settings.REPORTS_RATE_LIMITS = {"ip": (2, 3600), "email": (100, 3600)}
    report = services.submit(category=category, geom=geo.point(LON, LAT), title="Coś",
                             description="Opis opisu.", answers={}, email="a@example.org")
    for _ in range(2):
        assert client.post(f"/reports/{report.pk}/support/", {}, REMOTE_ADDR="10.0.2.1"
                           ).status_code == 302
    assert client.post(f"/reports/{report.pk}/support/", {}, REMOTE_ADDR="10.0.2.1"
                       ).status_code == 429
    assert Supporter.objects.count() == 2


def test_rate_limit_keys_hold_no_personal_data(category, settings):
    from reports import ratelimit

    settings.REPORTS_RATE_LIMITS = {"ip": (5, 3600), "email": (5, 3600)}
    ratelimit.hit("email", "tajny@example.org")
    ratelimit.hit("ip", "192.0.2.77")
    keys = list(cache._cache.keys())  # local-memory cache in tests
    assert keys and not any("tajny" in k or "192.0.2.77" in k for k in keys)


# --- honeypot ------------------------------------------------------------------------------

def test_honeypot_filled_is_refused_and_nothing_stored(client, category, media):
    response = post(client, category, website="http://spam.example", files=[
        upload(testing.jpeg())])
    assert response.status_code == 400
    assert nothing_stored(media)
    report = services.submit(category=category, geom=geo.point(LON, LAT), title="Coś",
                             description="Opis opisu.", answers={}, email="a@example.org")
    assert client.post(f"/reports/{report.pk}/support/", {"website": "x"}).status_code == 400
    assert Supporter.objects.count() == 0


def test_honeypot_is_hidden_from_people(client, category):
    page = client.get("/reports/new/").content.decode()
    assert 'class="hp" aria-hidden="true"' in page
    assert 'name="website"' in page and 'tabindex="-1"' in page


# --- files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,data,content_type", [
    ("photo.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg"),
    ("photo.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/png"),
    ("photo.jpg", b"%PDF-1.4\n1 0 obj<<>>endobj\n", "image/jpeg"),
    ("photo.webp", b"MZ\x90\x00" + b"\x00" * 200, "image/webp"),
])
def test_non_images_disguised_by_extension_are_refused(client, category, media, name, data,
                                                       content_type):
    response = post(client, category, files=[upload(data, name, content_type)])
    assert response.status_code == 400
    assert "JPEG, PNG" in response.content.decode()
    assert nothing_stored(media)


def test_an_image_of_another_format_is_refused_whatever_its_name(client, category, media):
    gif = io.BytesIO()
    Image.new("RGB", (50, 50), "blue").save(gif, "GIF")
    response = post(client, category, files=[upload(gif.getvalue(), "photo.jpg")])
    assert response.status_code == 400 and nothing_stored(media)


def test_a_real_png_named_jpg_is_accepted_and_stored_as_a_fresh_jpeg(client, category, media):
    response = post(client, category, files=[upload(testing.png(), "photo.jpg")])
    assert response.status_code == 302
    photo = Photo.objects.get()
    stored = (media / photo.file.name).read_bytes()
    assert photos.sniff(stored) == "JPEG"
    img = Image.open(io.BytesIO(stored))
    assert img.size == (320, 240) and img.mode == "RGB"


def test_webp_is_accepted(client, category):
    webp = testing.jpeg(fmt="WEBP", gps=False)
    assert post(client, category, files=[upload(webp, "p.webp", "image/webp")]).status_code == 302


def test_oversized_file_is_refused(client, category, settings, media):
    settings.REPORTS_MAX_PHOTO_BYTES = 1024 * 1024
    settings.REPORTS_MAX_FORM_BYTES = 10 * 1024 * 1024  # so that the per-file limit decides
    noisy = Image.effect_noise((1500, 1500), 80).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "JPEG", quality=95)
    assert len(out.getvalue()) > 1024 * 1024
    response = post(client, category, files=[upload(out.getvalue(), "big.jpg")])
    assert response.status_code == 400
    assert "big.jpg: plik jest większy niż 1 MB." in response.content.decode()
    assert nothing_stored(media)
    assert post(client, category, files=[upload(testing.jpeg(200, 100))]).status_code == 302


def test_decompression_bombs_are_refused_before_decoding(client, category, media):
    for width, height in ((50_000, 50_000), (12_000, 9_000), (7_000, 7_000)):
        bomb = testing.png_bomb(width, height)
        assert len(bomb) < 100_000  # tiny on the wire
        started = time.perf_counter()
        response = post(client, category, files=[upload(bomb, "bomb.png", "image/png")])
        assert response.status_code == 400, (width, height)
        assert "megapiks" in response.content.decode() or "megapixels" in \
            response.content.decode()
        assert time.perf_counter() - started < 5  # refused from the header, not decoded
    assert nothing_stored(media)


def test_pixel_limit_is_a_setting(settings):
    settings.REPORTS_MAX_PHOTO_PIXELS = 100 * 100
    with pytest.raises(photos.PhotoError) as exc:
        photos.process(testing.jpeg(101, 100), max_pixels=100 * 100, max_side=1600)
    assert exc.value.code == "too_many_pixels" and "101×100" in str(exc.value)
    assert photos.process(testing.jpeg(100, 100), max_pixels=100 * 100, max_side=1600).width \
        == 100


def test_damaged_image_is_refused(client, category, media):
    truncated = testing.jpeg(800, 600)[:400]
    response = post(client, category, files=[upload(truncated)])
    assert response.status_code == 400
    assert nothing_stored(media)


def test_more_than_three_photos_are_refused(client, category, media):
    files = [upload(testing.jpeg(), f"p{i}.jpg") for i in range(4)]
    response = post(client, category, files=files)
    assert response.status_code == 400
    assert nothing_stored(media)
    files = [upload(testing.jpeg(), f"p{i}.jpg") for i in range(3)]
    assert post(client, category, files=files).status_code == 302
    assert Photo.objects.count() == 3


def test_large_photos_are_scaled_down(client, category, media):
    assert post(client, category, files=[upload(testing.jpeg(4000, 3000))]).status_code == 302
    photo = Photo.objects.get()
    assert (photo.width, photo.height) == (1600, 1200)
    assert Image.open(media / photo.file.name).size == (1600, 1200)


def test_exif_is_stripped_unless_the_resident_keeps_the_location(client, category, media):
    assert post(client, category, files=[upload(testing.jpeg())]).status_code == 302
    stored = Image.open(media / Photo.objects.get().file.name)
    assert dict(stored.getexif()) == {}
    assert Photo.objects.get().has_location is False

    Report.objects.all().delete()
    assert post(client, category, files=[upload(testing.jpeg())],
                keep_photo_location="on").status_code == 302
    stored = Image.open(media / Photo.objects.get().file.name)
    exif = stored.getexif()
    assert exif.get_ifd(ExifTags.IFD.GPSInfo)[2] == testing.GPS[2]
    # Only the location: no camera make or serial number.
    assert ExifTags.Base.Make not in exif and ExifTags.Base.BodySerialNumber not in exif
    assert Photo.objects.get().has_location is True


# The segments a clean JPEG may hold: start, JFIF header, tables, frame, scan, end. Metadata lives
# in APP1 (EXIF, XMP), APP2 (ICC), APP13 (IPTC) and COM segments, none of which may be stored.
IMAGE_SEGMENTS = {0xD8, 0xE0, 0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xDD, 0xDA}


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment up to the first scan, read from the bytes."""
    assert data[:2] == b"\xff\xd8"
    segments, i = [(0xD8, b"")], 2
    while True:
        assert data[i] == 0xFF, f"no segment marker at byte {i}"
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2:i + 4], "big")
        segments.append((marker, data[i + 4:i + 2 + length]))
        if marker == 0xDA:  # the scan: entropy-coded pixels follow
            return segments
        i += 2 + length


def jpeg_with_every_kind_of_metadata() -> bytes:
    from PIL import ImageCms

    img = Image.open(io.BytesIO(testing.jpeg()))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
           b'22-rdf-syntax-ns#"><rdf:Description>XMP-SECRET Jan Kowalski</rdf:Description>'
           b'</rdf:RDF></x:xmpmeta>')
    out = io.BytesIO()
    img.save(out, "JPEG", exif=img.getexif(), icc_profile=icc, xmp=xmp,
             comment=b"COMMENT-SECRET tel. 600 100 200")
    data = out.getvalue()
    markers = {m for m, _ in jpeg_segments(data)}
    assert {0xE1, 0xE2, 0xFE} <= markers  # EXIF/XMP, ICC and the comment are really there
    return data


def test_stored_photos_keep_no_metadata_segment_at_all(client, category, media):
    assert post(client, category, files=[upload(jpeg_with_every_kind_of_metadata())]
                ).status_code == 302
    stored = (media / Photo.objects.get().file.name).read_bytes()
    markers = [m for m, _ in jpeg_segments(stored)]
    assert set(markers) <= IMAGE_SEGMENTS, [hex(m) for m in markers]
    for secret in (b"COMMENT-SECRET", b"XMP-SECRET", b"TestCam", b"SERIAL-12345"):
        assert secret not in stored


def test_a_kept_location_is_the_only_metadata_stored(client, category, media):
    assert post(client, category, files=[upload(jpeg_with_every_kind_of_metadata())],
                keep_photo_location="on").status_code == 302
    stored = (media / Photo.objects.get().file.name).read_bytes()
    segments = jpeg_segments(stored)
    extra = [(m, p) for m, p in segments if m not in IMAGE_SEGMENTS]
    assert [m for m, _ in extra] == [0xE1] and extra[0][1].startswith(b"Exif\x00\x00")
    for secret in (b"COMMENT-SECRET", b"XMP-SECRET", b"TestCam", b"SERIAL-12345"):
        assert secret not in stored
    exif = Image.open(io.BytesIO(stored)).getexif()
    assert set(exif) == {ExifTags.IFD.GPSInfo}


# --- HTML injection ------------------------------------------------------------------------

def test_html_in_reports_is_escaped_on_every_page(client, category):
    title = '<script>alert("t")</script>'
    description = '<img src=x onerror="alert(1)"> & <b>bold</b>'
    assert post(client, category, title=title, description=description,
                **{}).status_code == 302
    report = Report.objects.get()
    moderator = testing.moderator()
    services.reply(report, moderator, '<iframe src="javascript:alert(2)"></iframe>')
    pages = [client.get("/reports/"), client.get(f"/reports/{report.pk}/")]
    client.force_login(moderator)
    pages += [client.get("/reports/moderate/?state=all"),
              client.get(f"/reports/moderate/{report.pk}/")]
    for response in pages:
        html = response.content.decode()
        assert response.status_code == 200
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "<iframe" not in html and "<b>bold" not in html
    detail = pages[1].content.decode()
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in detail
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in detail
    # JSON for the map carries the text as data; the page script writes it with textContent.
    assert client.get("/reports/map.geojson").json()["features"][0]["properties"]["title"] == title
    xml = client.get("/open311/v2/requests.xml").content.decode()
    assert "<script>" not in xml and "&lt;script&gt;" in xml


def test_the_page_scripts_never_write_html():
    from pathlib import Path

    import reports

    static = Path(reports.__file__).parent / "static" / "reports"
    for script in static.glob("*.js"):
        text = script.read_text()
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, script.name
        assert "document.write" not in text, script.name


def test_a_body_larger_than_any_report_can_need_is_refused_unread(client, category, settings,
                                                                  media):
    settings.REPORTS_MAX_PHOTO_BYTES = 100_000
    settings.REPORTS_MAX_FORM_BYTES = 10_000
    # 3 × 100 kB + 10 kB is the most a report can need; this body is larger.
    files = [upload(b"\xff\xd8\xff" + b"\x00" * 120_000, f"p{i}.jpg") for i in range(3)]
    response = post(client, category, files=files)
    assert response.status_code == 413
    assert nothing_stored(media)
    report = services.submit(category=category, geom=geo.point(LON, LAT), title="Coś",
                             description="Opis opisu.", answers={}, email="a@example.org")
    response = client.post(f"/reports/{report.pk}/support/", {"email": "x" * 20_000})
    assert response.status_code == 413 and Supporter.objects.count() == 0
    response = client.post("/open311/v2/requests.json", {"description": "x" * 400_000})
    assert response.status_code == 413 and response.json()[0]["code"] == 413
    assert Report.objects.count() == 1


def test_out_of_range_ids_are_404(client):
    huge = 10 ** 30
    assert client.get(f"/reports/{huge}/").status_code == 404
    assert client.post(f"/reports/{huge}/support/").status_code == 404
    assert client.get(f"/open311/v2/requests/{huge}.json").status_code == 404
    assert client.get(f"/open311/v2/requests.json?service_request_id={huge}").json() == []
