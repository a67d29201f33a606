"""A Redis cache that fails open: when Redis is down, the site works uncached instead of 500.

Every operation that raises a Redis error is logged, counted (sdi_cache_errors_total) and
answered as a miss: get → default, set/add/delete → False, incr → None. After an error the
backend stops trying for DOWN_SECONDS, so a dead Redis costs one failed connect per process
every few seconds, not one per cache call (connect and socket timeouts are short, see
settings.CACHES, so a Redis host that vanishes does not hang requests either).

Everything the cache holds here can be rebuilt (tiles, pages, rate-limit counters), which is
what makes failing open correct. Do not use this backend for data that exists nowhere else.
"""

import hashlib
import logging
import os
import threading
import time
from functools import wraps

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import NoScriptError, RedisError

from sdi import metrics

log = logging.getLogger("sdi.cache")

DOWN_SECONDS = 2.0
MISSING = object()


def _fail_open(answer):
    def decorate(method):
        name = method.__name__

        @wraps(method)
        def wrapper(self, *args, **kwargs):
            if time.monotonic() < self._down_until:
                metrics.cache_error(name)
                return answer(args, kwargs)
            try:
                return method(self, *args, **kwargs)
            except (RedisError, OSError) as exc:
                if time.monotonic() >= self._down_until + DOWN_SECONDS:
                    # Logged once per outage window, not per call.
                    log.warning("cache unavailable (%s: %s); serving uncached",
                                exc.__class__.__name__, exc)
                self._down_until = time.monotonic() + DOWN_SECONDS
                metrics.cache_error(name)
                return answer(args, kwargs)

        return wrapper

    return decorate


def _default(args, kwargs):
    return kwargs.get("default", args[1] if len(args) > 1 else None)


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django's client makes a new redis.Redis for every cache call, and redis-py 5+ fills a
    dict of some 170 response callbacks in each one: about 0.4 ms of CPU per call, most of a
    cold tile's Python time (bench/tiles.py). Here each thread keeps one redis.Redis per pool
    with its own connection (single_connection_client): no pool check-out, liveness poll and
    check-in around every command. Kept per process too: after a fork the child makes its own."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    def get_client(self, key=None, *, write=False):
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.pid, local.clients = os.getpid(), {}
        pool = self._get_connection_pool(write)
        client = local.clients.get(id(pool))
        if client is None:
            client = self._client(connection_pool=pool, single_connection_client=True)
            local.clients[id(pool)] = client
        return client


# "The value, or else the lock to build it" in one round trip, and "store the value, count it,
# release the lock" in another: Redis runs each script atomically.
_GET_OR_LOCK = """
local value = redis.call('GET', KEYS[1])
if value then return {1, value} end
if redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[1]) then return {0, 1} end
return {0, 0}
"""
_SET_AND_UNLOCK = """
redis.call('SET', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[3])
redis.call('DEL', KEYS[2])
return 1
"""
_SHA = {lua: hashlib.sha1(lua.encode()).hexdigest() for lua in (_GET_OR_LOCK, _SET_AND_UNLOCK)}


class FailOpenRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
        self._down_until = 0.0

    # Build-once support for tiles/caching.py: a cold tile costs two round trips (get_or_lock,
    # then set_and_unlock) instead of seven through the generic cache API (get, add, get, set,
    # exists + incr, delete), which was most of a cold tile's Python time (bench/tiles.py).
    # The keys are the callers' own fixed-format keys, so they are not validated again.
    def _script(self, lua: str, keys: list[str], args: list):
        client = self._cache.get_client(write=True)
        keys = [self.make_key(k) for k in keys]
        try:
            return client.execute_command("EVALSHA", _SHA[lua], len(keys), *keys, *args)
        except NoScriptError:  # a Redis restarted since: load the script once more
            client.script_load(lua)
            return client.execute_command("EVALSHA", _SHA[lua], len(keys), *keys, *args)

    @_fail_open(lambda a, k: (None, None))
    def get_or_lock(self, key, lock, timeout):
        """(value, None) on a hit; (None, True) when the caller took the lock and must build;
        (None, False) when another process holds it; (None, None) when Redis is down."""
        found, value = self._script(_GET_OR_LOCK, [key, lock], [timeout])
        if found:
            return self._cache._serializer.loads(value), None
        return None, bool(value)

    @_fail_open(lambda a, k: False)
    def set_and_unlock(self, key, value, lock, counter):
        """Store value (no expiry), add one to counter and release the lock."""
        self._script(_SET_AND_UNLOCK, [key, lock, counter], [self._cache._serializer.dumps(value)])
        return True

    @_fail_open(_default)
    def get(self, key, default=None, version=None):
        return super().get(key, default, version)

    @_fail_open(lambda a, k: False)
    def set(self, *args, **kwargs):
        return super().set(*args, **kwargs)

    @_fail_open(lambda a, k: False)
    def add(self, *args, **kwargs):
        return super().add(*args, **kwargs)

    @_fail_open(lambda a, k: False)
    def touch(self, *args, **kwargs):
        return super().touch(*args, **kwargs)

    @_fail_open(lambda a, k: False)
    def delete(self, *args, **kwargs):
        return super().delete(*args, **kwargs)

    @_fail_open(lambda a, k: {})
    def get_many(self, *args, **kwargs):
        return super().get_many(*args, **kwargs)

    @_fail_open(lambda a, k: False)
    def has_key(self, *args, **kwargs):
        return super().has_key(*args, **kwargs)

    @_fail_open(lambda a, k: None)
    def incr(self, *args, **kwargs):
        return super().incr(*args, **kwargs)

    @_fail_open(lambda a, k: list(a[0]) if a else [])
    def set_many(self, *args, **kwargs):
        return super().set_many(*args, **kwargs)

    @_fail_open(lambda a, k: None)
    def delete_many(self, *args, **kwargs):
        return super().delete_many(*args, **kwargs)

    @_fail_open(lambda a, k: False)
    def clear(self):
        return super().clear()

    def ping(self) -> bool:
        """For /readyz: True when Redis answers now (ignores the down window)."""
        try:
            return bool(self._cache.get_client(write=True).ping())
        except (RedisError, OSError):
            return False
