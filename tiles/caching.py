"""Tile caching: server side in Django's cache, client side with ETag / If-None-Match.

Both use one key built from everything a tile depends on (layer id and version, tile address),
so an edit, which bumps the layer version, makes a new key: nothing has to be deleted.
"""

import hashlib
from collections.abc import Callable

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags

MVT_CONTENT_TYPE = "application/vnd.mapbox-vector-tile"
MAX_AGE = 60
# Raise when the tile SQL changes what it produces: cached tiles of the old format (in Redis,
# which outlives a deploy) then stop matching.
FORMAT = 1


def tile_key(*parts) -> str:
    """A short, fixed-length cache key (memcached limits keys to 250 bytes) from the parts."""
    raw = ":".join(str(p) for p in (FORMAT, *parts))
    return "tiles:" + hashlib.sha1(raw.encode()).hexdigest()


def etag_for(key: str) -> str:
    return f'"{key.removeprefix("tiles:")[:32]}"'


def not_modified(request: HttpRequest, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    # If-None-Match uses the weak comparison: W/"x" matches "x".
    tags = {t.removeprefix("W/") for t in parse_etags(header)}
    return "*" in tags or etag in tags


def cached_tile(key: str, build: Callable[[], bytes]) -> bytes:
    tile = cache.get(key)
    if tile is None:
        tile = build()
        # Empty tiles are cached too: far-away tiles are the most requested ones at low zoom.
        cache.set(key, tile, timeout=None)
    return tile


def tile_response(request: HttpRequest, key: str, build: Callable[[], bytes], *,
                  public: bool = True) -> HttpResponse:
    """200 with the tile, 204 when it is empty, 304 when the client already has it."""
    etag = etag_for(key)
    if not_modified(request, etag):
        response = HttpResponse(status=304)
    else:
        tile = cached_tile(key, build)
        if tile:
            response = HttpResponse(tile, content_type=MVT_CONTENT_TYPE)
        else:
            response = HttpResponse(status=204)
    if response.status_code != 200:
        del response["Content-Type"]
    response["ETag"] = etag
    add_cache_headers(response, public=public)
    return response


def add_cache_headers(response: HttpResponse, *, public: bool) -> None:
    if public:
        response["Cache-Control"] = f"public, max-age={MAX_AGE}"
        # Maps on other sites (and the OGC clients the SDI serves) fetch tiles cross-origin.
        response["Access-Control-Allow-Origin"] = "*"
    else:
        # A staff-only layer must not be kept by shared caches, and its answer depends on who
        # asks.
        response["Cache-Control"] = f"private, max-age={MAX_AGE}"
        patch_vary_headers(response, ["Cookie", "Authorization"])
