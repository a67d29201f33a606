"""Stored script and the Content-Security-Policy, in headless Chromium against gunicorn:
an editor's markup in a layer's attribution shows as text on the resident map; the policy
blocks an inline script injected into a page as served; and no page breaks the policy in normal
use (resident pages, the admin's map editor, the OGC API's HTML pages, Swagger UI, the browsable
API), with no console error either."""

import pytest

from layers.models import Feature
from tests.e2e.browser import page
from tests.live_users import committed, live_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

# Every securitypolicyviolation event of a page, kept for the test to read.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push({directive: e.effectiveDirective, blocked: e.blockedURI,
                     sample: e.sample, source: e.sourceFile + ":" + e.lineNumber});
});
"""
PAYLOAD = '<img src=x onerror="window.__xss = 1"> Dane: https://example.org/zrodlo'


def _watch(pg):
    pg.add_init_script(RECORD_VIOLATIONS)
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))


def _clean(pg, what: str):
    violations = pg.evaluate("window.__csp")
    assert violations == [], (what, violations)
    assert pg.errors == [], (what, pg.errors)


def test_a_layers_attribution_is_text_on_the_resident_map(live_url, artifacts):
    with committed() as cur:
        cur.execute("SELECT attribution FROM layers_layer WHERE slug = 'biblioteki'")
        before = cur.fetchone()[0]
        cur.execute("UPDATE layers_layer SET attribution = %s WHERE slug = 'biblioteki'",
                    [PAYLOAD])
    try:
        with page(live_url) as pg:
            _watch(pg)
            pg.goto(f"{live_url}/?layers=biblioteki")
            control = pg.locator(".leaflet-control-attribution")
            control.get_by_text("onerror", exact=False).wait_for()
            pg.wait_for_timeout(300)
            assert 'window.__xss = 1"> Dane:' in control.inner_text()
            assert control.locator("img").count() == 0
            assert pg.evaluate("window.__xss") is None
            link = control.locator('a[href="https://example.org/zrodlo"]')
            assert link.count() == 1 and link.inner_text() == "https://example.org/zrodlo"
            # the feature panel shows it as text too
            pg.screenshot(path=str(artifacts / "attribution-as-text.png"))
            _clean(pg, "/?layers=biblioteki")
    finally:
        with committed() as cur:
            cur.execute("UPDATE layers_layer SET attribution = %s WHERE slug = 'biblioteki'",
                        [before])


def test_the_policy_blocks_a_script_injected_into_a_page(live_url):
    """Whatever a future bug lets into a page, the policy as served keeps it from running:
    the map page is fetched from gunicorn with its real headers and an inline script, an inline
    handler and a foreign script are put into its body before Chromium reads it."""
    injected = ('<script>window.__ran = "inline"</script>'
                '<img src="/static/none.png" onerror="window.__ran = \'handler\'">'
                '<script src="https://evil.example.org/x.js"></script>')
    with page(live_url) as pg:
        _watch(pg)

        def inject(route):
            response = route.fetch()
            assert "script-src 'self'" in response.headers["content-security-policy"]
            body = response.text().replace("</body>", injected + "</body>")
            route.fulfill(response=response, body=body)

        pg.route(f"{live_url}/", inject)
        pg.goto(f"{live_url}/")
        pg.wait_for_function("window.__csp.length >= 2")
        pg.wait_for_timeout(300)
        assert pg.evaluate("window.__ran") is None
        directives = {v["directive"] for v in pg.evaluate("window.__csp")}
        assert {"script-src-elem", "script-src-attr"} <= directives


RESIDENT_PAGES = ("/", "/districts/", "/districts/okreg-1/", "/districts/obwod-12/",
                  "/compare/?areas=okreg-1,okreg-3", "/data/", "/data/placowki-oswiatowe/",
                  "/reports/", "/reports/new/")
OGC_PAGES = ("/ogc?f=html", "/ogc/conformance?f=html", "/ogc/collections?f=html",
             "/ogc/collections/biblioteki?f=html", "/ogc/collections/biblioteki/items?f=html",
             "/ogc/collections/biblioteki/queryables?f=html",
             "/ogc/collections/catalogue/items?f=html",
             "/ogc/collections/indicator-values/items?f=html&limit=20")


def test_no_page_breaks_the_policy_in_normal_use(live_url):
    library = Feature.objects.filter(layer__slug="biblioteki").order_by("id").first()
    with page(live_url) as pg:
        _watch(pg)
        for path in RESIDENT_PAGES:
            pg.goto(live_url + path)
            pg.wait_for_load_state("networkidle")
            _clean(pg, path)
        # the map in use: a layer switched on, the table view
        pg.goto(f"{live_url}/?layers=biblioteki,defibrylatory")
        pg.wait_for_function("document.body.dataset.ready")
        pg.click("#table-toggle")
        pg.wait_for_load_state("networkidle")
        _clean(pg, "map in use")
        for path in (*OGC_PAGES, f"/ogc/collections/biblioteki/items/{library.pk}?f=html"):
            pg.goto(live_url + path)
            pg.wait_for_load_state("networkidle")
            _clean(pg, path)
        for path in ("/ogc/collections/biblioteki/items?f=html",
                     f"/ogc/collections/biblioteki/items/{library.pk}?f=html",
                     "/ogc/collections/biblioteki?f=html"):
            pg.goto(live_url + path)
            pg.wait_for_selector(".leaflet-container .leaflet-interactive")
        pg.goto(f"{live_url}/ogc/openapi?f=html")
        pg.wait_for_selector(".swagger-ui .info .title")
        _clean(pg, "Swagger UI")
        pg.goto(f"{live_url}/api/layers/", wait_until="networkidle")
        _clean(pg, "browsable API")


def test_the_admin_map_editor_keeps_the_policy(live_url):
    library = Feature.objects.filter(layer__slug="biblioteki").order_by("id").first()
    precinct = Feature.objects.filter(layer__slug="obwody-glosowania").order_by("id").first()
    with live_user("csp-admin", superuser=True, password="Csp-test-password-42") as user, \
            page(live_url) as pg:
        _watch(pg)
        pg.goto(f"{live_url}/admin/login/")
        pg.fill("#id_username", user.username)
        pg.fill("#id_password", user.password)
        pg.click("input[type=submit]")
        pg.wait_for_url(f"{live_url}/admin/")
        _clean(pg, "admin login")
        for feature in (library, precinct):
            pg.goto(f"{live_url}/admin/layers/feature/{feature.pk}/change/")
            pg.wait_for_selector(".leaflet-container .leaflet-interactive")
            pg.wait_for_selector(".leaflet-draw-toolbar")
            _clean(pg, f"feature {feature.pk}")
        for path in ("/admin/", "/admin/layers/layer/", "/admin/layers/feature/",
                     "/admin/indicators/indicator/audit/gaps/", "/reports/moderate/"):
            pg.goto(live_url + path, wait_until="networkidle")
            _clean(pg, path)
