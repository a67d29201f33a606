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


def hit(scope: str, ident: str) -> None:
    """Count one attempt of `ident` under `scope` ("ip" or "email"); RateLimited when over."""
    if not ident:
        return
    limit, window = conf.get("REPORTS_RATE_LIMITS")[scope]
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
