"""The admin map editor in headless Chromium: a staff user logs in, opens a feature, sees it on a
local Leaflet map with drawing tools and its attributes as typed form fields. Screenshots go to
artifacts/ (`make docs-img` copies them to the README's docs/img/: a test run leaves the
source tree as it was)."""


import psycopg2
import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection

from layers.models import Feature
from tests.e2e.browser import page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

PASSWORD = "a-long-e2e-password"


@pytest.fixture
def gis_login(db):
    """A superuser committed for the live server, removed afterwards."""
    cfg = connection.settings_dict
    conn = psycopg2.connect(host=cfg["HOST"], port=cfg["PORT"], user=cfg["USER"],
                            password=cfg["PASSWORD"], dbname=cfg["NAME"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO auth_user (username, password, is_superuser, is_staff,
                       is_active, first_name, last_name, email, date_joined)
                       VALUES ('e2e-gis', %s, true, true, true, '', '', '', now())""",
                    [make_password(PASSWORD)])
    yield "e2e-gis"
    with conn.cursor() as cur:
        cur.execute("DELETE FROM django_admin_log WHERE user_id IN "
                    "(SELECT id FROM auth_user WHERE username = 'e2e-gis')")
        cur.execute("DELETE FROM auth_user WHERE username = 'e2e-gis'")
    conn.close()


def _login(pg, live_url, username):
    pg.goto(f"{live_url}/admin/login/?next=/admin/")
    pg.fill("#id_username", username)
    pg.fill("#id_password", PASSWORD)
    pg.click("input[type=submit]")
    pg.wait_for_selector("#content")


def _open_editor(pg, live_url, feature):
    pg.goto(f"{live_url}/admin/layers/feature/{feature.pk}/change/")
    pg.wait_for_selector(".leaflet-container")
    pg.wait_for_selector(".leaflet-draw-toolbar")
    pg.wait_for_load_state("networkidle")
    pg.wait_for_timeout(500)


def test_admin_map_editor_shows_the_feature_and_typed_attribute_fields(live_url, artifacts,
                                                                       gis_login):
    library = Feature.objects.filter(layer__slug="biblioteki").order_by("pk").first()
    district = Feature.objects.filter(layer__slug="okregi-wyborcze").order_by("pk").first()
    # Everything from the database first: Playwright's loop forbids the ORM inside it.
    fields, layer_id = library.layer.fields, library.layer_id
    shots = []
    with page(live_url, width=1280, height=900) as pg:
        _login(pg, live_url, gis_login)
        _open_editor(pg, live_url, library)
        # The point is on the map as a draggable marker; attributes are form fields.
        assert pg.locator(".leaflet-marker-icon").count() == 1
        assert pg.locator("textarea[name=properties]").count() == 0
        for i, spec in enumerate(fields):
            assert pg.locator(f"[name=attr_{i}]").count() == 1, spec["name"]
            assert spec["name"] in pg.locator(f"label[for=id_attr_{i}]").inner_text()
        integer = next(i for i, f in enumerate(fields) if f["type"] == "integer")
        assert pg.locator(f"[name=attr_{integer}]").get_attribute("type") == "number"
        shot = artifacts / "admin-map-editor-point.png"
        pg.screenshot(path=str(shot), full_page=False)
        shots.append(shot)

        _open_editor(pg, live_url, district)
        # A polygon: its outline is an SVG path on the map, with vertex editing available.
        assert pg.locator(".leaflet-overlay-pane path").count() >= 1
        assert pg.locator(".leaflet-draw-edit-edit").count() == 1
        shot = artifacts / "admin-map-editor-polygon.png"
        pg.screenshot(path=str(shot), full_page=False)
        shots.append(shot)

        pg.goto(f"{live_url}/admin/layers/feature/?layer__id__exact={layer_id}")
        header = pg.locator("#result_list thead").inner_text()
        assert all(f["name"] in header for f in fields[:3])
        assert pg.foreign_requests == []
    for shot in shots:
        assert shot.stat().st_size > 10_000
