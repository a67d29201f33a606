"""Resident pages are cacheable: an anonymous visitor's page sets no cookie and says
`Cache-Control: public`, so that nginx's micro-cache (deploy/nginx/sdi.conf.template), a CDN and
browsers can serve a news story's spike; it varies by the language cookie only; anything
personal (a login, a session, a message, a token, the read-your-writes cookie) is `private`.
The language switch is a plain link (sdi/language.py) that cannot redirect off-site.

The nginx side (a second request served from the cache, an editor never served from it) runs
against the local production topology in tests/test_ops_topology.py.
"""

import os
import re
import subprocess
import time
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.messages import constants
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpResponse
from django.test import Client, RequestFactory

from layers.models import Layer
from sdi.routers import STICKY_COOKIE

pytestmark = pytest.mark.django_db

LANGUAGE_COOKIE = settings.LANGUAGE_COOKIE_NAME


def _public_dataset() -> str:
    return Layer.objects.filter(visibility=Layer.Visibility.PUBLIC).order_by("id")[0].slug


def resident_pages() -> list[str]:
    return ["/", "/?indicator=no-such", "/districts/", "/districts/okreg-1/",
            "/compare/?areas=okreg-1,okreg-2", "/data/", "/data/?q=szko",
            f"/data/{_public_dataset()}/", "/reports/"]


def cache_control(response) -> dict[str, str]:
    out = {}
    for part in response.get("Cache-Control", "").split(","):
        if part.strip():
            key, _, value = part.strip().partition("=")
            out[key.lower()] = value
    return out


def switch_links(html: str) -> dict[str, str]:
    """The language switch's links in a page: {language: href}."""
    nav = re.search(r'<nav[^>]*class="lang"[^>]*>(.*?)</nav>', html, re.S).group(1)
    return {lang: unescape(href) for href, lang in
            re.findall(r'<a href="([^"]+)" hreflang="([^"]+)"', nav)}


def test_every_resident_page_is_cookie_free_and_public_for_anonymous_visitors():
    for path in resident_pages():
        for language in ("", "pl", "en"):
            client = Client()
            if language:
                client.cookies[LANGUAGE_COOKIE] = language
            response = client.get(path)
            assert response.status_code == 200, path
            assert not response.cookies, (path, response.cookies)
            cc = cache_control(response)
            assert "public" in cc and "private" not in cc, (path, cc)
            assert cc["max-age"] == str(settings.PAGE_CACHE_SECONDS), (path, cc)
            # What may change the page: the language cookie. Shared caches key on it.
            assert "cookie" in response["Vary"].lower()
            shown = language or "pl"
            assert response["Content-Language"] == shown
            assert f'<html lang="{shown}">' in response.content.decode()
            # No form with a token on the page; the switch is links.
            assert "csrfmiddlewaretoken" not in response.content.decode()


def test_head_requests_are_public_too(client):
    response = client.head("/districts/okreg-1/")
    assert response.status_code == 200 and not response.cookies
    assert "public" in cache_control(response)


def test_logged_in_users_get_private_pages(client):
    editor = User.objects.create_user("h9-editor", password="x" * 12, is_staff=True)
    client.force_login(editor)
    for path in resident_pages():
        response = client.get(path)
        assert response.status_code == 200, path
        cc = cache_control(response)
        assert "private" in cc and "public" not in cc, (path, cc)
        assert cc["max-age"] == "0"


@pytest.mark.parametrize("extra", [
    {"HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}=expired-or-unknown"},
    {"HTTP_COOKIE": f"{STICKY_COOKIE}={time.time() + 10:.3f}"},
    {"HTTP_AUTHORIZATION": "Token abc"},
], ids=["session-cookie", "read-your-writes", "authorization"])
def test_a_request_that_may_be_personal_gets_a_private_page(extra):
    response = Client().get("/", **extra)
    assert response.status_code == 200
    cc = cache_control(response)
    assert "private" in cc and "public" not in cc


def _message_cookie(text: str) -> str:
    """A message waiting in the cookie, as django.contrib.messages stores one for a visitor
    without a session (e.g. after a "me too")."""
    storage = CookieStorage(RequestFactory().get("/"))
    storage.add(constants.SUCCESS, text)
    response = HttpResponse()
    storage.update(response)
    return response.cookies[storage.cookie_name].value


def test_a_page_that_shows_a_visitor_their_message_is_private():
    client = Client()
    client.cookies["messages"] = _message_cookie("Thank you for h9")
    response = client.get("/reports/")
    assert response.status_code == 200
    assert "Thank you for h9" in response.content.decode()
    # The message is consumed (its cookie deleted): personal, not for a shared cache.
    assert "messages" in response.cookies
    cc = cache_control(response)
    assert "private" in cc and "public" not in cc
    # The next view, without the message, is shared again.
    again = client.get("/reports/")
    assert "Thank you for h9" not in again.content.decode()
    assert "public" in cache_control(again)


def test_report_form_is_the_exception_it_needs_a_csrf_token(client):
    """The citizen-report form posts, so it carries a CSRF token and its cookie: it is never
    shared (neither are the report pages with the "me too" button)."""
    response = client.get("/reports/new/")
    assert response.status_code == 200
    assert settings.CSRF_COOKIE_NAME in response.cookies
    assert "public" not in cache_control(response)


def test_pages_that_are_not_found_are_not_marked_public(client):
    response = client.get("/districts/no-such-area/")
    assert response.status_code == 404
    assert "public" not in cache_control(response)


def test_language_link_switches_the_language_and_returns_to_the_page():
    client = Client()
    page = client.get("/districts/okreg-2/?x=1&y=2")
    links = switch_links(page.content.decode())
    assert set(links) == {code for code, _ in settings.LANGUAGES}
    href = urlsplit(links["en"])
    assert href.path == "/language/en/"
    assert parse_qs(href.query)["next"] == ["/districts/okreg-2/?x=1&y=2"]

    response = client.get(links["en"])
    assert response.status_code == 302
    assert response["Location"] == "/districts/okreg-2/?x=1&y=2"
    assert response.cookies[LANGUAGE_COOKIE].value == "en"
    assert "no-store" in cache_control(response)  # a redirect that sets a cookie: never cached
    english = client.get(response["Location"])
    assert english["Content-Language"] == "en" and '<html lang="en">' in english.content.decode()
    assert 'aria-current="true">EN<' in english.content.decode()
    assert "public" in cache_control(english) and not english.cookies

    back = client.get(switch_links(english.content.decode())["pl"])
    assert back.status_code == 302 and back.cookies[LANGUAGE_COOKIE].value == "pl"
    polish = client.get(back["Location"])
    assert polish["Content-Language"] == "pl" and '<html lang="pl">' in polish.content.decode()
    # Repeating the switch changes nothing more.
    assert client.get(links["pl"]).cookies[LANGUAGE_COOKIE].value == "pl"


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/phish", "/\\evil.example", "http:/evil.example",
    "https://testserver.evil.example/", "javascript:alert(1)", " //evil.example", "",
])
def test_language_link_never_redirects_off_site(client, target):
    response = client.get("/language/en/", {"next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert response.cookies[LANGUAGE_COOKIE].value == "en"


def test_language_link_keeps_an_absolute_address_of_this_site(client):
    response = client.get("/language/en/", {"next": "http://testserver/data/"})
    assert response["Location"] == "http://testserver/data/"


@pytest.mark.parametrize("code", ["xx", "EN", "en-gb", "de"])
def test_unknown_language_is_404_and_sets_nothing(client, code):
    response = client.get(f"/language/{code}/", {"next": "/"})
    assert response.status_code == 404
    assert LANGUAGE_COOKIE not in response.cookies


def test_language_link_only_answers_get(client):
    response = client.post("/language/en/", {"next": "/"})
    assert response.status_code == 405
    assert LANGUAGE_COOKIE not in response.cookies


def test_an_unknown_language_cookie_shows_polish_and_stays_public():
    client = Client()
    client.cookies[LANGUAGE_COOKIE] = "xx"
    response = client.get("/")
    assert response["Content-Language"] == "pl"
    assert "public" in cache_control(response) and not response.cookies


# --- the nginx side, without nginx running (the topology test runs it) -------------------------

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy/nginx/sdi.conf.template"


def _pages_location() -> re.Pattern:
    text = TEMPLATE.read_text()
    found = re.findall(r"location ~ (\S+) \{((?:[^{}])*)\}", text)
    (regex,) = [r for r, body in found if "proxy_cache sdi_pages;" in body]
    return re.compile(regex)


@pytest.mark.parametrize("path, cached", [
    ("/", True), ("/districts/", True), ("/districts/okreg-1/", True), ("/compare/", True),
    ("/data/", True), ("/data/biblioteki/", True), ("/reports/", True),
    ("/data/biblioteki.gpkg", False), ("/data/biblioteki.geojson", False),
    ("/districts/okreg-1.csv", False), ("/districts/at.json", False),
    ("/map/table.json", False), ("/reports/new/", False), ("/reports/12/", False),
    ("/reports/12/support/", False), ("/reports/moderate/", False), ("/reports/thanks/", False),
    ("/admin/", False), ("/admin/login/", False), ("/api/layers/", False),
    ("/accounts/login/", False), ("/language/en/", False), ("/i18n/setlang/", False),
    ("/tiles/biblioteki/1/0/0.pbf", False), ("/ogc/collections", False), ("/media/x.jpg", False),
    ("/districts/a/b/", False), ("/data/x/y/", False),
])
def test_nginx_page_cache_covers_the_resident_pages_and_nothing_else(path, cached):
    assert bool(_pages_location().match(path)) is cached


def test_every_shared_page_is_in_the_nginx_page_cache():
    for path in resident_pages():
        assert _pages_location().match(urlsplit(path).path), path


def test_nginx_template_renders_as_the_nginx_image_does_and_passes_nginx_t(tmp_path):
    """The image substitutes every variable its environment defines (all upper case); nginx's
    own variables are lower case, so only the documented ones may be upper case."""
    text = TEMPLATE.read_text()
    documented = {"SDI_UPSTREAM", "SDI_TILES_UPSTREAM", "NGINX_LISTEN", "NGINX_RESOLVER",
                  "STATIC_ROOT", "NGINX_CACHE_DIR", "NGINX_LOG_DIR"}
    code = re.sub(r"#[^\n]*", "", text)  # the header comment explains ${VARIABLES}
    assert set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", code)) == documented
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = {**os.environ, **compose["services"]["nginx"]["environment"],
           "NGINX_LISTEN": "127.0.0.1:1 default_server", "NGINX_CACHE_DIR": str(tmp_path / "cache"),
           "NGINX_LOG_DIR": str(tmp_path)}
    defined = " ".join(f"${{{name}}}" for name in env)
    rendered = subprocess.run(["envsubst", defined], input=text, env=env, text=True,
                              capture_output=True, check=True).stdout
    assert "$cookie_django_language" in rendered and "$request_uri" in rendered
    (tmp_path / "cache").mkdir()  # the image's /var/cache/nginx exists
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n include /etc/nginx/mime.types;\n include {tmp_path}/sdi.conf;\n}}\n")
    # The upstreams' names (web, tiles) are looked up when requests come, through the resolver:
    # the configuration holds them as they are.
    assert "set $sdi_web web:8000;" in rendered and "resolver 127.0.0.11 " in rendered
    # An upstream{} block would keep the first address it found.
    assert not re.search(r"^\s*upstream\s+\w+\s*\{", rendered, re.M)
    (tmp_path / "sdi.conf").write_text(rendered)
    done = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
