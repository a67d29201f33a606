"""tiles.wsgi.PlainTiles, the tile service's front door: plain public layer tiles answered
without Django's request cycle, everything else handed to Django.

Each request is sent to PlainTiles and to Django's tile handler alone (what served every tile
before), both in this process against the test database; the answers must be the same, header
for header, and a counting wrapper shows which requests PlainTiles kept and which it handed on.
"""

import io
import logging
import re

import mapbox_vector_tile
import pytest
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from django.test import override_settings
from rest_framework.authtoken.models import Token

from layers import editing
from layers.models import Layer
from sdi import metrics
from sdi.observability import RequestIdFilter
from sdi.wsgi import TilesHandler
from tests.test_tiles import CENTRE, tile_of
from tiles import wsgi

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


@pytest.fixture(autouse=True)
def keep_the_test_connection(monkeypatch):
    """What Django's test client does: no closing of old connections around a request, which
    would end the test's transaction (tests against gunicorn cover the closing)."""
    monkeypatch.setattr(wsgi, "close_old_connections", lambda: None)
    signals.request_started.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)


class Counting:
    """Django's tile handler, counting the requests it gets."""

    def __init__(self):
        self.handler = TilesHandler()
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.handler(environ, start_response)


def environ(path: str, query: str = "", method: str = "GET", **headers) -> dict:
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
           "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
           "REMOTE_ADDR": "203.0.113.7", "wsgi.input": io.BytesIO(b""),
           "wsgi.url_scheme": "http", "HTTP_HOST": "testserver"}
    env.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    return env


def call(app, env: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, headers

    body = b"".join(app(dict(env, **{"wsgi.input": io.BytesIO(b"")}), start_response))
    return got["status"], got["headers"], body


def comparable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # A fresh request id each time, unless the request brought one; the read-your-writes
    # cookie after a POST holds the time.
    def value(k, v):
        if k == "X-Request-ID" and len(v) == 32:
            return "<id>"
        return re.sub(r"sdi_primary=[0-9.]+; expires=[^;]+", "sdi_primary=<time>", v)

    return sorted((k.lower(), value(k, v)) for k, v in headers)


def both(env: dict) -> tuple[tuple, tuple, int]:
    """(PlainTiles' answer, Django's answer, how many requests PlainTiles handed on)."""
    django = Counting()
    plain = call(wsgi.PlainTiles(django), env)
    cache.clear()  # Django computes the tile again rather than find PlainTiles' copy
    ours = call(TilesHandler(), env)
    return plain, ours, django.calls


def assert_same(plain, ours):
    assert plain[0] == ours[0]
    assert comparable(plain[1]) == comparable(ours[1])
    assert plain[2] == ours[2]


def tile(layers: str = "biblioteki", z: int = 12) -> str:
    _, x, y = tile_of(*CENTRE, z)
    return f"/tiles/{layers}/{z}/{x}/{y}.pbf"


# --- answered by PlainTiles, exactly as Django answers them ----------------------------------

@pytest.mark.parametrize("path, headers, status", [
    (tile(), {}, "200 OK"),
    (tile("okregi-wyborcze,biblioteki"), {}, "200 OK"),  # composite
    (tile("okregi-wyborcze", z=16), {}, "200 OK"),
    ("/tiles/biblioteki/3/0/0.pbf", {}, "204 No Content"),  # far from Kielce: empty
    (tile(), {"X-Request-ID": "front-door-check-0001"}, "200 OK"),
    (tile(), {"Cookie": "sdi_primary=1; csrftoken=x; django_language=en"}, "200 OK"),
    (tile(), {"Authorization": "Token not-a-token"}, "200 OK"),  # a public tile: no user read
    (tile(), {"X-Forwarded-Proto": "https"}, "200 OK"),
])
def test_plain_public_tiles_are_answered_here_as_django_answers_them(path, headers, status):
    plain, ours, handed_on = both(environ(path, **headers))
    assert handed_on == 0
    assert plain[0] == status
    assert_same(plain, ours)
    if status == "200 OK":
        layers = path.split("/")[2].split(",")
        assert list(mapbox_vector_tile.decode(plain[2])) == layers
        assert dict(plain[1])["Content-Length"] == str(len(plain[2]))
    given = headers.get("X-Request-ID")
    if given:
        assert ("X-Request-ID", given) in plain[1]


def test_head_and_conditional_requests():
    path = tile()
    plain, ours, handed_on = both(environ(path, method="HEAD"))
    assert handed_on == 0
    assert_same(plain, ours)
    etag = dict(plain[1])["ETag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        plain, ours, handed_on = both(environ(path, if_none_match=header))
        assert handed_on == 0
        assert plain[0] == "304 Not Modified" and plain[2] == b""
        assert_same(plain, ours)
    plain, _, _ = both(environ(path, if_none_match='"stale"'))
    assert plain[0] == "200 OK"


def test_https_behind_the_proxy_gets_hsts_as_from_django():
    with override_settings(SECURE_HSTS_SECONDS=3600,
                           SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        for proto in ("https", "http"):
            plain, ours, handed_on = both(environ(tile(), x_forwarded_proto=proto))
            assert handed_on == 0
            assert_same(plain, ours)
            assert ("Strict-Transport-Security" in dict(plain[1])) is (proto == "https")


def test_an_edit_shows_in_the_next_plain_tile():
    django = Counting()
    app = wsgi.PlainTiles(django)
    env = environ(tile())
    first = call(app, env)
    fid = min(f["id"] for f in mapbox_vector_tile.decode(first[2])["biblioteki"]["features"])
    editing.update_feature(fid, properties={"NAZWA": "Po edycji"}, replace=False)
    second = call(app, env)
    assert django.calls == 0
    assert dict(second[1])["ETag"] != dict(first[1])["ETag"]
    names = {f["id"]: f["properties"].get("NAZWA")
             for f in mapbox_vector_tile.decode(second[2])["biblioteki"]["features"]}
    assert names[fid] == "Po edycji"


def test_plain_tiles_are_logged_and_counted_like_the_rest(caplog):
    env = environ(tile(), x_request_id="front-door-log-0001")
    before = metrics.REQUESTS.labels(wsgi.PlainTiles(Counting()).endpoint, "GET", "200")._value
    start = before.get()
    caplog.handler.addFilter(RequestIdFilter())  # what the project's log handlers add
    with caplog.at_level(logging.INFO, logger="sdi.request"):
        plain, ours, _ = both(env)
    assert before.get() == start + 2  # one each: the same endpoint label on both paths
    lines = [r for r in caplog.records if r.name == "sdi.request"]
    assert len(lines) == 2
    fields = ("method", "path", "status", "endpoint", "remote_addr", "request_id")
    assert [{f: getattr(r, f) for f in fields} for r in lines] == [{
        "method": "GET", "path": tile(), "status": 200,
        "endpoint": "/tiles/<str:layers>/<str:z>/<str:x>/<str:y>.pbf",
        "remote_addr": "203.0.113.7", "request_id": "front-door-log-0001"}] * 2


# --- handed to Django ------------------------------------------------------------------------

@pytest.mark.parametrize("path, query, method, headers", [
    (tile(), "properties=NAZWA", "GET", {}),  # options: the view parses them
    (tile(), "", "GET", {"Origin": "https://maps.example.org"}),  # CORS headers per origin
    (tile(), "", "POST", {}),  # 405
    (tile(), "", "OPTIONS", {"Origin": "https://maps.example.org",
                             "Access-Control-Request-Method": "GET"}),  # preflight
    ("/tiles/nie-ma-takiej/12/0/0.pbf", "", "GET", {}),  # unknown layer: 404
    ("/tiles/biblioteki,nie-ma/12/0/0.pbf", "", "GET", {}),
    ("/tiles/biblioteki/23/0/0.pbf", "", "GET", {}),  # zoom out of range: 400
    ("/tiles/biblioteki/3/8/0.pbf", "", "GET", {}),  # x out of range at z3
    ("/tiles/biblioteki/-1/0/0.pbf", "", "GET", {}),
    ("/tiles/biblioteki/a/0/0.pbf", "", "GET", {}),
    ("/tiles/biblioteki,biblioteki/3/0/0.pbf", "", "GET", {}),  # listed twice
    ("/tiles/biblioteki/3/0/0.pbf.pbf", "", "GET", {}),
    ("/tiles/biblioteki'--/3/0/0.pbf", "", "GET", {}),
    ("/tiles/bibliot\u00c3\u00a9ki/3/0/0.pbf", "", "GET", {}),  # UTF-8 bytes, as WSGI gives them
    ("/tiles/biblioteki.json", "", "GET", {}),
    ("/tiles/indicators/nope/3/0/0.pbf", "", "GET", {}),
    ("/tiles/", "", "GET", {}),
    (tile(), "", "GET", {"Cookie": "sessionid=abc"}),  # the session middleware deletes it
    (tile(), "", "GET", {"Cookie": "csrftoken=x; sessionid=abcdefghijklmnopqrstuvwxyz012345"}),
])
def test_everything_else_is_handed_to_django(path, query, method, headers):
    plain, ours, handed_on = both(environ(path, query, method, **headers))
    assert handed_on == 1
    assert_same(plain, ours)


def test_staff_only_layers_are_left_to_django_and_stay_hidden(admin_user):
    Layer.objects.filter(slug="biblioteki").update(visibility=Layer.Visibility.STAFF)
    anonymous = environ(tile("okregi-wyborcze,biblioteki"))
    plain, ours, handed_on = both(anonymous)
    assert handed_on == 1 and plain[0].startswith("404")
    assert_same(plain, ours)
    token = Token.objects.create(user=admin_user)
    plain, ours, handed_on = both(environ(tile(), authorization=f"Token {token.key}"))
    assert handed_on == 1 and plain[0] == "200 OK"
    assert dict(plain[1])["Cache-Control"] == "private, max-age=60"
    assert_same(plain, ours)


def test_plain_http_is_left_to_django_when_https_is_enforced():
    # As in production (docker-compose.yml): redirects on, only the site's own host allowed.
    with override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=3600,
                           SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
                           ALLOWED_HOSTS=["testserver"]):
        plain, ours, handed_on = both(environ(tile()))
        assert handed_on == 1 and plain[0].startswith("301")
        assert_same(plain, ours)
        plain, ours, handed_on = both(environ(tile(), x_forwarded_proto="https"))
        assert handed_on == 0 and plain[0] == "200 OK"
        assert "Strict-Transport-Security" in dict(plain[1])
        assert_same(plain, ours)


def test_a_failure_here_is_answered_by_django_and_logged(monkeypatch, caplog):
    """Whatever goes wrong in the short path (here: its layer lookup), Django answers the
    request again with its own handling, so no error is answered differently."""
    def broken(slugs):
        raise RuntimeError("lookup failed")

    monkeypatch.setattr(wsgi, "public_tile_layers", broken)
    with caplog.at_level(logging.WARNING, logger="sdi.tiles"):
        plain, ours, handed_on = both(environ(tile()))
    assert handed_on == 1 and plain[0] == "200 OK"
    assert_same(plain, ours)
    failure = [r for r in caplog.records if r.name == "sdi.tiles"]
    assert len(failure) == 1 and "lookup failed" in failure[0].exc_text


def test_another_middleware_chain_turns_the_short_path_off(caplog):
    with override_settings(TILES_MIDDLEWARE=["sdi.observability.RequestObservabilityMiddleware"]):
        django = Counting()
        with caplog.at_level(logging.WARNING, logger="sdi.tiles"):
            app = wsgi.PlainTiles(django)
    assert not app.enabled
    assert "every tile request goes through Django" in caplog.text
    call(app, environ(tile()))
    assert django.calls == 1
