"""Brute-force protection for the staff login, and the client address behind proxies.

Login attempts are counted per client address (LOGIN_FAILURES_PER_IP within
LOGIN_LOCKOUT_SECONDS) and per user name (LOGIN_FAILURES_PER_USER, higher: it guards against
guessing from many addresses without letting one address lock a colleague out easily). Past
either limit, the login form answers 429 with Retry-After and does not check the password at
all, so guessing stops being possible rather than merely failing.

Each attempt is counted before the password is checked, in one atomic statement in the database
(ops.LoginThrottle): every web process sees the same count, with or without Redis (`make run`
has none: a local-memory cache would count per worker), and guesses sent at once cannot slip
past the limit between a check and a count. A successful login takes its attempt back and clears
the address's count. The window is fixed from the first attempt, so a slow guesser cannot keep
a counter alive forever by staying just under the limit.
"""

import hashlib

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db import connection, transaction
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
    return "login:" + kind + ":" + hashlib.sha256(value.encode()).hexdigest()[:32]


def _keys(ip: str, username: str) -> list[tuple[str, int]]:
    keys = [(_key("ip", ip), _setting("LOGIN_FAILURES_PER_IP", 5))]
    if username:
        keys.append((_key("user", username.casefold()),
                     _setting("LOGIN_FAILURES_PER_USER", 20)))
    return keys


def _table() -> str:
    from ops.models import LoginThrottle  # late: sdi is loaded before the apps

    return LoginThrottle._meta.db_table


def count_attempt(ip: str, username: str) -> bool:
    """Counts one login attempt against the address and the user name; False when either is
    past its limit (the attempt must then be refused without checking the password)."""
    window = _setting("LOGIN_LOCKOUT_SECONDS", 900)
    table, allowed = _table(), True
    with transaction.atomic(), connection.cursor() as cur:
        # Rows whose window is over are worth nothing: start them afresh (and keep the table
        # small by dropping the others; rows another attempt holds are left to it).
        cur.execute(f"DELETE FROM {table} WHERE key IN (SELECT key FROM {table} WHERE "
                    "window_start < now() - make_interval(secs => %s) AND key <> ALL(%s) "
                    "FOR UPDATE SKIP LOCKED)", [window, [k for k, _ in _keys(ip, username)]])
        for key, limit in _keys(ip, username):
            cur.execute(f"""
                INSERT INTO {table} AS t (key, count, window_start) VALUES (%s, 1, now())
                ON CONFLICT (key) DO UPDATE SET
                  count = CASE WHEN t.window_start < now() - make_interval(secs => %s)
                               THEN 1 ELSE t.count + 1 END,
                  window_start = CASE WHEN t.window_start < now() - make_interval(secs => %s)
                                      THEN now() ELSE t.window_start END
                RETURNING count""", [key, window, window])
            allowed &= cur.fetchone()[0] <= limit
    return allowed


def _forget_success(ip: str, username: str) -> None:
    table = _table()
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {table} WHERE key = %s", [_key("ip", ip)])
        if username:
            cur.execute(f"UPDATE {table} SET count = greatest(count - 1, 0) WHERE key = %s",
                        [_key("user", username.casefold())])


@receiver(user_logged_in)
def _on_success(sender, request=None, user=None, **kwargs):
    if request is not None and getattr(request, "_sdi_login_counted", False):
        _forget_success(client_ip(request), request.POST.get("username", ""))


class LoginRateLimitMiddleware:
    """Counts every login attempt and refuses those past the limit before the password is
    checked."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._paths = None

    def _login_paths(self) -> set[str]:
        if self._paths is None:
            self._paths = {reverse("admin:login")}
        return self._paths

    def __call__(self, request):
        if request.method == "POST" and request.path in self._login_paths():
            request._sdi_login_counted = True
            if not count_attempt(client_ip(request), request.POST.get("username", "")):
                minutes = max(1, _setting("LOGIN_LOCKOUT_SECONDS", 900) // 60)
                response = HttpResponse(
                    _("Too many failed login attempts. Try again in %(minutes)d minutes.")
                    % {"minutes": minutes}, status=429, content_type="text/plain; charset=utf-8")
                response["Retry-After"] = str(_setting("LOGIN_LOCKOUT_SECONDS", 900))
                return response
        return self.get_response(request)
