"""The resident map in headless Chromium against gunicorn: choropleth in the legend's colours,
recolouring, the area panel and feature attributes, the table equivalent, keyboard use, the
language switch, the page weight, and no request leaving the server. Expected figures come from
the database, read independently of the page."""

import io
import json
import re
import urllib.request

import pytest
from django.db import connection
from PIL import Image

from indicators.models import Indicator, IndicatorValue
from layers.models import Feature
from tests.e2e.browser import page

# django_db: pytest-django only sets up the test database for tests that ask for it.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

FIRST_VIEW_BUDGET = 500 * 1024


def _legend(live_url, code, areas, period=""):
    url = f"{live_url}/api/indicators/{code}/legend/?areas={areas}&period={period}"
    with urllib.request.urlopen(url) as r:
        return json.load(r)


def _colours_drawn(png: bytes, colours: list[str], opacity: float,
                   tolerance: int = 6) -> set[str]:
    """Legend colours found in the screenshot, as drawn at `opacity` over the white map."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    counts = {}
    for count, rgb in img.getcolors(maxcolors=1 << 20):
        counts[rgb] = counts.get(rgb, 0) + count
    found = set()
    for colour in colours:
        want = tuple(round(opacity * int(colour[i:i + 2], 16) + (1 - opacity) * 255)
                     for i in (1, 3, 5))
        pixels = sum(n for rgb, n in counts.items()
                     if all(abs(a - b) <= tolerance for a, b in zip(rgb, want, strict=True)))
        if pixels > 200:
            found.add(colour)
    return found


def _wait_for_map(pg, code=None):
    """Until the legend of `code` (any indicator if None) is shown and all its tiles loaded."""
    want = json.dumps(code) if code else "document.body.dataset.ready"
    pg.wait_for_function(f"document.body.dataset.ready && document.body.dataset.ready === {want}"
                         f" && document.body.dataset.tiles === {want}")
    pg.wait_for_selector("#legend-items li")
    pg.wait_for_selector("#map canvas")
    pg.wait_for_timeout(300)  # the last tile's canvas paints after the load event


def _inside(area_id):
    """A point PostGIS guarantees to be inside the area (lat, lon)."""
    with connection.cursor() as cur:
        cur.execute("SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_PointOnSurface(geom) p "
                    "FROM layers_feature WHERE id = %s) x", [area_id])
        return cur.fetchone()


def _click_at(pg, lat, lon):
    x, y = pg.evaluate("""([lat, lon]) => {
        const p = sdiMap.latLngToContainerPoint([lat, lon]);
        const r = document.getElementById("map").getBoundingClientRect();
        return [p.x + r.left, p.y + r.top]; }""", [lat, lon])
    pg.mouse.click(x, y)


def _area_id(slug):
    layer, n = {"okreg": ("okregi-wyborcze", "NR_OKR"), "obwod": ("obwody-glosowania", "OBWOD")}[
        slug.split("-")[0]]
    number = int(slug.split("-")[1])
    return next(f.id for f in Feature.objects.filter(layer__slug=layer)
                if int(f.properties[n]) == number)


def _value(code, area_id, period):
    ind = Indicator.objects.get(code=code)
    rows = sorted(IndicatorValue.objects.filter(indicator=ind, area_id=area_id, period=period),
                  key=lambda v: (v.source != ind.source, v.source))
    return rows[0].value if rows else None


def _digits(text):
    return re.sub(r"\D", "", text)


def _votes(value):
    """ "głosy" as it follows a whole number in Polish: 1 głos; 2-4 głosy, but 12-14 głosów;
    otherwise głosów."""
    n = round(value)
    if n == 1:
        return "głos"
    return "głosy" if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14) else "głosów"


def test_map_draws_precincts_in_legend_colours_light_and_offline(live_url, artifacts):
    code, areas = "schools-per-km2", "obwody-glosowania"
    legend = _legend(live_url, code, areas)
    colours = [c["colour"] for c in legend["classes"]]
    with page(live_url) as pg:
        pg.goto(f"{live_url}/?indicator={code}&areas={areas}")
        _wait_for_map(pg, code)
        png = pg.locator("#map").screenshot(path=str(artifacts / "map-precincts.png"))
        pg.screenshot(path=str(artifacts / "map-page.png"))
        opacity = json.loads(pg.locator("#map-config").text_content())["fillOpacity"]
        # Bytes over the wire for everything but the map tiles (headers included).
        weight = pg.evaluate("""() => {
            const nav = performance.getEntriesByType("navigation")[0];
            const rest = performance.getEntriesByType("resource")
              .filter(e => !e.name.includes("/tiles/"));
            return {total: nav.transferSize + rest.reduce((s, e) => s + e.transferSize, 0),
                    files: rest.map(e => [e.name, e.transferSize])}; }""")
        assert pg.foreign_requests == []
        assert pg.locator("html").get_attribute("lang") == "pl"
        assert "Wskaźnik" in pg.locator(".panel").inner_text()
        assert "brak danych" in pg.locator("#legend-items li.nodata").inner_text()
    (artifacts / "first-view-weight.json").write_text(json.dumps(weight, indent=1))
    sizes = {name.split("?")[0].rsplit("/", 1)[-1]: size for name, size in weight["files"]}
    assert sizes["leaflet.js"] > 100_000 and sizes["map.js"] > 0, weight  # really measured
    assert weight["total"] < FIRST_VIEW_BUDGET, weight
    drawn = _colours_drawn(png, colours, opacity)
    assert len(drawn) >= 3, f"legend colours drawn: {drawn} of {colours}"


def test_changing_the_indicator_recolours_the_areas(live_url, artifacts):
    areas = "obwody-glosowania"
    before_legend = _legend(live_url, "schools-per-km2", areas)
    after_legend = _legend(live_url, "area-km2", areas)
    before = {c["colour"] for c in before_legend["classes"]}
    after = {c["colour"] for c in after_legend["classes"]}
    assert before != after, "pick two indicators with different palettes"
    with page(live_url) as pg:
        pg.goto(f"{live_url}/?indicator=schools-per-km2&areas={areas}")
        _wait_for_map(pg, "schools-per-km2")
        opacity = json.loads(pg.locator("#map-config").text_content())["fillOpacity"]
        png1 = pg.locator("#map").screenshot()
        pg.select_option("#indicator", "area-km2")
        _wait_for_map(pg, "area-km2")
        png2 = pg.locator("#map").screenshot(path=str(artifacts / "map-recoloured.png"))
        assert "indicator=area-km2" in pg.url
        assert pg.locator("#legend-title").inner_text().startswith("Powierzchnia")
    assert len(_colours_drawn(png1, sorted(before), opacity)) >= 3
    drawn = _colours_drawn(png2, sorted(before | after), opacity)
    assert len(drawn & after) >= 3
    assert not drawn & (before - after), "colours of the previous indicator are still drawn"


def test_clicking_an_area_opens_the_panel_with_its_value_and_rank(live_url, artifacts):
    code, areas, period, slug = "budget-votes", "okregi-wyborcze", "2016", "okreg-2"
    area_id = _area_id(slug)
    expected = _value(code, area_id, period)
    expected_2017 = _value(code, area_id, "2017")
    others = [_value(code, f.id, period) for f in Feature.objects.filter(layer__slug=areas)]
    rank = 1 + sum(1 for v in others if v is not None and v > expected)  # higher is better
    # Every database read happens before the browser starts: Playwright's sync API runs an
    # event loop, in which Django refuses ORM calls.
    point = _inside(area_id)
    with page(live_url) as pg:
        pg.goto(f"{live_url}/?indicator={code}&areas={areas}&period={period}")
        _wait_for_map(pg, code)
        _click_at(pg, *point)
        pg.wait_for_selector("#detail:not([hidden]) .figures")
        pg.wait_for_timeout(300)
        pg.screenshot(path=str(artifacts / "map-area-panel.png"))
        title = pg.locator("#detail-title").inner_text()
        value = pg.locator("#detail .figures dd.value").inner_text()
        shown_rank = pg.locator("#detail .figures dd.rank").inner_text()
        panel = pg.locator("#detail").inner_text()
        href = pg.locator("#detail a.profile").get_attribute("href")
        assert f"area={slug}" in pg.url  # the open area is part of the shareable address
        assert pg.evaluate("document.activeElement.id") == "detail"
        assert pg.foreign_requests == []
    assert title == "Okręg 2"
    assert _digits(value) == str(round(expected))
    # The unit agrees with the whole number before it, in the value and in the trend.
    assert value.endswith(" " + _votes(expected))
    for year, votes in (("2016", expected), ("2017", expected_2017)):
        shown = re.search(year + r": ([\d\s]+?) (\w+)", panel)
        assert _digits(shown.group(1)) == str(round(votes))
        assert shown.group(2) == _votes(votes)
    assert _votes(expected) != _votes(expected_2017)  # both forms are checked
    assert shown_rank.startswith(f"{rank} z 5")
    assert "2016:" in panel and "2017:" in panel  # trend over the two editions
    assert "Budżet Obywatelski" in panel  # the source
    assert href == f"/districts/{slug}/"


def test_area_without_a_value_says_no_data_not_zero(live_url, artifacts):
    code, areas = "accessible-polling-stations", "obwody-glosowania"
    missing = (IndicatorValue.objects.filter(indicator__code=code, value__isnull=True,
                                             area__layer__slug=areas)
               .order_by("area_id").first())
    assert missing is not None
    point = _inside(missing.area_id)
    with page(live_url) as pg:
        pg.goto(f"{live_url}/?indicator={code}&areas={areas}")
        _wait_for_map(pg, code)
        _click_at(pg, *point)
        pg.wait_for_selector("#detail:not([hidden]) .figures")
        value = pg.locator("#detail .figures dd.value").inner_text()
        pg.screenshot(path=str(artifacts / "map-no-data.png"))
        assert pg.locator("#detail .figures dd.rank").count() == 0
    assert value == "brak danych"


def test_clicking_a_library_shows_its_attributes(live_url, artifacts):
    library = Feature.objects.filter(layer__slug="biblioteki").order_by("id").first()
    with page(live_url) as pg:
        pg.goto(f"{live_url}/?indicator=libraries&areas=okregi-wyborcze&layers=biblioteki")
        _wait_for_map(pg, "libraries")
        assert pg.locator('#overlays input[value="biblioteki"]').is_checked()
        _click_at(pg, library.geom.y, library.geom.x)
        pg.wait_for_selector('#detail[data-kind="feature"]:not([hidden])')
        pg.screenshot(path=str(artifacts / "map-feature.png"))
        text = pg.locator("#detail").inner_text()
    assert "Biblioteki" in text
    assert library.properties["NAZWA"] in text and library.properties["ULICA"] in text


def test_overlay_switcher_adds_and_removes_layers_in_the_address(live_url):
    with page(live_url) as pg:
        pg.goto(f"{live_url}/")
        _wait_for_map(pg)
        pg.check('#overlays input[value="defibrylatory"]')
        pg.check('#overlays input[value="placowki-oswiatowe"]')
        # One composite tile layer for all overlays (one canvas, every feature clickable).
        pg.wait_for_function("""performance.getEntriesByType("resource").map(e => e.name)
            .some(n => /\\/tiles\\/[a-z-]+(,|%2C)[a-z-]+\\/\\d+\\/\\d+\\/\\d+\\.pbf/.test(n))""")
        assert re.search(r"layers=(placowki-oswiatowe%2Cdefibrylatory|defibrylatory%2C"
                         r"placowki-oswiatowe)", pg.url)
        pg.uncheck('#overlays input[value="defibrylatory"]')
        pg.uncheck('#overlays input[value="placowki-oswiatowe"]')
        assert "layers=" not in pg.url


def test_table_equivalent_works_from_the_keyboard(live_url, artifacts):
    code, areas = "budget-projects", "okregi-wyborcze"
    with page(live_url) as pg:
        pg.goto(f"{live_url}/?indicator={code}&areas={areas}&period=2017")
        _wait_for_map(pg, code)
        pg.focus("#table-toggle")
        pg.keyboard.press("Enter")
        pg.wait_for_selector("#table-view table tbody tr")
        assert pg.get_attribute("#table-toggle", "aria-expanded") == "true"
        rows = pg.locator("#table-view tbody tr")
        assert rows.count() == 5
        pg.screenshot(path=str(artifacts / "map-table.png"))
        first = rows.nth(0).inner_text()
        # Tab from the table to the first area's button, Enter opens its panel.
        pg.locator("#table-view tbody tr button").first.focus()
        pg.keyboard.press("Enter")
        pg.wait_for_selector("#detail:not([hidden]) .figures")
        assert pg.evaluate("document.activeElement.id") == "detail"
        pg.keyboard.press("Escape")
        assert pg.locator("#detail").is_hidden()
    best = max(_value(code, f.id, "2017") for f in Feature.objects.filter(layer__slug=areas))
    assert first.startswith("1") and _digits(first.split("\t")[-1]) == str(round(best))


def test_language_switch_changes_the_legend_title_and_keeps_the_view(live_url, artifacts):
    ind = Indicator.objects.get(code="aed-per-km2")
    with page(live_url) as pg:
        pg.goto(f"{live_url}/?indicator=aed-per-km2&areas=obwody-glosowania")
        _wait_for_map(pg, "aed-per-km2")
        assert pg.locator("#legend-title").inner_text().startswith(ind.name_pl)
        # The switch is a link (no form, no CSRF cookie: the page stays cacheable).
        assert pg.locator("form.lang, input[name=csrfmiddlewaretoken]").count() == 0
        pg.click('nav.lang a[hreflang="en"]')
        pg.wait_for_load_state("load")
        _wait_for_map(pg, "aed-per-km2")
        title = pg.locator("#legend-title").inner_text()
        pg.screenshot(path=str(artifacts / "map-english.png"))
        assert pg.locator("html").get_attribute("lang") == "en"
        assert pg.get_attribute('nav.lang a[hreflang="en"]', "aria-current") == "true"
        assert "areas=obwody-glosowania" in pg.url
        assert "no data" in pg.locator("#legend-items li.nodata").inner_text()
        assert "Indicator" in pg.locator(".panel").inner_text()
        # English units after figures, from the page's own indicator list: "1 vote", "2 votes",
        # and nothing after a plain count ("3", not "3 count").
        units = pg.evaluate("""() => {
            const inds = JSON.parse(document.getElementById("map-config").textContent)
                .indicators;
            const after = (code, v) => { const i = inds.find(x => x.code === code);
                return sdiUnitAfter(v, i.decimals, i.unit, i.unit_forms, "en"); };
            return [after("budget-votes", 1), after("budget-votes", 2),
                    after("libraries", 3)]; }""")
        # And back, to the very address the browser holds an English copy of (public for the
        # pages' cache lifetime): Vary: Cookie makes it ask again.
        english_address = pg.url.split("#")[0]
        pg.click('nav.lang a[hreflang="pl"]')
        pg.wait_for_load_state("load")
        _wait_for_map(pg, "aed-per-km2")
        assert pg.url.split("#")[0] == english_address
        assert pg.locator("html").get_attribute("lang") == "pl"
        assert pg.locator("#legend-title").inner_text().startswith(ind.name_pl)
        assert "areas=obwody-glosowania" in pg.url
        assert pg.foreign_requests == []
    assert title.startswith(ind.name_en) and "[per km²]" in title
    assert units == [" vote", " votes", ""]


def test_bad_address_is_explained_and_the_map_falls_back(live_url, artifacts):
    with page(live_url) as pg:
        response = pg.goto(f"{live_url}/?indicator=no-such&period=1900&area=okreg-99")
        assert response.status == 200
        _wait_for_map(pg)
        notice = pg.locator("#notices").inner_text()
        pg.screenshot(path=str(artifacts / "map-bad-address.png"))
        assert "no-such" in notice and "okreg-99" in notice
        assert pg.locator("#legend-items li").count() >= 2
        assert "indicator=no-such" not in pg.url


def test_phone_map_has_no_horizontal_scroll(live_url, artifacts):
    point = _inside(_area_id("okreg-1"))
    with page(live_url, width=375, height=740) as pg:
        pg.goto(f"{live_url}/?indicator=budget-votes&areas=okregi-wyborcze")
        _wait_for_map(pg, "budget-votes")
        _click_at(pg, *point)
        pg.wait_for_selector("#detail:not([hidden]) .figures")
        pg.screenshot(path=str(artifacts / "phone-map-panel.png"))
        assert pg.evaluate("document.documentElement.scrollWidth") <= 375
        pg.click("#detail-close")
        pg.click("#table-toggle")
        pg.wait_for_selector("#table-view table tbody tr")
        pg.screenshot(path=str(artifacts / "phone-map-table.png"))
        assert pg.evaluate("document.documentElement.scrollWidth") <= 375


def test_deep_link_restores_position_area_and_layers(live_url):
    address = (f"{live_url}/?indicator=budget-projects&areas=okregi-wyborcze&period=2016"
               "&area=okreg-4&layers=biblioteki#14/50.87000/20.63000")
    with page(live_url) as pg:
        pg.goto(address)
        _wait_for_map(pg, "budget-projects")
        pg.wait_for_selector("#detail:not([hidden]) .figures")
        view = pg.evaluate("[sdiMap.getZoom(), sdiMap.getCenter().lat, sdiMap.getCenter().lng]")
        assert pg.locator("#detail-title").inner_text() == "Okręg 4"
        assert pg.input_value("#period") == "2016"
        assert pg.locator('#overlays input[value="biblioteki"]').is_checked()
        assert pg.url.endswith("#14/50.87000/20.63000")
    assert view[0] == 14 and abs(view[1] - 50.87) < 1e-4 and abs(view[2] - 20.63) < 1e-4
