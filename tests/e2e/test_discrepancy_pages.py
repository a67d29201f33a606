"""Two sources disagreeing about one real Kielce district, in headless Chromium against gunicorn:
the resident's profile page and map show both figures with their sources and "explanation
pending"; a staff member writes the explanation in the admin (an empty one is refused); the
resident's pages then show it, in Polish and in English.

The second source's figure is made up for this test and says so in its source name; the
fixture commits it for the live server and removes it (and the discrepancy) afterwards.
Screenshots: artifacts/discrepancy-pending.png, discrepancy-explained.png,
discrepancy-map-panel.png (`make docs-img` copies discrepancy-explained.png to the README's
docs/img/portal-discrepancy.png)."""


import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from indicators import discrepancies, importing
from indicators.models import Discrepancy, Indicator, IndicatorValue
from layers.models import Feature, Layer
from tests.e2e.browser import page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

SECOND = "TEST: second register (figure made up for this browser test)"
STAFF, PASSWORD = "e2e-auditor", "Auditor-e2e-Secret-42"
EXPLANATION = ("The second register still lists the branch library that closed in 2017; "
               "the city's layer does not.")
DISTRICT = 2
ROW = 'tr[data-code="libraries"]'


@pytest.fixture(scope="module")
def disputed(live_url, django_db_blocker):
    """Libraries of district 2 from a second source, 3 more than the city's layer counts;
    committed, so that gunicorn sees it; everything restored afterwards."""
    with django_db_blocker.unblock():
        indicator = Indicator.objects.get(code="libraries")
        districts = Layer.objects.get(slug="okregi-wyborcze")
        area = next(f for f in Feature.objects.filter(layer=districts)
                    if int(f.properties["NR_OKR"]) == DISTRICT)
        computed = IndicatorValue.objects.get(indicator=indicator, area=area, period="2018",
                                              source=indicator.source).value
        csv = f"area_code,period,value,source\n{DISTRICT},2018,{computed + 3},{SECOND}\n"
        importing.import_values(indicator, districts, csv.encode())
        record = Discrepancy.objects.get(indicator=indicator, area=area, period="2018")
        staff = User.objects.create_user(STAFF, password=PASSWORD, is_staff=True)
        staff.user_permissions.add(Permission.objects.get(codename="change_discrepancy"),
                                   Permission.objects.get(codename="view_discrepancy"))
    yield {"record_id": record.pk, "source": indicator.source,
           "source_en": indicator.source_en, "computed": computed,
           "second": computed + 3, "allowed": indicator.allowed_difference(computed,
                                                                            computed + 3)}
    with django_db_blocker.unblock():
        IndicatorValue.objects.filter(indicator=indicator, source=SECOND).delete()
        Discrepancy.objects.filter(indicator=indicator).delete()
        discrepancies.detect(indicator)  # statuses back to "ok"
        User.objects.filter(username=STAFF).delete()


def _n(value: float) -> str:
    return str(round(value))  # library counts: whole numbers, no separators


def _profile_box(pg, live_url):
    pg.goto(f"{live_url}/districts/okreg-{DISTRICT}/")
    box = pg.locator(f"{ROW} .discrepancy")
    box.wait_for()
    return box


def test_disagreeing_sources_are_shown_with_the_explanation_pending_then_explained(
        live_url, artifacts, disputed):
    d = disputed
    assert d["second"] - d["computed"] > d["allowed"]  # beyond the tolerance
    # Every database read happens outside the browser block: Playwright's sync API runs an
    # event loop, in which Django refuses ORM calls.
    with page(live_url, width=1280, height=900) as resident:
        # 1. Before any review, in Polish (the default).
        box = _profile_box(resident, live_url)
        text = box.inner_text()
        assert "Źródła się różnią (2018)" in text
        assert f"{d['source']}: {_n(d['computed'])} szt. (ta wartość jest pokazana)" in text
        assert f"{SECOND}: {_n(d['second'])} szt." in text
        assert "Różnica: 3 szt." in text
        assert "Wyjaśnienie w przygotowaniu" in text
        # The figure the row shows is the city's own source's, next to the box.
        assert resident.locator(f"{ROW} td.value").inner_text().startswith(_n(d["computed"]))
        resident.locator(ROW).screenshot(path=str(artifacts / "discrepancy-pending.png"))
        # Only that district.
        resident.goto(f"{live_url}/districts/okreg-1/")
        assert resident.locator(f"{ROW} .discrepancy").count() == 0

        # 2. The same in English.
        resident.context.add_cookies([{"name": "django_language", "value": "en",
                                       "url": live_url}])
        text = _profile_box(resident, live_url).inner_text()
        assert "Sources disagree (2018)" in text and "(the figure shown)" in text
        assert f"{SECOND}: {_n(d['second'])}" in text
        assert "Explanation pending: the city's staff have not yet written" in text

        # 3. The map: the legend counts the area, its panel has the same box.
        resident.goto(f"{live_url}/?indicator=libraries&areas=okregi-wyborcze&period=2018"
                      f"&area=okreg-{DISTRICT}")
        resident.wait_for_selector("#detail:not([hidden]) .discrepancy")
        resident.wait_for_function(
            "document.getElementById('legend-disputed').textContent !== ''")
        assert "Areas where sources disagree: 1" in resident.inner_text("#legend-disputed")
        panel = resident.inner_text("#detail .discrepancy")
        # The city's own source named in the page's language (English here).
        assert SECOND in panel and d["source_en"] in panel and "Explanation pending" in panel
        # the box says it; the figures above it do not repeat "disputed" as a status line
        assert "disputed" not in resident.inner_text("#detail dl.figures").lower()
        resident.screenshot(path=str(artifacts / "discrepancy-map-panel.png"))
        assert resident.foreign_requests == []

    # 4. Staff explain it in the admin; "reviewed" without an explanation is refused.
    with page(live_url, width=1280, height=900) as staff:
        staff.goto(f"{live_url}/admin/login/?next=/admin/")
        staff.fill("#id_username", STAFF)
        staff.fill("#id_password", PASSWORD)
        staff.click("input[type=submit]")
        staff.wait_for_selector("#content")
        staff.goto(f"{live_url}/admin/indicators/discrepancy/{d['record_id']}/change/")
        staff.select_option("#id_status", "reviewed")
        staff.click("input[name=_save]")
        staff.wait_for_selector(".errorlist")
        # The admin speaks Polish too.
        assert "napisz, dlaczego źródła się" in staff.inner_text(".errorlist")
        staff.fill("#id_explanation", EXPLANATION)
        staff.select_option("#id_status", "reviewed")
        staff.click("input[name=_save]")
        staff.wait_for_url(f"{live_url}/admin/indicators/discrepancy/")
        assert staff.foreign_requests == []

    # 5. The resident's pages now carry the explanation, in both languages.
    with page(live_url, width=1280, height=900) as resident:
        text = _profile_box(resident, live_url).inner_text()
        assert "Wyjaśnienie pracowników urzędu miasta (" in text and EXPLANATION in text
        assert "w przygotowaniu" not in text and SECOND in text
        shot = artifacts / "discrepancy-explained.png"
        resident.locator(ROW).screenshot(path=str(shot))
        resident.context.add_cookies([{"name": "django_language", "value": "en",
                                       "url": live_url}])
        english = _profile_box(resident, live_url).inner_text()
        assert "Explanation from the city's staff (" in english and EXPLANATION in english
        assert "pending" not in english
        assert resident.foreign_requests == []

    record = Discrepancy.objects.select_related("reviewed_by").get(pk=d["record_id"])
    assert record.status == "reviewed" and record.explanation == EXPLANATION
    assert record.reviewed_by.username == STAFF
    assert timezone.localdate(record.reviewed_at).isoformat() in text
    assert shot.stat().st_size > 10_000
