"""Filing a report on a phone (375 px wide) in headless Chromium: tap the map, use the phone's
location, pick a category, attach a photo, send; then the report's page and the clustered map.
Nothing is fetched from outside the server."""

import io

import pytest
from PIL import Image

from layers.models import Layer
from reports import geo, services, testing
from reports.models import Report
from tests.e2e.browser import page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

LON, LAT = testing.RYNEK
SLUG = "e2e-test-pothole"
OTHER = "e2e-test-light"
PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def category(live_url, django_db_blocker):
    with django_db_blocker.unblock():
        had_layer = Layer.objects.filter(slug="zgloszenia").exists()
        category = testing.category(slug=SLUG, name_pl="Dziura (test e2e)", trusted=True,
                                    photo_required=True)
        # Another category's report a few metres away: not a duplicate, but on the map the two
        # points make a cluster.
        other = testing.category(slug=OTHER, name_pl="Latarnia (test e2e)", trusted=True)
        services.submit(category=other, geom=geo.point(LON + 0.00005, LAT), title="Latarnia",
                        description="Nie świeci od tygodnia.", answers={},
                        email="inny@example.org")
    yield category
    with django_db_blocker.unblock():
        testing.purge([SLUG, OTHER], drop_layer=not had_layer)


# Records the map animations (Leaflet's zoom, markercluster's regrouping) that run once the
# reports map says it is ready.
ANIMATIONS_AFTER_READY = """
window.animationsAfterReady = [];
new MutationObserver(() => {
  const map = document.getElementById("reports-map");
  if (!map || !map.hasAttribute("data-loaded")) { return; }
  for (const name of ["leaflet-zoom-anim", "leaflet-cluster-anim"]) {
    if (map.querySelector("." + name) && !window.animationsAfterReady.includes(name)) {
      window.animationsAfterReady.push(name);
    }
  }
}).observe(document, {subtree: true, childList: true, attributes: true});
"""


def no_horizontal_scroll(pg) -> bool:
    return pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_file_a_report_with_a_photo_on_a_phone(live_url, artifacts, category):
    with page(live_url, **PHONE) as pg:
        pg.context.grant_permissions(["geolocation"], origin=live_url)
        pg.context.set_geolocation({"latitude": LAT, "longitude": LON, "accuracy": 10})
        pg.goto(f"{live_url}/reports/new/")
        assert pg.locator("html").get_attribute("lang") == "pl"
        pg.wait_for_selector("#pick-map.leaflet-container")

        # A tap on the map chooses a point...
        box = pg.locator("#pick-map").bounding_box()
        pg.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        pg.wait_for_function("document.getElementById('id_lat').value !== ''")
        tapped = float(pg.input_value("#id_lat"))
        assert 50.7 < tapped < 51.0
        # ...and the phone's location moves it to where the resident stands.
        pg.click("#locate")
        pg.wait_for_function(
            f"Math.abs(parseFloat(document.getElementById('id_lat').value) - {LAT}) < 1e-5")
        assert float(pg.input_value("#id_lon")) == pytest.approx(LON, abs=1e-5)
        assert "Znaleziono lokalizację" in pg.inner_text("#point-status")

        pg.select_option("#id_category", SLUG)
        assert pg.is_visible("#photo-required")
        pg.wait_for_selector("#nearby:not([hidden])")
        assert "Brak podobnych" in pg.inner_text("#nearby")

        pg.fill("#id_title", "Dziura przed ratuszem")
        pg.fill("#id_description", "Duża dziura w chodniku, łatwo się potknąć.")
        pg.fill("#id_email", "telefon@example.org")
        pg.set_input_files("#id_photos", files=[{
            "name": "IMG_0001.jpg", "mimeType": "image/jpeg",
            "buffer": testing.jpeg(1200, 900, colour=(30, 160, 60))}])
        assert no_horizontal_scroll(pg)
        pg.screenshot(path=str(artifacts / "reports-form-phone.png"), full_page=True)

        pg.click("button[type=submit].primary")
        pg.wait_for_url(f"{live_url}/reports/thanks/")
        assert "Dziękujemy" in pg.inner_text("main")
        assert pg.locator("a", has_text="Zobacz swoje zgłoszenie").count() == 1

        assert pg.foreign_requests == []

    # Django refuses database calls while Playwright's event loop runs: check between pages.
    report = Report.objects.get(category__slug=SLUG)
    assert report.title == "Dziura przed ratuszem" and report.is_public
    assert (round(report.geom.x, 5), round(report.geom.y, 5)) == (round(LON, 5),
                                                                   round(LAT, 5))
    photo = report.photos.get()
    with photo.file.open("rb") as f:
        stored = Image.open(io.BytesIO(f.read()))
        assert dict(stored.getexif()) == {} and stored.size == (1200, 900)

    with page(live_url, **PHONE) as pg:
        pg.goto(f"{live_url}/reports/{report.pk}/")
        pg.wait_for_function("document.querySelector('.rp-photos img').naturalWidth > 0")
        pg.wait_for_selector("#report-map.leaflet-container")
        assert "Dziura przed ratuszem" in pg.inner_text("h1")
        assert "zgłoszono" in pg.inner_text("#history")
        assert no_horizontal_scroll(pg)
        pg.screenshot(path=str(artifacts / "reports-detail-phone.png"), full_page=True)

        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.add_init_script(ANIMATIONS_AFTER_READY)
        pg.goto(f"{live_url}/reports/")
        pg.wait_for_selector("#reports-map[data-loaded]")
        assert int(pg.get_attribute("#reports-map", "data-loaded")) >= 2
        # Ready means settled: a tap during a zoom or cluster animation is ignored.
        pg.wait_for_timeout(500)
        assert pg.evaluate("window.animationsAfterReady") == []
        # The two reports 4 m apart are one cluster at the map's zoom; zooming in splits it.
        cluster = pg.locator(".marker-cluster")
        assert cluster.count() >= 1 and "2" in cluster.first.inner_text()
        cluster.first.click()
        pg.wait_for_function("document.querySelectorAll('.leaflet-marker-icon:not("
                             ".marker-cluster)').length >= 2")
        assert "Dziura przed ratuszem" in pg.inner_text(".rp-list")
        assert no_horizontal_scroll(pg)
        pg.screenshot(path=str(artifacts / "reports-list-phone.png"), full_page=True)
        assert pg.foreign_requests == [] and errors == []
