"""Security answers that hold for the whole site (docs/security.md): the login limiter across
web processes, who may read /metrics, and the Content-Security-Policy header. Browser checks of
the policy are in tests/e2e/test_security_csp.py; who sees which layer and indicator is the
matrix in tests/test_permissions.py."""

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import pytest
from django.test import Client

from tests.live_users import committed
from tests.servers import live_gunicorn

pytestmark = pytest.mark.django_db


# --- the login limiter counts once for every worker --------------------------------------------

def _login_attempts(url: str, n: int, *, parallel: int) -> list[int]:
    """n failed admin logins from one address (this machine), `parallel` at a time, each on its
    own connection; their status codes."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{url}/admin/login/", timeout=30).read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode({"username": "nobody-here", "password": "guessed",
                                   "csrfmiddlewaretoken": token}).encode()

    def attempt(_):
        request = urllib.request.Request(f"{url}/admin/login/", data=form, headers={
            "Cookie": f"csrftoken={token}", "Referer": f"{url}/admin/login/"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(attempt, range(n)))


def test_login_limit_is_one_count_for_every_worker(kielce, django_db_blocker):
    """`make run`'s set-up (gunicorn with several workers, no Redis: each process has its own
    local-memory cache): 5 failed logins from one address are 5 in all, even when the guesses
    come at once and land on different workers."""
    with django_db_blocker.unblock(), live_gunicorn(
            "test-login-limit.log", {"REDIS_URL": "", "LOGIN_FAILURES_PER_IP": "5"},
            workers=2, threads=1) as url:
        try:
            statuses = _login_attempts(url, 12, parallel=6)
            assert sorted(statuses) == [200] * 5 + [429] * 7, statuses
            assert _login_attempts(url, 3, parallel=1) == [429] * 3
        finally:
            with committed() as cur:
                cur.execute("DELETE FROM ops_loginthrottle")


# --- /metrics ----------------------------------------------------------------------------------

def test_metrics_without_a_token_answer_on_loopback_only(monkeypatch):
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    client = Client()
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    for outside in ({"REMOTE_ADDR": "203.0.113.5"}, {"REMOTE_ADDR": "10.0.0.7"},
                    # through a proxy on this machine, for a client elsewhere
                    {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}):
        response = client.get("/metrics", **outside)
        assert response.status_code == 403, outside
        assert b"sdi_http" not in response.content


def test_metrics_with_a_token_need_it_from_everywhere(monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", "s3cret-token")
    client = Client()
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5",
                      HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


# --- Content-Security-Policy ------------------------------------------------------------------

def _directives(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


def test_every_response_carries_the_policy(client):
    for path in ("/", "/admin/login/", "/ogc?f=html", "/ogc/openapi?f=html", "/api/layers/",
                 "/api/schema/", "/reports/", "/no-such-page/", "/data/biblioteki.geojson"):
        response = client.get(path)
        policy = _directives(response["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"], path
        assert policy["style-src"] == ["'self'"], path
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
        assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]
        assert policy["connect-src"] == ["'self'"]
        assert policy["img-src"][:3] == ["'self'", "data:", "blob:"]


def test_the_basemap_host_is_the_one_foreign_image_source():
    from sdi.settings import _basemap_source

    assert _basemap_source("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == [
        "https://tile.openstreetmap.org"]
    assert _basemap_source("https://{s}.tiles.example.org/{z}/{x}/{y}.png") == [
        "https://*.tiles.example.org"]
    assert _basemap_source("") == []


def test_the_browsable_api_allows_style_attributes_and_nothing_inline_else(client):
    response = client.get("/api/layers/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    policy = _directives(response["Content-Security-Policy"])
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert [f for f in inline_code(response.content.decode()) if "style=" not in f] == []
    assert "style-src-attr" not in client.get("/api/layers/")["Content-Security-Policy"]


class _InlineFinder(HTMLParser):
    """What a policy without 'unsafe-inline' blocks: inline scripts, on*= handlers, style
    attributes and <style> elements."""

    DATA_TYPES = ("application/json", "application/ld+json")

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and "src" not in attrs and attrs.get("type") not in self.DATA_TYPES:
            self.found.append(f"inline <script> at line {self.getpos()[0]}")
        if tag == "style":
            self.found.append(f"<style> at line {self.getpos()[0]}")
        for name in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"{name}= on <{tag}> at line {self.getpos()[0]}")


def inline_code(html: str) -> list[str]:
    finder = _InlineFinder()
    finder.feed(html)
    return finder.found


PUBLIC_PAGES = ("/", "/districts/", "/districts/okreg-1/", "/compare/?areas=okreg-1,okreg-2",
                "/data/", "/data/biblioteki/", "/reports/", "/reports/new/", "/ogc?f=html",
                "/ogc/conformance?f=html", "/ogc/collections?f=html",
                "/ogc/collections/biblioteki?f=html", "/ogc/collections/biblioteki/items?f=html",
                "/ogc/collections/biblioteki/queryables?f=html",
                "/ogc/collections/catalogue/items?f=html", "/ogc/collections/indicator-values"
                "/items?f=html&limit=5", "/ogc/openapi?f=html", "/admin/login/")
STAFF_PAGES = ("/admin/", "/admin/layers/layer/", "/admin/layers/feature/",
               "/admin/indicators/indicator/", "/admin/indicators/indicator/audit/gaps/",
               "/admin/indicators/indicator/audit/inventory/",
               "/admin/indicators/indicator/audit/quality/", "/reports/moderate/")


def test_pages_have_no_inline_script_or_style(client, django_user_model):
    from layers.models import Feature

    feature = Feature.objects.filter(layer__slug="biblioteki").first()
    pages = [*PUBLIC_PAGES, f"/ogc/collections/biblioteki/items/{feature.pk}?f=html"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert inline_code(response.content.decode()) == [], path
    client.force_login(django_user_model.objects.create(username="csp-root", is_staff=True,
                                                        is_superuser=True))
    from django.contrib import admin

    every_list = [f"/admin/{m._meta.app_label}/{m._meta.model_name}/"
                  for m in admin.site._registry]
    for path in (*STAFF_PAGES, *every_list, f"/admin/layers/feature/{feature.pk}/change/",
                 f"/admin/layers/layer/{feature.layer_id}/change/", "/admin/layers/layer/add/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert inline_code(response.content.decode()) == [], path


def test_a_route_can_allow_framing_for_itself():
    """Pages meant to be embedded (the coming /embed/ views) replace frame-ancestors for their
    own answers; every other directive stays."""
    from csp.decorators import csp_replace
    from csp.middleware import CSPMiddleware
    from django.http import HttpResponse
    from django.test import RequestFactory

    @csp_replace({"frame-ancestors": ["https:"]})
    def embedded(request):
        return HttpResponse("<p>map</p>")

    response = CSPMiddleware(embedded)(RequestFactory().get("/embed/map/"))
    policy = _directives(response["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["https:"] and policy["script-src"] == ["'self'"]
