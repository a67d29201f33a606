"""Brute-force protection for the staff login, and the client address behind proxies.

Failed logins are counted in the cache per client address (LOGIN_FAILURES_PER_IP within
LOGIN_LOCKOUT_SECONDS) and per user name (LOGIN_FAILURES_PER_USER, higher: it guards against
guessing from many addresses without letting one address lock a colleague out easily). Past
either limit, the login form answers 429 with Retry-After and does not check the password at
all, so guessing stops being possible rather than merely failing. A successful login clears the
address's count.

The counters live in the default cache (Redis in production, shared by every web process).
With Redis down the cache fails open, and so does this limiter: documented in docs/scaling.md.
"""

import hashlib
import time

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def client_ip(request) -> str:
    """REMOTE_ADDR, or with SDI_NUM_PROXIES trusted proxies in front (nginx: 1) the address
    the nearest of them saw. Counting from the right: a client can prepend anything."""
    proxies = _setting("SDI_NUM_PROXIES", 0)
    if proxies > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def _key(kind: str, value: str) -> str:
    return "login-fail:" + kind + ":" + hashlib.sha256(value.encode()).hexdigest()[:32]


def _keys(ip: str, username: str) -> list[tuple[str, int]]:
    keys = [(_key("ip", ip), _setting("LOGIN_FAILURES_PER_IP", 5))]
    if username:
        keys.append((_key("user", username.casefold()),
                     _setting("LOGIN_FAILURES_PER_USER", 20)))
    return keys


def _count(key: str) -> int:
    value = cache.get(key)
    return value[0] if isinstance(value, tuple) else 0


def _fail(key: str, window: int) -> None:
    # (count, first failure): the window is fixed from the first failure, so a slow guesser
    # cannot keep a counter alive forever by staying just under the limit.
    count, first = cache.get(key) or (0, time.time())
    remaining = max(1, int(first + window - time.time()))
    cache.set(key, (count + 1, first), timeout=remaining)


def locked_out(ip: str, username: str) -> bool:
    return any(_count(key) >= limit for key, limit in _keys(ip, username))


@receiver(user_login_failed)
def _on_failure(sender, credentials, request=None, **kwargs):
    if request is None:
        return
    window = _setting("LOGIN_LOCKOUT_SECONDS", 900)
    for key, _limit in _keys(client_ip(request), credentials.get("username", "")):
        _fail(key, window)


@receiver(user_logged_in)
def _on_success(sender, request=None, user=None, **kwargs):
    if request is not None:
        cache.delete(_key("ip", client_ip(request)))


class LoginRateLimitMiddleware:
    """Refuses login attempts past the limit before the password is checked."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._paths = None

    def _login_paths(self) -> set[str]:
        if self._paths is None:
            self._paths = {reverse("admin:login")}
        return self._paths

    def __call__(self, request):
        if request.method == "POST" and request.path in self._login_paths():
            username = request.POST.get("username", "")
            if locked_out(client_ip(request), username):
                minutes = max(1, _setting("LOGIN_LOCKOUT_SECONDS", 900) // 60)
                response = HttpResponse(
                    _("Too many failed login attempts. Try again in %(minutes)d minutes.")
                    % {"minutes": minutes}, status=429, content_type="text/plain; charset=utf-8")
                response["Retry-After"] = str(_setting("LOGIN_LOCKOUT_SECONDS", 900))
                return response
        return self.get_response(request)
