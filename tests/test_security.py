"""Security answers that hold for the whole site (docs/security.md): the login limiter across
web processes, who may read /metrics, and the Content-Security-Policy header. Browser checks of
the policy are in tests/e2e/test_security_csp.py; who sees which layer and indicator is the
matrix in tests/test_permissions.py."""

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import Client

from tests.live_users import committed
from tests.servers import live_gunicorn

pytestmark = pytest.mark.django_db


# --- the login limiter counts once for every worker --------------------------------------------

def _login_attempts(url: str, n: int, *, parallel: int) -> list[int]:
    """n failed admin logins from one address (this machine), `parallel` at a time, each on its
    own connection; their status codes."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{url}/admin/login/", timeout=30).read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode({"username": "nobody-here", "password": "guessed",
                                   "csrfmiddlewaretoken": token}).encode()

    def attempt(_):
        request = urllib.request.Request(f"{url}/admin/login/", data=form, headers={
            "Cookie": f"csrftoken={token}", "Referer": f"{url}/admin/login/"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(attempt, range(n)))


def test_login_limit_is_one_count_for_every_worker(kielce, django_db_blocker):
    """`make run`'s set-up (gunicorn with several workers, no Redis: each process has its own
    local-memory cache): 5 failed logins from one address are 5 in all, even when the guesses
    come at once and land on different workers."""
    with django_db_blocker.unblock(), live_gunicorn(
            "test-login-limit.log", {"REDIS_URL": "", "LOGIN_FAILURES_PER_IP": "5"},
            workers=2, threads=1) as url:
        try:
            statuses = _login_attempts(url, 12, parallel=6)
            assert sorted(statuses) == [200] * 5 + [429] * 7, statuses
            assert _login_attempts(url, 3, parallel=1) == [429] * 3
        finally:
            with committed() as cur:
                cur.execute("DELETE FROM ops_loginthrottle")


# --- /metrics ----------------------------------------------------------------------------------

def test_metrics_without_a_token_answer_on_loopback_only(monkeypatch):
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    client = Client()
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    for outside in ({"REMOTE_ADDR": "203.0.113.5"}, {"REMOTE_ADDR": "10.0.0.7"},
                    # through a proxy on this machine, for a client elsewhere
                    {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}):
        response = client.get("/metrics", **outside)
        assert response.status_code == 403, outside
        assert b"sdi_http" not in response.content


def test_metrics_with_a_token_need_it_from_everywhere(monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", "s3cret-token")
    client = Client()
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5",
                      HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
