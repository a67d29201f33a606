"""Fixed-window rate limits in Django's cache (Redis in production, so shared by all workers).

Keys hold a hash of the address or email, never the value itself: the cache must not become a
second store of personal data.
"""

import hashlib
import time

from django.core.cache import cache

from reports import conf


class RateLimited(Exception):
    def __init__(self, scope: str, retry_after: int):
        super().__init__(f"too many attempts ({scope}); try again in {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


def _now() -> float:
    return time.time()


def _key(scope: str, ident: str, window: int) -> tuple[str, int]:
    now = int(_now())
    digest = hashlib.sha256(f"{scope}:{ident.strip().lower()}".encode()).hexdigest()[:32]
    return f"reports:rl:{scope}:{digest}:{now // window}", window - now % window


def _limit(scope: str) -> tuple[int, int] | None:
    return conf.get("REPORTS_RATE_LIMITS").get(scope)


def check(scope: str, ident: str) -> None:
    """RateLimited when `ident` has used up its attempts under `scope` already; counts
    nothing. Lets a request that would be refused anyway stop before any work is done."""
    found = _limit(scope)
    if not ident or found is None:
        return
    limit, window = found
    key, remaining = _key(scope, ident, window)
    count = cache.get(key)
    if count is not None and count >= limit:
        raise RateLimited(scope, remaining)


def hit(scope: str, ident: str) -> None:
    """Count one attempt of `ident` under `scope` ("ip", "email", "attempts"); RateLimited
    when over. A scope without a configured limit is not limited."""
    found = _limit(scope)
    if not ident or found is None:
        return
    limit, window = found
    key, remaining = _key(scope, ident, window)
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 1)
        count = 1
    # A cache that is down answers None (sdi.cache fails open): the limit is not enforced then,
    # rather than refusing every resident.
    if count is not None and count > limit:
        raise RateLimited(scope, remaining)


def client_ip(request) -> str:
    return request.META.get(conf.get("REPORTS_CLIENT_IP_KEY"), "") or ""
