"""The resident map's way-finding and words in headless Chromium: on a phone the legend sits
right under the map (not below the controls), the area panel is a sheet that leaves the map
visible, the table is never hidden behind an open panel; legend classes do not overlap; a
point's panel shows field labels and identifiers as written; the search finds areas and
places. Expected values come from the database, read before the browser starts."""

import json
import re

import pytest
from playwright.sync_api import expect

from layers.models import Feature
from tests.e2e.browser import page
from tests.e2e.test_map_page import _click_at, _inside, _legend, _wait_for_map

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

PHONE = {"width": 375, "height": 812, "has_touch": True, "is_mobile": True}

BOXES = """(ids) => Object.fromEntries(ids.map(id => {
  const r = document.querySelector(id).getBoundingClientRect();
  return [id, {top: r.top + scrollY, bottom: r.bottom + scrollY, left: r.left, right: r.right,
               height: r.height}];
}))"""


def _district_point(slug):
    number = int(slug.split("-")[1])
    fid = next(f.id for f in Feature.objects.filter(layer__slug="okregi-wyborcze")
               if int(f.properties["NR_OKR"]) == number)
    return _inside(fid)


def test_on_a_phone_the_legend_is_right_under_the_map_above_the_controls(live_url, artifacts):
    with page(live_url, **PHONE) as pg:
        pg.goto(f"{live_url}/")
        _wait_for_map(pg)
        box = pg.evaluate(BOXES, ["#map", "#legend", ".pickers", ".map-head", "#search"])
        pg.screenshot(path=str(artifacts / "phone-map-first-view.png"))
        items = pg.locator("#legend-items li").count()
    assert box[".map-head"]["bottom"] <= box["#search"]["top"] <= box["#map"]["top"]
    assert 0 <= box["#legend"]["top"] - box["#map"]["bottom"] <= 20, box
    assert box["#legend"]["bottom"] <= box[".pickers"]["top"], box
    # The map and the legend's first classes fit the first screen.
    assert box["#map"]["top"] < 320 and box["#legend"]["top"] + 60 < 812, box
    assert items >= 3


def test_on_a_phone_the_area_panel_leaves_the_map_visible_and_its_links_in_reach(
        live_url, artifacts):
    point = _district_point("okreg-4")
    with page(live_url, **PHONE) as pg:
        pg.goto(f"{live_url}/")
        _wait_for_map(pg)
        _click_at(pg, *point)
        pg.wait_for_function("document.body.dataset.area === 'okreg-4'")
        pg.wait_for_timeout(400)
        pg.screenshot(path=str(artifacts / "phone-map-sheet.png"))
        geo = pg.evaluate("""() => {
          const m = document.getElementById("map").getBoundingClientRect();
          const d = document.getElementById("detail"), s = d.getBoundingClientRect();
          const a = d.querySelector("a.profile").getBoundingClientRect();
          // The highlighted district is drawn where the sheet does not cover it.
          const b = sdiMap.latLngToContainerPoint(sdiMap.getCenter());
          return {mapTop: Math.max(0, m.top), mapBottom: m.bottom, sheetTop: s.top,
                  sheetBottom: s.bottom, inner: innerHeight, link: [a.top, a.bottom],
                  visibleEnd: s.top + d.clientHeight, scroll: d.scrollTop,
                  centre: b.y + m.top}; }""")
        href = pg.get_attribute("#detail a.profile", "href")
        pg.locator("#detail a.profile").tap()
        pg.wait_for_url(f"{live_url}/districts/okreg-4/")
    assert geo["sheetBottom"] == pytest.approx(geo["inner"], abs=1)
    assert geo["sheetTop"] - geo["mapTop"] >= 0.4 * (geo["mapBottom"] - geo["mapTop"]), geo
    assert geo["scroll"] == 0 and geo["sheetTop"] <= geo["link"][0], geo
    assert geo["link"][1] <= geo["visibleEnd"], geo
    assert href == "/districts/okreg-4/"


@pytest.mark.parametrize("size", [PHONE, {"width": 1280, "height": 800}],
                         ids=["phone", "desktop"])
def test_the_table_view_is_never_hidden_behind_an_open_panel(live_url, artifacts, size):
    point = _district_point("okreg-2")
    name = "phone" if size["width"] < 500 else "desktop"
    with page(live_url, **size) as pg:
        pg.goto(f"{live_url}/?indicator=budget-votes&areas=okregi-wyborcze")
        _wait_for_map(pg, "budget-votes")
        _click_at(pg, *point)
        pg.wait_for_selector("#detail:not([hidden]) .figures")
        pg.click("#table-toggle")
        pg.wait_for_selector("#table-view table tbody tr")
        # Showing the table closes the panel: every row is readable.
        assert pg.locator("#detail").is_hidden()
        covered = pg.evaluate("""() => Array.from(document.querySelectorAll(
            "#table-view tbody tr")).filter(tr => { const r = tr.getBoundingClientRect();
            const el = document.elementFromPoint(r.left + 10, r.top + r.height / 2);
            return r.bottom <= innerHeight && !(el && tr.contains(el)); }).length""")
        assert covered == 0
        # Opening an area from the table: the table stays readable beside (or above) it.
        pg.locator("#table-view tbody tr button").first.click()
        pg.wait_for_selector("#detail:not([hidden]) .figures")
        pg.screenshot(path=str(artifacts / f"{name}-map-table-and-panel.png"))
        seen = pg.evaluate("""() => {
            const d = document.getElementById("detail").getBoundingClientRect();
            const rows = Array.from(document.querySelectorAll("#table-view tbody tr"));
            return rows.filter(tr => { const r = tr.getBoundingClientRect();
              const x = r.left + 10, y = r.top + r.height / 2;
              if (y < 0 || y > innerHeight) { return false; }
              const el = document.elementFromPoint(x, y);
              return el && tr.contains(el); }).length; }""")
        overlap = pg.evaluate("""() => {
            const t = document.getElementById("table-view").getBoundingClientRect();
            const d = document.getElementById("detail").getBoundingClientRect();
            return Math.max(0, Math.min(t.right, d.right) - Math.max(t.left, d.left)) *
                   Math.max(0, Math.min(t.bottom, d.bottom) - Math.max(t.top, d.top)); }""")
        scrollable = pg.evaluate("""() => { const v = document.getElementById("table-view");
            v.scrollTop = v.scrollHeight; const last = v.querySelector("tbody tr:last-child")
            .getBoundingClientRect(); const d = document.getElementById("detail")
            .getBoundingClientRect(); return last.bottom <= d.top + 1 || last.right <= d.left + 1;
            }""")
    assert seen >= 1
    if name == "desktop":
        assert overlap == 0
    assert scrollable  # the last row can be brought out from under the panel


@pytest.mark.parametrize("lang, above", [("pl", "powyżej"), ("en", "over")])
def test_legend_classes_do_not_overlap(live_url, lang, above):
    code, areas = "schools-per-km2", "obwody-glosowania"
    legend = _legend(live_url, code, areas)
    assert legend["classes"][0]["from"] == legend["classes"][0]["to"] == 0  # the "0" class
    with page(live_url) as pg:
        pg.goto(f"{live_url}/language/{lang}/?next=/?indicator={code}%26areas={areas}")
        _wait_for_map(pg, code)
        labels = pg.locator("#legend-items li:not(.nodata) .range").all_inner_texts()
    assert labels[0] == "0"
    for i, label in enumerate(labels[1:], start=1):
        assert label.startswith(above + " "), labels
        lower = label.split()[1]
        assert labels[i - 1].endswith(lower), labels  # above the previous class's upper bound


def test_a_points_panel_shows_field_labels_and_identifiers_as_written(live_url, artifacts):
    school = next(f for f in Feature.objects.filter(layer__slug="placowki-oswiatowe")
                  .order_by("id") if int(f.properties["ref:rspo"]) >= 10000
                  and f.properties.get("amenity") and f.properties.get("addr:street:sym_ul"))
    props = school.properties
    for lang, rspo, kind in (("pl", "Numer RSPO", "Rodzaj placówki (OSM)"),
                             ("en", "RSPO number", "Kind of institution (OSM)")):
        with page(live_url) as pg:
            pg.goto(f"{live_url}/language/{lang}/?next=/")
            _wait_for_map(pg)
            pg.fill("#search-q", props["name"])
            pg.press("#search-q", "Enter")
            pg.locator('#search-results button.result[data-layer="placowki-oswiatowe"]',
                       has_text=props["name"]).first.click()
            pg.wait_for_selector('#detail[data-kind="feature"]:not([hidden])')
            terms = pg.locator("#detail dl.attributes dt").all_inner_texts()
            values = pg.locator("#detail dl.attributes dd").all_inner_texts()
            shown = dict(zip(terms, values, strict=True))
            pg.wait_for_selector("#feature-area button")
            area = pg.locator("#feature-area button").inner_text()
            pg.screenshot(path=str(artifacts / f"map-school-panel-{lang}.png"))
            assert pg.locator('#overlays input[value="placowki-oswiatowe"]').is_checked()
        assert shown[rspo] == str(props["ref:rspo"])  # "84231", never "84 231"
        assert shown[kind] == props["amenity"]
        assert not {"amenity", "ref:rspo", "isced:level", "addr:street:sym_ul"} & set(terms)
        assert re.fullmatch(r"\d+", shown[[t for t in terms if "TERYT" in t and (
            "ULIC" in t)][0]])
        assert area.startswith(("Okręg", "District"))


def test_the_search_opens_an_area_in_another_layer(live_url):
    with page(live_url) as pg:
        pg.goto(f"{live_url}/")
        _wait_for_map(pg)
        pg.fill("#search-q", "obwód 12")
        pg.press("#search-q", "Enter")
        pg.locator("#search-results button.result", has_text="Obwód 12").first.click()
        pg.wait_for_function("document.body.dataset.area === 'obwod-12'")
        assert pg.input_value("#areas") == "obwody-glosowania"
        assert pg.locator("#detail-title").inner_text() == "Obwód 12"
        assert "area=obwod-12" in pg.url and "areas=obwody-glosowania" in pg.url
        pg.fill("#search-q", "zzzz-nothing")
        pg.press("#search-q", "Enter")
        expect(pg.locator("#search-results")).to_contain_text("Nic nie znaleziono")
        config = json.loads(pg.locator("#map-config").text_content())
        assert config["urls"]["search"] == "/map/search.json?q={q}"
        assert pg.foreign_requests == []
