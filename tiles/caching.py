"""Tile caching: server side in Django's cache, client side with ETag / If-None-Match.

Both use one key built from everything a tile depends on (layer id and version, tile address),
so an edit, which bumps the layer version, makes a new key: nothing has to be deleted.
"""

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags

from sdi import metrics

MVT_CONTENT_TYPE = "application/vnd.mapbox-vector-tile"
MAX_AGE = 60
# Raise when the tile SQL changes what it produces: cached tiles of the old format (in Redis,
# which outlives a deploy) then stop matching.
FORMAT = 2


def tile_key(*parts) -> str:
    """A short, fixed-length cache key (memcached limits keys to 250 bytes) from the parts."""
    raw = ":".join(str(p) for p in (FORMAT, *parts))
    return "tiles:" + hashlib.sha1(raw.encode()).hexdigest()


def etag_for(key: str) -> str:
    return f'"{key.removeprefix("tiles:")[:32]}"'


def not_modified(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header value names the tile's ETag."""
    if not header:
        return False
    # If-None-Match uses the weak comparison: W/"x" matches "x".
    tags = {t.removeprefix("W/") for t in parse_etags(header)}
    return "*" in tags or etag in tags


# Single flight: the first request for a tile that is not cached builds it under a lock kept in
# the cache (Redis in production, shared by every worker); the others wait for the tile to
# appear instead of running the same query. A lock outlives a crashed builder by LOCK_TIMEOUT
# at most; then the next waiter takes over.
LOCK_TIMEOUT = 30
_WAIT_FIRST, _WAIT_MAX = 0.002, 0.05
STATS_BUILT = "tiles:stats:built"  # tiles computed by the database
STATS_WAITED = "tiles:stats:waited"  # requests that waited for another one's build


def count(name: str) -> None:
    try:
        cache.incr(name)
    except ValueError:  # first of its kind (or evicted): start the counter
        if not cache.add(name, 1, timeout=None):
            cache.incr(name)


def stats() -> dict[str, int]:
    got = cache.get_many([STATS_BUILT, STATS_WAITED])
    return {"built": got.get(STATS_BUILT, 0), "waited": got.get(STATS_WAITED, 0)}


class _Recent:
    """The tiles this process served last, in front of a shared cache (Redis): a hit costs no
    round trip. Keys hold the layer versions, so an entry can never be stale; it is only evicted
    when the byte budget is spent (least recently used first)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self.items: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self.lock:
            tile = self.items.get(key)
            if tile is not None:
                self.items.move_to_end(key)
            return tile

    def put(self, key: str, tile: bytes) -> None:
        if len(tile) > self.max_bytes // 2:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = tile
            self.size += len(tile)
            while self.size > self.max_bytes:
                _, old = self.items.popitem(last=False)
                self.size -= len(old)


def _recent() -> _Recent | None:
    # With the local memory cache (dev, tests) the tiles are in this process already.
    backend = settings.CACHES["default"]["BACKEND"]
    budget = int(os.environ.get("TILES_RECENT_MB", "32")) * 2**20
    return None if "locmem" in backend.lower() or budget <= 0 else _Recent(budget)


recent = _recent()


def cached_tile(key: str, build: Callable[[], bytes]) -> bytes:
    tile = recent.get(key) if recent else None
    if tile is not None:
        metrics.tile_cache(hit=True)
        return tile
    lock = key + ":lock"
    tile, locked = _get_or_lock(key, lock)
    metrics.tile_cache(hit=tile is not None)
    if tile is None:
        tile = _build_once(key, lock, locked, metrics.timed_build(build))
    if recent:
        recent.put(key, tile)
    return tile


def _get_or_lock(key: str, lock: str) -> tuple[bytes | None, bool | None]:
    """The cached tile, or whether this request took the lock to build it (None: the cache
    cannot lock). Redis does it in one round trip (sdi.cache); other backends in two calls."""
    get_or_lock = getattr(cache, "get_or_lock", None)
    if get_or_lock is not None:
        return get_or_lock(key, lock, LOCK_TIMEOUT)
    tile = cache.get(key)
    if tile is not None:
        return tile, None
    return None, cache.add(lock, 1, timeout=LOCK_TIMEOUT)


def _store(key: str, lock: str, tile: bytes) -> None:
    # Empty tiles are cached too: far-away tiles are the most requested ones at low zoom.
    set_and_unlock = getattr(cache, "set_and_unlock", None)
    if set_and_unlock is not None:
        set_and_unlock(key, tile, lock, STATS_BUILT)
        return
    cache.set(key, tile, timeout=None)
    count(STATS_BUILT)
    cache.delete(lock)


def _build_once(key: str, lock: str, locked: bool | None, build: Callable[[], bytes]) -> bytes:
    if locked is None:  # no cache to lock in (Redis down): build, serve, keep nothing
        return build()
    delay = _WAIT_FIRST
    deadline = time.monotonic() + LOCK_TIMEOUT
    waited, orphaned = False, 0
    while True:
        if locked:
            try:
                tile = build()
            except BaseException:
                cache.delete(lock)
                raise
            _store(key, lock, tile)
            return tile
        if not waited:
            waited = True
            count(STATS_WAITED)
        time.sleep(delay)
        delay = min(delay * 2, _WAIT_MAX)
        tile = cache.get(key)
        if tile is not None:
            return tile
        # Neither the tile nor a lock: the builder failed, or the cache does not work (a cache
        # that fails open answers every add with False). Try the lock again, then give up on
        # the cache rather than make the request wait.
        if cache.get(lock) is None:
            orphaned += 1
        if orphaned > 2 or time.monotonic() > deadline:
            return build()
        locked = cache.add(lock, 1, timeout=LOCK_TIMEOUT)
        # Another request may have stored the tile between our look and taking the lock.
        if locked and (tile := cache.get(key)) is not None:
            cache.delete(lock)
            return tile


def tile_answer(if_none_match: str | None, key: str,
                build: Callable[[], bytes]) -> tuple[int, str, bytes]:
    """(status, ETag, body): 200 with the tile, 204 when it is empty, 304 when the client
    already has it."""
    etag = etag_for(key)
    if not_modified(if_none_match, etag):
        return 304, etag, b""
    tile = cached_tile(key, build)
    return (200 if tile else 204), etag, tile


def tile_response(request: HttpRequest, key: str, build: Callable[[], bytes], *,
                  public: bool = True) -> HttpResponse:
    status, etag, tile = tile_answer(request.headers.get("If-None-Match"), key, build)
    if status == 200:
        response = HttpResponse(tile, content_type=MVT_CONTENT_TYPE)
        # Without it, gunicorn sends the tile chunked and a HEAD request learns no size.
        response["Content-Length"] = str(len(tile))
    else:
        response = HttpResponse(status=status)
        del response["Content-Type"]
    response["ETag"] = etag
    add_cache_headers(response, public=public)
    return response


def cache_headers(*, public: bool) -> list[tuple[str, str]]:
    """Cache-Control and, for public answers, CORS: the headers every tile answer carries
    (tiles.wsgi sends them without a Django response)."""
    if public:
        # Maps on other sites (and the OGC clients the SDI serves) fetch tiles cross-origin.
        return [("Cache-Control", f"public, max-age={MAX_AGE}"),
                ("Access-Control-Allow-Origin", "*")]
    # A staff-only layer must not be kept by shared caches.
    return [("Cache-Control", f"private, max-age={MAX_AGE}")]


def add_cache_headers(response: HttpResponse, *, public: bool) -> None:
    for name, value in cache_headers(public=public):
        response[name] = value
    if not public:
        # Its answer depends on who asks.
        patch_vary_headers(response, ["Cookie", "Authorization"])
