"""District profile, compare and the open data catalogue in headless Chromium: charts and maps
drawn, print layout, search with and without Polish diacritics, every resident page (reports and
error pages included) on a phone without horizontal scroll whatever its fonts, tables that fit
at desktop widths, chart axes in the page's number format, nothing fetched from outside the
server."""

import json
import re

import pytest
from playwright.sync_api import expect

from indicators.models import IndicatorValue
from layers.models import Feature, Layer
from reports import follow, geo, services, testing
from tests.e2e.browser import page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

# Every resident page; {report} and {follow} are filled in by the `reports` fixture.
PAGES = ["/", "/districts/", "/districts/okreg-1/", "/districts/obwod-12/",
         "/compare/?areas=okreg-1,okreg-2,okreg-5", "/data/", "/data/?q=szkoly",
         "/data/placowki-oswiatowe/", "/districts/nowhere/", "/reports/", "/reports/new/",
         "/reports/{report}/", "/reports/{follow}/", "/data/no-such-dataset/", "/reports/x"]
# A phone's own fonts may be wider than the test machine's: the pages must hold in a wide
# monospace font too.
WIDE_FONT = """document.addEventListener("DOMContentLoaded", () => {
  const style = document.createElement("style");
  style.textContent = 'html * { font-family: "DejaVu Sans Mono", monospace !important; }';
  document.head.appendChild(style); });"""
REPORTS = ["e2e-layout-long", "e2e-layout-pending"]


@pytest.fixture(scope="module")
def reports(live_url, django_db_blocker):
    """A published report whose title and text are long unbroken words (a pasted address, a
    plate number) and a pending one, for its private page."""
    with django_db_blocker.unblock():
        had_layer = Layer.objects.filter(slug="zgloszenia").exists()
        trusted = testing.category(slug=REPORTS[0], name_pl="Długa kategoria testowa e2e",
                                   trusted=True)
        pending = testing.category(slug=REPORTS[1], name_pl="Oczekująca (test e2e)")
        long = services.submit(
            category=trusted, geom=geo.point(*testing.RYNEK),
            title="Zniszczony_znak_przy_ulicy_" + "Sienkiewicza" * 7,
            description="https://example.org/" + "zdjecie-" * 60, answers={},
            email="dlugi@example.org")
        waiting = services.submit(
            category=pending, geom=geo.point(*testing.RYNEK),
            title="Czeka" + "x" * 100, description="Opis " + "y" * 400, answers={},
            email="czeka@example.org")
    yield {"report": str(long.pk), "follow": follow.path(waiting.pk).removeprefix("/reports/")
           .rstrip("/")}
    with django_db_blocker.unblock():
        testing.purge(REPORTS, drop_layer=not had_layer)


def _settle(pg):
    pg.wait_for_load_state("networkidle")
    pg.wait_for_timeout(300)


def test_profile_draws_charts_and_locator_and_prints_cleanly(live_url, artifacts):
    area = next(f for f in Feature.objects.filter(layer__slug="okregi-wyborcze")
                if int(f.properties["NR_OKR"]) == 3)
    with page(live_url) as pg:
        pg.goto(f"{live_url}/districts/okreg-3/")
        _settle(pg)
        pg.screenshot(path=str(artifacts / "profile.png"), full_page=True)
        charts = pg.evaluate("""Array.from(document.querySelectorAll("canvas[data-code]"))
                                .filter(c => Chart.getChart(c)).length""")
        rows = pg.locator("table.profile tbody tr").count()
        assert charts == rows and rows >= 8
        assert pg.locator("#locator canvas, #locator path").count() >= 1
        votes = pg.locator('tr[data-code="budget-votes"] td.value').inner_text()
        pg.emulate_media(media="print")
        assert pg.locator(".topbar").is_hidden() and pg.locator(".actions").is_hidden()
        assert pg.locator("table.profile").is_visible()
        pg.screenshot(path=str(artifacts / "profile-print.png"), full_page=True)
        assert pg.foreign_requests == []
    stored = IndicatorValue.objects.get(indicator__code="budget-votes", area=area,
                                        period="2017").value
    assert re.sub(r"\D", "", votes.splitlines()[0]) == str(round(stored))


def test_profile_area_picker_goes_to_another_area(live_url):
    with page(live_url) as pg:
        pg.goto(f"{live_url}/districts/okreg-1/")
        pg.select_option("#sibling", "okreg-4")
        pg.wait_for_url(re.compile(r".*/districts/okreg-4/$"))
        assert pg.locator("h1").inner_text() == "Okręg 4"


def test_compare_page_draws_a_bar_per_area(live_url, artifacts):
    with page(live_url) as pg:
        pg.goto(f"{live_url}/compare/?areas=okreg-1,okreg-2,okreg-5")
        _settle(pg)
        pg.screenshot(path=str(artifacts / "compare.png"), full_page=True)
        bars = pg.evaluate("""Chart.getChart(document.getElementById("compare-chart"))
                              .data.datasets[0].data""")
        data = json.loads(pg.locator("#compare-data").text_content())
        pg.select_option("#chart-indicator", "1")
        label = pg.evaluate("""Chart.getChart(document.getElementById("compare-chart"))
                               .data.datasets[0].label""")
        assert pg.foreign_requests == []
    assert len(bars) == 3 and bars == data["rows"][0]["values"]
    assert label.startswith(data["rows"][1]["name"])


def test_compare_page_prints_the_whole_table_on_the_page_width(live_url, artifacts):
    with page(live_url) as pg:
        pg.goto(f"{live_url}/compare/?areas=okreg-1,okreg-2,okreg-5,obwod-12")
        _settle(pg)
        # The button prints (window.print stood in for: headless Chromium has no dialog).
        pg.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
        pg.click("button[data-print]")
        assert pg.evaluate("window.printed") == 1
        pg.emulate_media(media="print")
        for hidden in (".topbar", "form", ".actions", "#chart-indicator"):
            assert pg.locator(hidden).first.is_hidden(), hidden
        assert pg.locator("table.compare").is_visible()
        assert pg.locator(".print-only").is_visible()
        assert f"{live_url}/compare/" in pg.locator(".print-only").inner_text()
        # Nothing cut off sideways: the table is no wider than the page.
        table, page_width = pg.evaluate("""[document.querySelector("table.compare").scrollWidth,
                                            document.documentElement.clientWidth]""")
        header = pg.evaluate("""getComputedStyle(document.querySelector("table.compare thead"))
                                .display""")
        pg.screenshot(path=str(artifacts / "compare-print.png"), full_page=True)
        assert pg.foreign_requests == []
    assert table <= page_width
    assert header == "table-header-group"


@pytest.mark.parametrize("query", ["szkoły", "szkoly"])
def test_catalogue_search_finds_schools_with_and_without_diacritics(live_url, artifacts, query):
    title = Layer.objects.get(slug="placowki-oswiatowe").title_pl
    with page(live_url) as pg:
        pg.goto(f"{live_url}/data/")
        pg.fill("#q", query)
        pg.press("#q", "Enter")
        pg.wait_for_load_state("load")
        found = pg.locator("article.dataset h2").all_inner_texts()
        suffix = "ascii" if query == "szkoly" else "pl"
        pg.screenshot(path=str(artifacts / f"catalogue-search-{suffix}.png"), full_page=True)
        assert pg.foreign_requests == []
    assert title in found
    assert all("Defibrylatory" not in t for t in found)


def test_dataset_page_preview_map_and_copy_buttons(live_url, artifacts):
    with page(live_url) as pg:
        pg.goto(f"{live_url}/data/placowki-oswiatowe/")
        _settle(pg)
        pg.screenshot(path=str(artifacts / "dataset.png"), full_page=True)
        assert pg.locator("#preview canvas").count() >= 1
        tiles = pg.evaluate("""performance.getEntriesByType("resource").map(e => e.name)
                               .filter(n => n.includes("/tiles/placowki-oswiatowe/"))""")
        assert tiles
        pg.context.grant_permissions(["clipboard-read", "clipboard-write"])
        pg.click('button[data-copy="url-ogc"]')
        # The status is written when the (asynchronous) clipboard write settles.
        expect(pg.locator("#copy-status")).to_contain_text(f"{live_url}/ogc")
        assert pg.evaluate("navigator.clipboard.readText()") == f"{live_url}/ogc"
        ld = json.loads(pg.locator('script[type="application/ld+json"]').text_content())
        assert ld["@type"] == "Dataset"
        assert pg.foreign_requests == []


@pytest.mark.parametrize("font", ["system", "wide"])
@pytest.mark.parametrize("path", PAGES)
def test_phone_width_has_no_horizontal_scroll(live_url, artifacts, reports, path, font):
    path = path.format(**reports)
    with page(live_url, width=375, height=740) as pg:
        if font == "wide":
            pg.add_init_script(WIDE_FONT)
        pg.goto(f"{live_url}{path}")
        _settle(pg)
        width = pg.evaluate("document.documentElement.scrollWidth")
        menu = pg.locator("nav.site a").count()
        name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:60] or "map"
        pg.screenshot(path=str(artifacts / f"phone-{name}-{font}.png"), full_page=True)
        assert pg.foreign_requests == []
    assert width <= 375, f"{path} is {width}px wide on a 375px phone ({font} font)"
    assert menu == 5  # the one site menu, on every resident page


@pytest.mark.parametrize("width", [1280, 1366, 1920])
@pytest.mark.parametrize("font", ["system", "wide"])
def test_profile_table_fits_at_desktop_widths(live_url, artifacts, width, font):
    """No column cut off at the right ("Źródło i licencja" was cut mid-word)."""
    with page(live_url, width=width, height=900) as pg:
        if font == "wide":
            pg.add_init_script(WIDE_FONT)
        pg.goto(f"{live_url}/districts/okreg-1/")
        _settle(pg)
        boxes = pg.evaluate("""() => {
            const s = document.querySelector(".scroll");
            const last = document.querySelector("table.profile thead th:last-child")
              .getBoundingClientRect();
            return {scroll: s.scrollWidth, client: s.clientWidth,
                    lastRight: last.right, boxRight: s.getBoundingClientRect().right}; }""")
        if width == 1280:
            pg.screenshot(path=str(artifacts / f"profile-{width}-{font}.png"))
    assert boxes["scroll"] <= boxes["client"], boxes
    assert boxes["lastRight"] <= boxes["boxRight"] + 0.5, boxes


@pytest.mark.parametrize("path, canvas", [
    ("/districts/okreg-1/", 'canvas[data-code="budget-votes"]'),
    ("/compare/?areas=okreg-1,okreg-2,okreg-5", "#compare-chart")])
def test_chart_axes_use_the_pages_number_format(live_url, path, canvas):
    labels = {}
    for lang in ("pl", "en"):
        with page(live_url) as pg:
            pg.goto(f"{live_url}/language/{lang}/?next={path.replace('&', '%26')}")
            _settle(pg)
            if path.startswith("/compare/"):
                rows = json.loads(pg.locator("#compare-data").text_content())["rows"]
                pg.select_option("#chart-indicator", str(next(
                    i for i, r in enumerate(rows) if r["code"] == "budget-votes")))
            labels[lang] = pg.evaluate(f"""() => Chart.getChart(document.querySelector(
                '{canvas}')).scales.y.ticks.map(t => t.label)""")
    big = [t for t in labels["pl"] if len(re.sub(r"\D", "", t)) >= 5]
    assert big, labels
    assert all("," not in t and re.fullmatch(r"\d{1,3}(\u00a0\d{3})+", t) for t in big), big
    assert any(re.fullmatch(r"\d{1,3}(,\d{3})+", t) for t in labels["en"]), labels


CONTRAST_JS = """() => {
  // WCAG 2.1 contrast of every visible text against its effective background.
  const lum = (c) => {
    const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92
                                                  : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const rgba = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) { return c.slice(0, 3); }
    }
    return [255, 255, 255];
  };
  const failures = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".leaflet-container, .visually-hidden, script, style, noscript")) continue;
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const st = getComputedStyle(el);
    if (st.visibility === "hidden" || st.display === "none") continue;
    const fg = rgba(st.color).slice(0, 3), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) {
      failures.push([el.tagName + "." + el.className, el.textContent.trim().slice(0, 30),
                     ratio.toFixed(2)]);
    }
  }
  return failures;
}"""


@pytest.mark.parametrize("path", ["/?indicator=budget-votes&areas=okregi-wyborcze&area=okreg-2",
                                  "/districts/okreg-2/", "/compare/?areas=okreg-1,okreg-2",
                                  "/data/", "/data/defibrylatory/"])
def test_text_contrast_meets_wcag_aa(live_url, path):
    with page(live_url) as pg:
        pg.goto(f"{live_url}{path}")
        _settle(pg)
        if path.startswith("/?"):
            pg.wait_for_selector("#detail:not([hidden]) .figures")  # the linked area's panel
        failures = pg.evaluate(CONTRAST_JS)
    assert failures == []


def test_map_controls_are_reachable_with_the_tab_key(live_url):
    with page(live_url) as pg:
        pg.goto(f"{live_url}/")
        pg.wait_for_selector("#legend-items li")
        seen = []
        for _ in range(30):
            pg.keyboard.press("Tab")
            seen.append(pg.evaluate("document.activeElement.id || "
                                    "document.activeElement.value || "
                                    "document.activeElement.textContent.trim()"))
        first_link = pg.evaluate("document.querySelector('a.skip').textContent")
    for wanted in ["indicator", "areas", "period", "table-toggle", "biblioteki"]:
        assert wanted in seen, (wanted, seen)
    assert seen.index("indicator") < seen.index("areas") < seen.index("period")
    assert seen[0] == first_link.strip()  # "skip to content" comes first
