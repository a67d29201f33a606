"""A resident's path on a phone (375 x 812, touch, the phone's location in Kielce), in Polish and
in English: open the map, find one's district's value (by "my location", and by the search),
report a problem at that place (a first send refused, then a good one), and follow the report,
still waiting for moderation, through the private link. Expected figures come from the
database, read before the browser starts."""

import json
import re
import urllib.request

import pytest
from django.contrib.gis.geos import Point
from django.test import Client

from indicators.models import Indicator, IndicatorValue
from layers.models import Feature, Layer
from portal import areas as area_lib
from reports import testing
from reports.models import Report
from tests.e2e.browser import page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

LON, LAT = testing.RYNEK
SLUG = "e2e-path-bench"
PHONE = {"width": 375, "height": 812, "has_touch": True, "is_mobile": True,
         "geolocation": {"latitude": LAT, "longitude": LON, "accuracy": 15},
         "permissions": ["geolocation"]}
WORDS = {
    "pl": {"district": "Okręg {n}", "search": "okręg 3", "found": "Okręg 3",
           "value": "Wartość", "summary": "Zgłoszenie nie zostało wysłane",
           "category": "Kategoria", "pending": "Czeka na moderację", "status": "nowe",
           "title": "Złamana ławka przy fontannie"},
    "en": {"district": "District {n}", "search": "district 3", "found": "District 3",
           "value": "Value", "summary": "The report was not sent",
           "category": "Category", "pending": "Awaiting moderation", "status": "new",
           "title": "Broken bench by the fountain"},
}


@pytest.fixture(scope="module")
def category(live_url, django_db_blocker):
    """A category whose reports wait for a moderator: the private link is the reporter's only
    view of them."""
    with django_db_blocker.unblock():
        had_layer = Layer.objects.filter(slug="zgloszenia").exists()
        category = testing.category(slug=SLUG, name_pl="Zniszczona ławka (test e2e)",
                                    name_en="Broken bench (e2e test)", trusted=False)
    yield category
    with django_db_blocker.unblock():
        testing.purge([SLUG], drop_layer=not had_layer)


def _expected(live_url):
    """The map's first view (from its own config) and, for the district holding the phone's
    position, the value the panel must show; read before the browser runs."""
    with urllib.request.urlopen(f"{live_url}/") as r:
        html = r.read().decode()
    cfg = json.loads(re.search(r'<script id="map-config" type="application/json">(.*?)'
                               r"</script>", html, re.S).group(1))
    code, areas, period = (cfg["state"][k] for k in ("indicator", "areas", "period"))
    layer = Layer.objects.get(slug=areas)
    fid = Feature.objects.filter(layer=layer, geom__intersects=Point(LON, LAT, srid=4326)
                                 ).values_list("id", flat=True).first()
    area = next(a for a in area_lib.all_areas()[areas] if a.id == fid)
    ind = Indicator.objects.get(code=code)
    rows = sorted(IndicatorValue.objects.filter(indicator=ind, area_id=fid, period=period),
                  key=lambda v: (v.source != ind.source, v.source))
    return {"areas": areas, "slug": area.slug, "number": area.slug.split("-")[-1],
            "value": rows[0].value, "decimals": ind.decimals}


def _digits(text: str) -> str:
    return re.sub(r"[^\d,.]", "", text)


def _figure(value, decimals, lang):
    rounded = round(value, decimals)
    text = f"{rounded:.{decimals}f}".rstrip("0").rstrip(".") if decimals else str(int(rounded))
    return text.replace(".", ",") if lang == "pl" else text


SHEET = """() => {
  const box = e => document.querySelector(e).getBoundingClientRect();
  const map = box("#map"), sheet = document.getElementById("detail");
  const s = sheet.getBoundingClientRect();
  const links = Array.from(sheet.querySelectorAll(".links a")).map(a => a.getBoundingClientRect());
  return {mapTop: Math.max(map.top, 0), mapBottom: map.bottom, sheetTop: s.top,
          sheetVisibleBottom: s.top + sheet.clientHeight, scrollTop: sheet.scrollTop,
          viewport: innerHeight, links: links.map(r => [r.top, r.bottom]),
          width: document.documentElement.scrollWidth};
}"""


@pytest.mark.parametrize("lang", ["pl", "en"])
def test_a_resident_finds_their_districts_value_reports_a_problem_and_follows_it(
        live_url, artifacts, category, lang):
    want = _expected(live_url)
    w = WORDS[lang]
    errors = []
    with page(live_url, **PHONE) as pg:
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"{live_url}/language/{lang}/?next=/")
        assert pg.locator("html").get_attribute("lang") == lang
        pg.wait_for_function("document.body.dataset.ready && document.body.dataset.tiles")
        # The heading and its one-line introduction are visible; the map opens on districts.
        assert pg.locator(".map-head h1").is_visible() and pg.locator("#map-intro").is_visible()
        assert pg.input_value("#areas") == want["areas"] == "okregi-wyborcze"
        pg.screenshot(path=str(artifacts / f"path-{lang}-1-map.png"))

        # 1. The search: another district by its name.
        pg.fill("#search-q", w["search"])
        pg.tap("#search button[type=submit]")
        pg.locator("#search-results button.result").first.wait_for()
        pg.locator("#search-results button.result", has_text=w["found"]).first.tap()
        pg.wait_for_function("document.body.dataset.area === 'okreg-3'")
        assert pg.locator("#detail-title").inner_text() == w["found"]

        # 2. My location: the district the phone stands in, with its value.
        pg.tap("#locate")
        pg.wait_for_function(f"document.body.dataset.area === {json.dumps(want['slug'])}")
        pg.wait_for_selector("#detail:not([hidden]) .figures dd.value")
        pg.wait_for_timeout(400)  # the fit to the district settles
        title = pg.locator("#detail-title").inner_text()
        value = pg.locator("#detail .figures dd.value").inner_text()
        layout = pg.evaluate(SHEET)
        pg.screenshot(path=str(artifacts / f"path-{lang}-2-my-district.png"))
        assert title == w["district"].format(n=want["number"])
        assert _digits(value).startswith(_figure(want["value"], want["decimals"], lang)), value
        # The sheet leaves most of the map visible above it...
        visible = layout["sheetTop"] - layout["mapTop"]
        assert visible >= 0.4 * (layout["mapBottom"] - layout["mapTop"]), layout
        assert layout["sheetTop"] >= 0.5 * layout["viewport"], layout
        # ...and its links are in reach without scrolling inside it.
        assert layout["scrollTop"] == 0 and layout["links"], layout
        assert all(top >= layout["sheetTop"] and bottom <= layout["sheetVisibleBottom"]
                   for top, bottom in layout["links"]), layout
        assert layout["width"] <= 375

        # 3. Report a problem at that place: the form opens with the place chosen.
        pg.locator("#detail a.report").tap()
        pg.wait_for_url(re.compile(r".*/reports/new/\?lat=.*"))
        pg.wait_for_selector("#pick-map.leaflet-container")
        assert float(pg.input_value("#id_lat")) == pytest.approx(LAT, abs=1e-5)
        assert float(pg.input_value("#id_lon")) == pytest.approx(LON, abs=1e-5)
        assert pg.locator("#pick-map .leaflet-marker-icon").count() == 1
        pg.fill("#id_title", w["title"])
        pg.fill("#id_description", "Deska siedziska pęknięta, wystają gwoździe.")
        pg.fill("#id_email", f"path-{lang}@example.org")
        pg.set_input_files("#id_photos", files=[{
            "name": "IMG_0002.jpg", "mimeType": "image/jpeg",
            "buffer": testing.jpeg(800, 600, colour=(120, 90, 40))}])
        # A first send without a category: refused, everything kept, the summary says why.
        pg.tap("button[type=submit].primary")
        pg.wait_for_selector("#error-summary")
        pg.wait_for_function("document.activeElement && "
                             "document.activeElement.id === 'error-summary'")
        summary = pg.locator("#error-summary").inner_text()
        assert w["summary"] in summary and w["category"] in summary
        assert pg.locator('#error-summary a[href="#id_category"]').count() == 1
        assert pg.input_value("#id_title") == w["title"]
        assert pg.evaluate("document.getElementById('id_photos').files.length") == 1
        assert pg.locator("#photos-again").count() == 0
        pg.screenshot(path=str(artifacts / f"path-{lang}-3-refused.png"), full_page=True)
        pg.select_option("#id_category", SLUG)
        pg.tap("button[type=submit].primary")
        pg.wait_for_url(f"{live_url}/reports/thanks/")

        # 4. Follow it through the private link, while it waits for moderation.
        follow = pg.get_attribute("#follow-link", "href")
        assert "/reports/follow/" in follow
        assert pg.evaluate("document.documentElement.scrollWidth") <= 375
        pg.screenshot(path=str(artifacts / f"path-{lang}-4-thanks.png"), full_page=True)
        pg.locator("#follow-link").tap()
        pg.wait_for_url(follow)
        assert pg.locator("h1").inner_text() == w["title"]
        assert pg.locator("#report-status").inner_text().strip().lower() == w["status"]
        assert w["pending"] in pg.locator("#report-state").inner_text()
        assert pg.locator('meta[name="robots"]').get_attribute("content") == "noindex, nofollow"
        assert pg.locator("nav.site a[href='/reports/']").count() == 1
        assert pg.evaluate("document.documentElement.scrollWidth") <= 375
        pg.screenshot(path=str(artifacts / f"path-{lang}-5-follow.png"), full_page=True)
        assert pg.foreign_requests == [] and errors == []

    report = Report.objects.get(category__slug=SLUG, title=w["title"])
    assert report.state == Report.State.PENDING and report.lang == lang
    assert report.photos.count() == 1
    assert (round(report.geom.x, 5), round(report.geom.y, 5)) == (round(LON, 5), round(LAT, 5))
    assert Client().get(f"/reports/{report.pk}/").status_code == 404  # not public yet
    assert Client().get(follow.removeprefix(live_url)).status_code == 200
