"""A moderator in headless Chromium: logs in, publishes a pending report, covers part of its
photo by dragging a rectangle over it, sets a status with a public note; the resident's page
then shows the status history and the redacted photo."""

import io

import pytest
from django.contrib.auth.models import User
from PIL import Image

from layers.models import Layer
from reports import geo, photos, services, testing
from reports.models import Report
from tests.e2e.browser import page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

LON, LAT = testing.RYNEK
SLUG = "e2e-test-moderation"
PASSWORD = "Moderator-e2e-Secret-42"


@pytest.fixture(scope="module")
def pending(live_url, django_db_blocker):
    with django_db_blocker.unblock():
        had_layer = Layer.objects.filter(slug="zgloszenia").exists()
        category = testing.category(slug=SLUG, name_pl="Graffiti (test e2e)")
        user = testing.moderator("e2e-moderator")
        user.set_password(PASSWORD)
        user.save()
        photo = photos.process(testing.jpeg(800, 600, colour=(40, 90, 220)), max_pixels=10**7,
                               max_side=1600)
        report = services.submit(category=category, geom=geo.point(LON, LAT),
                                 title="Napis na murze", description="Graffiti z numerem auta.",
                                 answers={}, email="mur@example.org", processed_photos=[photo])
    yield report
    with django_db_blocker.unblock():
        testing.purge([SLUG], drop_layer=not had_layer)
        User.objects.filter(username="e2e-moderator").delete()


def test_moderator_publishes_redacts_and_sets_status(live_url, artifacts, pending):
    with page(live_url) as pg:
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"{live_url}/admin/login/?next=/reports/moderate/")
        pg.fill("#id_username", "e2e-moderator")
        pg.fill("#id_password", PASSWORD)
        pg.click("input[type=submit]")
        pg.wait_for_url(f"{live_url}/reports/moderate/")
        pg.click(f"a[href='/reports/moderate/{pending.pk}/']")
        pg.wait_for_selector("#publish")
        pg.click("#publish")
        pg.wait_for_selector(".rp-messages")
        assert "opublikowane" in pg.inner_text("#state")

        pg.click("summary:has-text('Zdjęcie 1')")
        img = pg.locator(".redact-wrap img")
        img.wait_for()
        pg.wait_for_function("document.querySelector('.redact-wrap img').naturalWidth > 0")
        img.scroll_into_view_if_needed()
        box = img.bounding_box()
        pg.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25)
        pg.mouse.down()
        pg.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=8)
        pg.mouse.up()
        form = pg.locator("form[id^=redact-]")
        rect = [int(form.locator(f"input[name={n}]").input_value())
                for n in ("x", "y", "width", "height")]
        # The drag, in the image's own pixels (800 × 600), whatever size it is shown at.
        assert abs(rect[0] - 200) <= 8 and abs(rect[1] - 150) <= 8
        assert abs(rect[2] - 280) <= 10 and abs(rect[3] - 150) <= 10
        pg.screenshot(path=str(artifacts / "reports-redaction.png"))
        form.locator("button[type=submit]").click()
        pg.wait_for_selector(".rp-messages")

        pg.select_option("select[name=status]", "in_progress")
        pg.fill("textarea[name=reason]", "Zlecono usunięcie napisu.")
        pg.click("form:has(select[name=status]) button[type=submit]")
        pg.wait_for_selector(".rp-messages")

        pg.goto(f"{live_url}/reports/{pending.pk}/")
        history = pg.inner_text("#history")
        assert "w realizacji" in history and "Zlecono usunięcie napisu." in history
        assert "opublikowane po moderacji" in history
        assert "zamaskowane" not in history  # redaction is internal
        pg.wait_for_function("document.querySelector('.rp-photos img').naturalWidth > 0")
        assert pg.foreign_requests == [] and errors == []

    report = Report.objects.get(pk=pending.pk)
    assert (report.state, report.status) == ("published", "in_progress")
    assert list(report.events.values_list("kind", flat=True)) == [
        "submitted", "published", "redacted", "status"]
    assert report.events.get(kind="redacted").data["box"] == rect
    with report.photos.get().file.open("rb") as f:
        img = Image.open(io.BytesIO(f.read())).convert("RGB")
    x, y, w, h = rect
    assert max(img.getpixel((x + w // 2, y + h // 2))) < 20  # covered: black
    assert img.getpixel((50, 50))[2] > 180  # elsewhere still blue
