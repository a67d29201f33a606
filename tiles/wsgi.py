"""The tile service's front door: plain public layer tiles without Django's request cycle.

Most tile traffic is `GET /tiles/<layers>/<z>/<x>/<y>.pbf` of public layers with no query
string. On such a request Django's handler, request and response objects, URL resolver,
middleware chain and request signals cost ~0.4 ms of CPU, about a tenth of a cold z14-16 tile
with the database's share counted (bench/tiles.py). PlainTiles answers it with what the view
uses (tiles.access, tiles.build, tiles.caching) and adds what the tile middleware chain would:
the request id, metrics and log line, replica routing, and the CORS and security headers, which
it learns from those middleware classes at start-up instead of restating their rules.

Everything else goes to Django unchanged: other endpoints, query strings, cross-origin requests,
staff-only or unknown layers, malformed addresses, plain HTTP when HTTPS is enforced, and any
failure. So validation messages, permissions and error pages live in one place, and a request
handed over is answered exactly as before. tests/test_tiles_wsgi.py compares both answers.
"""

import io
import logging
import re
import time

from corsheaders.middleware import CorsMiddleware
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.db import DatabaseError, close_old_connections
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.urls import resolve

from sdi import observability, routers
from tiles import build
from tiles.access import public_tile_layers
from tiles.caching import MVT_CONTENT_TYPE, cache_headers, tile_answer
from tiles.options import NO_OPTIONS
from tiles.params import TileRequestError, parse_layer_list, parse_tile

# The layer tile route of tiles.urls (`<str:...>` is [^/]+), for the path after SCRIPT_NAME.
_TILE_PATH = re.compile(r"/tiles/([^/]+)/([^/]+)/([^/]+)/([^/]+)\.pbf\Z")
# The chain (settings.TILES_MIDDLEWARE) whose effect on a public tile answer is reproduced here:
# observability and replica routing by the functions they use; CORS and security headers as
# learned below. Sessions and auth add nothing to a public tile, except that the session
# middleware answers a session cookie it cannot use by deleting it: requests with a session
# cookie (logged-in users, few) go to Django, and so do requests with a NUL in the path or a
# header, which the NUL guard refuses. Any other chain: everything goes to Django.
_STOOD_IN_FOR = [
    "sdi.observability.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "sdi.routers.ReplicaRoutingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "sdi.input_guard.NulGuardMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
log = logging.getLogger("sdi.tiles")
_STATUS = {200: "200 OK", 204: "204 No Content", 304: "304 Not Modified"}


def _added_headers(secure: bool) -> list[tuple[str, str]]:
    """The headers the CORS and security middleware add to a same-origin tile answer (their
    response halves only: the security middleware's request half is the HTTPS redirect, and
    plain HTTP goes to Django when that is on)."""
    request = WSGIRequest({"REQUEST_METHOD": "GET", "PATH_INFO": "/tiles/a/0/0/0.pbf",
                           "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "https" if secure
                           else "http"})
    response = HttpResponse()
    before = set(response.headers)
    CorsMiddleware(lambda r: response).add_response_headers(request, response)
    SecurityMiddleware(lambda r: response).process_response(request, response)
    return [(k, v) for k, v in response.items() if k not in before]


def _nul_in_headers(environ) -> bool:
    return any("\x00" in value for key, value in environ.items()
               if key.startswith("HTTP_") and isinstance(value, str))


class PlainTiles:
    """WSGI application: plain public layer tiles here, every other request to `django`."""

    def __init__(self, django):
        self.django = django
        self.enabled = list(settings.TILES_MIDDLEWARE) == _STOOD_IN_FOR
        if not self.enabled:
            log.warning("settings.TILES_MIDDLEWARE is not the chain tiles.wsgi stands in for: "
                        "every tile request goes through Django (slower, same answers)")
        self.endpoint = "/" + resolve("/tiles/a/0/0/0.pbf").route
        self.added = {secure: _added_headers(secure) for secure in (False, True)}
        self.redirect = settings.SECURE_SSL_REDIRECT  # read once, as SecurityMiddleware does

    def __call__(self, environ, start_response):
        match = self._plain(environ)
        answer = self._answer(environ, match) if match else None
        if answer is None:
            return self.django(environ, start_response)
        status, headers, body = answer
        start_response(_STATUS[status], headers)
        return [body] if body else []

    def _plain(self, environ) -> re.Match | None:
        """The layer tile address of a request this class may answer."""
        path = environ.get("PATH_INFO", "")
        if (self.enabled and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
                and not environ.get("QUERY_STRING") and "HTTP_ORIGIN" not in environ
                and path.isascii() and "\x00" not in path and not _nul_in_headers(environ)):
            return _TILE_PATH.match(path)
        return None

    def _answer(self, environ, match: re.Match) -> tuple[int, list, bytes] | None:
        """(status, headers, body), or None to leave the request to Django."""
        start = time.perf_counter()
        request = WSGIRequest(environ)
        secure = request.is_secure()
        if (self.redirect and not secure) \
                or settings.SESSION_COOKIE_NAME in request.COOKIES:
            return None
        try:
            tile = parse_tile(*match.group(2, 3, 4))
            slugs = parse_layer_list(match.group(1))
        except TileRequestError:
            return None
        # What Django's request_started and request_finished signals do for the databases
        # (their other receivers matter only with DEBUG or a per-request urlconf).
        close_old_connections()
        rid, token = observability.begin_request(request.META.get("HTTP_X_REQUEST_ID", ""))
        reads = routers.set_reads(routers.choose_reads(request))
        result = None
        try:
            result = self._tile(request, slugs, tile)
        except DatabaseError:
            pass  # Django meets it again and answers it (503 while the database restarts)
        except Exception:  # noqa: BLE001 - answered by Django; logged, as it is a fault here
            log.warning("plain tile path failed; Django answers %s", request.path, exc_info=True)
        finally:
            routers.reset_reads(reads)
            if result is None:
                observability.forget_request(token)
            else:
                observability.end_request(
                    token, method=request.method, path=request.path, status=result[0],
                    seconds=time.perf_counter() - start, endpoint=self.endpoint,
                    remote_addr=request.META.get("REMOTE_ADDR", ""))
            close_old_connections()
        if result is None:
            return None
        status, etag, body = result
        headers = [("Content-Type", MVT_CONTENT_TYPE), ("Content-Length", str(len(body)))] \
            if status == 200 else []
        headers += [("ETag", etag), *cache_headers(public=True), *self.added[secure],
                    ("X-Request-ID", rid)]
        return status, headers, body

    def _tile(self, request, slugs: list[str], tile) -> tuple[int, str, bytes] | None:
        """What tiles.views.layer_tile answers for public layers: (status, ETag, body)."""
        layers = public_tile_layers(slugs)
        if layers is None:
            return None
        return tile_answer(request.META.get("HTTP_IF_NONE_MATCH"),
                           build.key(layers, NO_OPTIONS, tile),
                           build.builder(layers, NO_OPTIONS, tile))
