"""The resident map in headless Chromium: districts drawn in the legend's colours, offline."""

import io
import json
import urllib.request

import pytest
from PIL import Image

from tests.e2e.browser import page

# django_db: pytest-django only sets up the test database for tests that ask for it.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


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


def _wait_for_map(pg):
    pg.wait_for_selector("#legend-items li")
    pg.wait_for_selector("#map canvas")
    pg.wait_for_load_state("networkidle")
    pg.wait_for_timeout(500)


def test_map_draws_precincts_in_legend_colours_without_leaving_the_server(live_url, artifacts):
    code, areas = "schools-per-km2", "obwody-glosowania"
    legend = _legend(live_url, code, areas)
    colours = [c["colour"] for c in legend["classes"]]
    with page(live_url) as pg:
        pg.goto(f"{live_url}/?indicator={code}&areas={areas}")
        _wait_for_map(pg)
        png = pg.locator("#map").screenshot(path=str(artifacts / "map-precincts.png"))
        opacity = json.loads(pg.locator("#map-config").text_content())["fillOpacity"]
        assert pg.foreign_requests == []
        assert pg.locator("html").get_attribute("lang") == "pl"
        assert "Wskaźnik" in pg.locator(".panel").inner_text()
    drawn = _colours_drawn(png, colours, opacity)
    assert len(drawn) >= 3, f"legend colours drawn: {drawn} of {colours}"


def test_districts_popup_shows_value_and_source(live_url, artifacts):
    code, areas = "budget-votes", "okregi-wyborcze"
    with page(live_url) as pg:
        pg.goto(f"{live_url}/?indicator={code}&areas={areas}&period=2016")
        _wait_for_map(pg)
        pg.locator("#map").screenshot(path=str(artifacts / "map-districts.png"))
        box = pg.locator("#map").bounding_box()
        pg.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        pg.wait_for_selector(".leaflet-popup-content")
        text = pg.locator(".leaflet-popup-content").inner_text()
        assert pg.foreign_requests == []
    name, value_line = text.splitlines()[:2]
    url = f"{live_url}/api/indicators/{code}/values/?areas={areas}&period=2016"
    with urllib.request.urlopen(url) as r:
        expected = {row["area_name"]: row["value"] for row in json.load(r)}
    assert name in expected
    shown = "".join(ch for ch in value_line.split(":")[-1] if ch.isdigit())
    assert shown == str(round(expected[name]))  # the clicked district's value, as in the DB
    assert "Budżet Obywatelski" in text  # the source
    assert "2016" in text
