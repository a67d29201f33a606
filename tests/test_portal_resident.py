"""A resident's first visit, server side: one site menu on every resident page, the site's own
404 and 500 pages, the map's defaults and search, and every text in the visitor's language
(sources, notes, licences, field labels, ranks, quality and update frequency)."""

import datetime
import json
import re
from html import unescape

import pytest
from django.test import Client, RequestFactory
from django.utils import translation

from indicators import quality
from indicators.computing import city_layer
from indicators.models import Indicator
from layers.city import CityLoadError, load_city
from layers.models import Feature, Layer
from layers.schema import display_type, field_label, validate_schema
from reports import follow, geo, services, testing
from sdi import navigation
from sdi.errors import server_error

pytestmark = pytest.mark.django_db

SECTIONS = {"/": ("Mapa", "Map"), "/districts/": ("Obszary", "Areas"),
            "/compare/": ("Porównaj", "Compare"), "/data/": ("Otwarte dane", "Open data"),
            "/reports/": ("Zgłoszenia", "Reports")}


def en() -> Client:
    c = Client()
    c.cookies["django_language"] = "en"
    return c


def site_nav(html: str) -> list[tuple[str, str, bool]]:
    nav = re.search(r'<nav class="site"[^>]*>(.*?)</nav>', html, re.S)
    assert nav, "no site navigation"
    return [(href, text, bool(current)) for href, current, text in re.findall(
        r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav.group(1))]


def text_of(html: str) -> str:
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture
def reports():
    """A published report and a pending one (with its private link)."""
    category = testing.category(trusted=True)
    public = services.submit(category=category, geom=geo.point(*testing.RYNEK), title="Dziura",
                             description="Głęboka dziura.", answers={}, email="a@example.org")
    hidden = testing.category(slug="pending-test")
    pending = services.submit(category=hidden, geom=geo.point(*testing.RYNEK), title="Ławka",
                              description="Złamana ławka.", answers={}, email="b@example.org")
    return public, pending


# --- one navigation ---------------------------------------------------------------------------

RESIDENT_PAGES = ["/", "/districts/", "/districts/okreg-1/", "/districts/nowhere/",
                  "/compare/?areas=okreg-1,okreg-2", "/data/", "/data/placowki-oswiatowe/",
                  "/reports/", "/reports/new/", "{public}", "{follow}", "/data/nothing-here/",
                  "/reports/999999/", "/nope/"]


@pytest.mark.parametrize("path", RESIDENT_PAGES)
def test_every_resident_page_has_the_one_site_menu_in_the_visitors_language(reports, path):
    public, pending = reports
    path = path.format(public=f"/reports/{public.pk}/", follow=follow.path(pending.pk))
    for client, lang in ((Client(), 0), (en(), 1)):
        html = client.get(path).content.decode()
        links = site_nav(html)
        assert [(href, text) for href, text, _ in links] == [
            (href, labels[lang]) for href, labels in SECTIONS.items()], links
        section = "/reports/" if path.startswith("/reports/") else next(
            (h for h in ("/districts/", "/compare/", "/data/") if path.startswith(h)),
            "/" if path.split("?")[0] == "/" else None)
        assert [href for href, _, current in links if current] == ([section] if section else [])


def test_sections_planned_for_later_are_linked_only_once_their_pages_exist(monkeypatch):
    navigation._links.cache_clear()
    monkeypatch.setattr(navigation, "SECTIONS", [*navigation.SECTIONS,
                                                 ("portal:no-such-page", "Nowhere")])
    try:
        urls = [item["url"] for item in navigation.items("/")]
        assert urls == list(SECTIONS)  # /learn/, /city/ and the made-up one: not yet pages
    finally:
        navigation._links.cache_clear()


# --- the site's own error pages -----------------------------------------------------------------

@pytest.mark.parametrize("path", ["/data/nothing-here/", "/reports/abc", "/reports/999999/",
                                  "/districts/x/y/", "/nope"])
def test_unknown_addresses_get_the_sites_own_404_in_the_visitors_language(path):
    pl = Client().get(path, follow=True)
    english = en().get(path, follow=True)
    assert pl.status_code == english.status_code == 404
    assert "Nie ma takiej strony" in pl.content.decode()
    assert "Page not found" in english.content.decode()
    for response in (pl, english):
        html = response.content.decode()
        assert "<h1>Not Found</h1>" not in html and site_nav(html)
        assert "/static/sdi/site.css" in html


def test_a_pending_reports_public_page_is_the_sites_404(reports):
    _, pending = reports
    response = Client().get(f"/reports/{pending.pk}/")
    assert response.status_code == 404 and "Nie ma takiej strony" in response.content.decode()


def test_the_500_page_is_the_sites_own_and_needs_no_database(django_assert_num_queries):
    for lang, title in (("pl", "Błąd serwera"), ("en", "Server error")):
        request = RequestFactory().get("/districts/okreg-1/", HTTP_ACCEPT="text/html")
        with translation.override(lang), django_assert_num_queries(0):
            try:
                raise ValueError("a bug")
            except ValueError:
                response = server_error(request)
        html = response.content.decode()
        assert response.status_code == 500 and f"<h1>{title}</h1>" in html
        assert [href for href, _, _ in site_nav(html)] == list(SECTIONS)
        assert f'<html lang="{lang}">' in html
    json_client = RequestFactory().get("/api/indicators/", HTTP_ACCEPT="application/json")
    try:
        raise ValueError("a bug")
    except ValueError:
        answer = server_error(json_client)
    assert answer.status_code == 500 and "request_id" in json.loads(answer.content)


# --- the map: defaults and search -------------------------------------------------------------

def _map_config(html: str) -> dict:
    return json.loads(re.search(r'<script id="map-config" type="application/json">(.*?)'
                                r'</script>', html, re.S).group(1))


def test_the_map_opens_on_the_council_districts_with_a_visible_introduction():
    html = Client().get("/").content.decode()
    cfg = _map_config(html)
    assert cfg["state"]["areas"] == "okregi-wyborcze"
    assert all(ind["areas"][0] == "okregi-wyborcze" for ind in cfg["indicators"])
    assert [a["slug"] for a in cfg["areas"]][0] == "okregi-wyborcze"
    head = re.search(r'<div class="map-head">(.*?)</div>', html, re.S).group(1)
    assert "visually-hidden" not in head and re.search(r"<h1>[^<]+</h1>", head)
    assert "Moja lokalizacja" in text_of(head)
    assert 'id="search"' in html and cfg["urls"]["search"].startswith("/map/search.json")
    assert cfg["urls"]["report"] == "/reports/new/"
    # The precincts stay one choice away, and an address still opens them.
    assert _map_config(Client().get("/?areas=obwody-glosowania").content.decode())[
        "state"]["areas"] == "obwody-glosowania"


def _search(q, client=None):
    return (client or Client()).get("/map/search.json", {"q": q})


@pytest.mark.parametrize("q", ["szkoła podstawowa nr 25", "SZKOLA PODSTAWOWA NR 25",
                               "Szkola Podstawowa Nr 25"])
def test_search_finds_areas_and_features_with_or_without_diacritics(q):
    results = _search(q).json()["results"]
    areas = [r for r in results if r["kind"] == "area"]
    features = [r for r in results if r["kind"] == "feature"]
    assert {r["slug"] for r in areas} >= {"obwod-23", "obwod-24", "obwod-25"}
    assert any(r["layer"] == "lokale-wyborcze" for r in features)
    assert any(r["layer"] == "placowki-oswiatowe" for r in features)
    city = Feature.objects.get(layer__slug="granica-miasta").geom
    for r in results:
        assert city.buffer(0.001).contains(geo.point(r["lon"], r["lat"]))
    assert len(results) <= 20


def test_search_finds_a_district_by_its_name_in_either_language():
    assert [r["slug"] for r in _search("okręg 3").json()["results"]] == ["okreg-3"]
    found = _search("district 3", en()).json()["results"]
    assert found[0]["slug"] == "okreg-3" and found[0]["name"] == "District 3"


def test_search_never_finds_staff_only_or_deleted_layers():
    before = {r["layer"] for r in _search("biblioteka").json()["results"]}
    assert "biblioteki" in before
    Layer.objects.filter(slug="biblioteki").update(visibility="staff")
    assert "biblioteki" not in {r["layer"] for r in _search("biblioteka").json()["results"]}
    Layer.objects.filter(slug="biblioteki").update(visibility="public")
    layer = Layer.objects.get(slug="biblioteki")
    layer.deleted_at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    layer.save(update_fields=["deleted_at"])
    assert "biblioteki" not in {r["layer"] for r in _search("biblioteka").json()["results"]}


@pytest.mark.parametrize("q, status", [("", 400), ("a", 400), ("x" * 101, 400), ("%%", 200),
                                       ("__", 200), ("\\\\", 200), ("'; DROP", 200)])
def test_search_refuses_bad_queries_and_treats_wildcards_as_text(q, status):
    response = _search(q)
    assert response.status_code == status
    if status == 200:
        assert response.json()["results"] == []
    else:
        assert "2 to 100 characters" in response.json()["detail"]


# --- words and numbers ------------------------------------------------------------------------

# Attributions ("Źródło: …; oprac. OpenStreetMap Polska") and the names of institutions are
# quoted as their sources require them, in Polish, on every page.
POLISH_LEFT_ON_ENGLISH = ["(warstwa ", "brak danych", "nie istnieje", "Informacja sektora",
                          "mieszkańcy:", "Czeka", "dane oczekiwane",
                          "nieaktualizowane", "Numery telefonów", "Placówki pod wspólnym"]
ENGLISH_LEFT_ON_POLISH = ["Public-sector information", "Public register", "no population",
                          "not applicable", "raster NDVI", "no imported values", "no values",
                          "Phone numbers", "Institutions sharing", "repaired on load",
                          "monthly", "continuous", "irregular", "prepared by"]


@pytest.mark.parametrize("path", ["/districts/okreg-1/", "/districts/obwod-12/",
                                  "/compare/?areas=okreg-1,okreg-2", "/data/",
                                  "/data/placowki-oswiatowe/", "/data/biblioteki/",
                                  "/data/obwody-glosowania/"])
def test_pages_hold_no_text_of_the_other_language(path):
    english = text_of(en().get(path).content.decode())
    polish = text_of(Client().get(path).content.decode())
    assert [w for w in POLISH_LEFT_ON_ENGLISH if w in english] == []
    assert [w for w in ENGLISH_LEFT_ON_POLISH if w in polish] == []


def test_the_map_config_is_in_the_visitors_language():
    for client, wrong in ((en(), POLISH_LEFT_ON_ENGLISH), (Client(), ENGLISH_LEFT_ON_POLISH)):
        cfg = json.dumps(_map_config(client.get("/").content.decode()), ensure_ascii=False)
        assert [w for w in wrong if w in cfg] == []


def test_sources_notes_and_gaps_are_in_the_visitors_language():
    english = text_of(en().get("/districts/okreg-1/").content.decode())
    polish = text_of(Client().get("/districts/okreg-1/").content.decode())
    assert "RSPO 2022, prepared by OpenStreetMap Polska" in english
    assert "RSPO 2022, oprac. OpenStreetMap Polska" in polish
    assert "no population figure for this area" in english
    assert "brak liczby mieszkańców dla tego obszaru" in polish
    assert "Copernicus Sentinel-2 (data awaited: no NDVI raster yet)" in english
    assert "Copernicus Sentinel-2 (dane oczekiwane: brak rastra NDVI)" in polish
    for ind in Indicator.objects.all():
        assert ind.source_en, ind.code
    # The area's JSON (the map's panel) labels each value's source in the visitor's language;
    # `source` stays the name values are stored under.
    rows = en().get("/districts/okreg-1.json").json()["indicators"]
    schools = next(r for r in rows if r["code"] == "schools-per-km2")
    assert schools["source"] == "RSPO 2022, prepared by OpenStreetMap Polska"
    assert schools["latest"]["source_label"] == schools["source"]
    assert schools["latest"]["source"] == Indicator.objects.get(code="schools-per-km2").source
    notes = {r["latest"]["note"] for r in rows if r["latest"]["note"]}
    assert "no population figure for this area" in notes


def test_licences_are_named_in_the_visitors_language_and_linked_to_their_texts():
    for client, name in ((Client(), "ODbL 1.0 (Open Database License – licencja otwartej bazy "
                                    "danych)"), (en(), "ODbL 1.0 (Open Database License)")):
        html = client.get("/data/defibrylatory/").content.decode()
        assert (f'<a href="https://opendatacommons.org/licenses/odbl/1-0/" rel="license '
                f'noopener">{name}</a>') in html
    facets = en().get("/data/").content.decode()
    assert re.search(r'<option value="Public register \(public information[^"]*">Public '
                     r'register', facets)
    polish = Client().get("/data/").content.decode()
    assert re.search(r'<option value="Public register \(public information[^"]*">Rejestr '
                     r'publiczny', polish)
    # Every licence a Kielce layer or indicator carries is named in both languages.
    from layers import licences
    for text in [*Layer.objects.values_list("licence", flat=True),
                 *Indicator.objects.values_list("licence", flat=True)]:
        assert licences.known(text), text


def test_neutral_indicators_are_ranked_without_a_verdict():
    html = Client().get("/districts/okreg-1/").content.decode()
    area = re.search(r'<tr data-code="area-km2">.*?</tr>', html, re.S).group(0)
    schools = re.search(r'<tr data-code="schools-per-km2">.*?</tr>', html, re.S).group(0)
    assert "1 = najwyższa wartość (bez oceny" in area and "najlepsz" not in area
    assert "najlepsz" not in schools  # the verdict is in the page's explanation, once
    cfg = _map_config(en().get("/").content.decode())
    notes = {i["code"]: i["rank_note"] for i in cfg["indicators"]}
    assert notes["area-km2"] == "1 = the highest value (no better or worse)"
    assert notes["schools-per-km2"] == "1 = the best: the highest value"
    compare = Client().get("/compare/?areas=okreg-1,okreg-2").content.decode()
    row = re.search(r'<th scope="row">Powierzchnia <span.*?</th>', compare, re.S).group(0)
    assert "bez oceny" in row


def test_field_labels_and_display_types_come_from_the_layer_schema():
    html = Client().get("/data/placowki-oswiatowe/").content.decode()
    assert re.search(r"<td>Numer RSPO</td><td><code>ref:rspo</code></td><td>identyfikator",
                     html)
    assert "<td>Identyfikator ulicy (TERYT ULIC)</td><td><code>addr:street:sym_ul</code>" in html
    english = en().get("/data/placowki-oswiatowe/").content.decode()
    assert "<td>RSPO number</td><td><code>ref:rspo</code></td><td>identifier" in english
    overlays = {o["slug"]: o for o in _map_config(en().get("/").content.decode())["overlays"]}
    fields = {f["name"]: f for f in overlays["placowki-oswiatowe"]["fields"]}
    assert fields["ref:rspo"] == {"name": "ref:rspo", "label": "RSPO number",
                                  "display": "identifier"}
    assert fields["amenity"]["label"] == "Kind of institution (OSM)"
    assert fields["website"]["display"] == "url"
    assert {f["name"] for f in overlays["zgloszenia"]["fields"]} if "zgloszenia" in overlays \
        else True
    # Every attribute of every Kielce data layer has a label in both languages.
    for layer in Layer.objects.filter(role="data").exclude(slug="zgloszenia"):
        for f in layer.fields:
            assert f.get("label_pl") and f.get("label_en"), (layer.slug, f["name"])


def test_schema_labels_and_display_types_are_optional_and_checked():
    assert validate_schema({"fields": [{"name": "a", "type": "integer"}]}) == []
    f = {"name": "ref", "type": "integer", "label_pl": "Numer", "display": "identifier"}
    assert validate_schema({"fields": [f]}) == []
    assert field_label(f, "en") == "Numer" and field_label({"name": "x"}, "pl") == "x"
    assert display_type(f) == "identifier" and display_type({"type": "decimal"}) == "number"
    assert display_type({"type": "string"}) == "text"
    errors = validate_schema({"fields": [
        {"name": "a", "type": "string", "label_pl": 5},
        {"name": "b", "type": "string", "label_en": "x" * 201},
        {"name": "c", "type": "string", "display": "<b>"}]})
    assert errors == ["field 'a': label_pl must be a text of at most 200 characters",
                      "field 'b': label_en must be a text of at most 200 characters",
                      "field 'c': display must be one of text, number, identifier, url, "
                      "email, phone, date, boolean"]


def _tiny_city(base, fields: str) -> None:
    city = base / "miasto"
    city.mkdir(exist_ok=True)
    (city / "punkty.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"NAZWA": "A"},
         "geometry": {"type": "Point", "coordinates": [20.6, 50.8]}}]}))
    (city / "city.yaml").write_text(
        "city: {name: Miasto, data_dir: miasto}\n"
        "layers:\n  - {slug: punkty-etykiety, title_pl: Punkty, "
        f"fields: {fields}, sources: [{{file: punkty.geojson}}]}}\n")


def test_the_city_config_labels_fields_and_cannot_label_one_the_files_do_not_have(
        tmp_path, settings):
    settings.CITY_DATA_DIRS = [tmp_path]
    _tiny_city(tmp_path, "{NAZWA: {label_en: Name}, extra: {type: integer}}")
    load_city("miasto")
    fields = {f["name"]: f for f in Layer.objects.get(slug="punkty-etykiety").fields}
    assert fields["NAZWA"]["type"] == "string" and fields["NAZWA"]["label_en"] == "Name"
    assert fields["extra"]["type"] == "integer"
    # A label changed in the config reaches the layer on the next load.
    _tiny_city(tmp_path, "{NAZWA: {label_en: Place name}, extra: {type: integer}}")
    load_city("miasto")
    fields = {f["name"]: f for f in Layer.objects.get(slug="punkty-etykiety").fields}
    assert fields["NAZWA"]["label_en"] == "Place name"
    _tiny_city(tmp_path, "{NAZWA_TYPO: {label_en: Name}}")
    with pytest.raises(CityLoadError, match="'NAZWA_TYPO' is not an attribute of the files"):
        load_city("miasto")


def test_quality_counts_freshness_and_old_data_cannot_score_100():
    boundary = city_layer()
    rspo = Layer.objects.get(slug="placowki-oswiatowe")
    report = quality.check_layer(rspo, boundary, today=datetime.date(2026, 12, 1))
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["freshness"]["score"] == pytest.approx(100 - 25 * ((
        datetime.date(2026, 12, 1) - rspo.data_date).days / 365.25 - 1), abs=0.1)
    assert report["score"] < 100
    fresh = quality.check_layer(rspo, boundary, today=rspo.data_date + datetime.timedelta(200))
    assert {c["check"]: c for c in fresh["checks"]}["freshness"]["score"] == 100
    Layer.objects.filter(pk=rspo.pk).update(data_date=None)
    rspo.refresh_from_db()
    assert "freshness" not in {c["check"] for c in quality.check_layer(rspo, boundary)["checks"]}
    page = text_of(Client().get("/data/placowki-oswiatowe/").content.decode())
    assert "100 / 100" not in page


def test_dataset_pages_say_the_data_are_old_and_never_updated():
    polish = text_of(Client().get("/data/placowki-oswiatowe/").content.decode())
    english = text_of(en().get("/data/placowki-oswiatowe/").content.decode())
    assert "nieaktualizowane (jednorazowa kopia)" in polish and "co miesiąc" not in polish
    assert "dane mają ponad rok (stan na 14 marca 2022)" in polish
    assert "not updated (a one-off copy)" in english
    assert "the data are more than a year old (as of March 14, 2022)" in english
    assert "stan rejestru z marca 2022" in polish.lower()


def test_an_area_profile_lists_its_own_attributes_under_their_labels():
    precinct = Feature.objects.get(layer__slug="obwody-glosowania", properties__OBWOD=12)
    html = Client().get("/districts/obwod-12/").content.decode()
    box = re.search(r'<details class="area-attributes">.*?</details>', html, re.S).group(0)
    shown = dict(re.findall(r'<dt title="[^"]+">([^<]+)</dt><dd>([^<]*)</dd>', box))
    assert shown["Numer obwodu"] == "12"
    assert shown["Siedziba komisji"] == precinct.properties["NAZWA"]
    assert shown["Rodzaj obwodu"] == precinct.properties["RODZAJ"]
    assert not {"OBWOD", "NAZWA", "RODZAJ"} & set(shown)
    english = en().get("/districts/obwod-12/").content.decode()
    assert "<dt title=\"OBWOD\">Precinct number</dt><dd>12</dd>" in english
