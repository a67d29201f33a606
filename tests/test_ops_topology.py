"""The production topology of docker-compose.yml, run on this machine (scripts/prod-local.sh,
ops/compose_local.py), and failure drills on it.

One session runs the compose file's services as it says: nginx → gunicorn (DEBUG off; /tiles/ →
the tile service, granian) → PostgreSQL primary + streaming replica, and Redis, with production
settings (allowed hosts, HTTPS redirects, secure cookies, two proxies in front), the services'
own users and fresh volumes, on free ports picked at start (never 5433/8000), in
var/prod-test-<pid>. Requests come as through the city's balancer (BALANCER). The tests check
what a city deploys, break parts of it on purpose and check that the service degrades and
recovers as promised; the fixture stops everything and removes the folder at the end. Marker
`topology` (make test runs it; deselect with `-m "not topology"` for a quick run).
"""

import http.cookiejar
import itertools
import json
import os
import re
import secrets
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import mapbox_vector_tile
import psycopg2
import pytest

from ops import compose_local

ROOT = Path(__file__).resolve().parent.parent
# One per test session: other sessions (other developers, the same checkout) may run this at the
# same time; each gets its own clusters, ports and folder, removed at the end.
PROD_DIR = ROOT / "var" / f"prod-test-{os.getpid()}"


def _free_ports(n: int) -> list[int]:
    """Ports nothing listens on now: several checkouts on one machine may run this at once."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


PORTS = dict(zip(("PROD_HTTP_PORT", "PROD_WEB_PORT", "PROD_TILES_PORT", "PROD_PG_PORT",
                  "PROD_REPLICA_PORT", "PROD_REDIS_PORT", "PITR_PORT"), _free_ports(7),
                 strict=True))
PGBIN = "/usr/lib/postgresql/15/bin"
# The site's host name (DJANGO_ALLOWED_HOSTS) and what the balancer in front of nginx adds: TLS
# ends there, so it says the client used HTTPS.
HOST = "kielce.sdi.test"
BALANCER = {"Host": HOST, "X-Forwarded-Proto": "https"}
# Where the compose file's volumes and the images' folders are on this host.
PGDATA = {"pg-primary": PROD_DIR / "volumes" / "pgdata",
          "pg-replica": PROD_DIR / "volumes" / "replica-data" / "pgdata"}
SOCKETS = PROD_DIR / "pgrun"
# Kielce centre at zoom 12..14: tiles that hold districts (found from the data, see below).
KIELCE = (20.6286, 50.8536)

# django_db: the session's Kielce fixture needs the test database set up even when only these
# tests run (pytest-django creates it only for tests that ask); they never touch it.
pytestmark = [pytest.mark.topology, pytest.mark.django_db]


@dataclass
class Topology:
    nginx: str
    web: str
    tiles: str
    env: dict

    def script(self, *args, check=True):
        done = subprocess.run(["scripts/prod-local.sh", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=600)
        if check and done.returncode != 0:
            pytest.fail(f"prod-local.sh {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def manage(self, *args, check=True, **kwargs):
        return subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", *args], cwd=ROOT,
                              env=self.app_env, capture_output=True, text=True, check=check,
                              timeout=300, **kwargs)

    @property
    def app_env(self) -> dict:
        """The environment of `migrate` (the application with the compose file's settings), to
        run manage.py against the stack as `docker compose run --rm migrate ...` would."""
        out = self.script("env", "migrate").stdout
        return dict(os.environ, **dict(line.split("=", 1) for line in out.splitlines() if line))

    def pg(self, port_name: str, dbname: str = "sdi"):
        # The image's superuser is POSTGRES_USER (sdi); the socket trusts local connections.
        return psycopg2.connect(host=str(SOCKETS), port=PORTS[port_name], user="sdi",
                                dbname=dbname)

    def pg_ctl(self, cluster: str, action: str, *args):
        # -l: a (re)started server must not write to our pipe (it would keep it open forever);
        # the server's user must be able to write it.
        log = PROD_DIR / "log" / f"{cluster}-pg_ctl.log"
        log.touch()
        cmd = [f"{PGBIN}/pg_ctl", "-D", str(PGDATA[cluster]), action, *args, "-l", str(log)]
        if os.geteuid() == 0:
            subprocess.run(["chown", "postgres", str(log)], check=True)
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer to look at (the site's host does not resolve)


_opener = urllib.request.build_opener(_NoRedirect)


def get(url: str, headers: dict | None = None, timeout: float = 30, balancer: bool = True):
    """A request as the balancer passes it on (unless balancer=False: straight from inside)."""
    request = urllib.request.Request(url, headers={**(BALANCER if balancer else {}),
                                                   **(headers or {})})
    try:
        with _opener.open(request, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math

    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture(scope="session")
def topology():
    # The operator's settings for this copy (the secrets come from the .env the runner makes);
    # smaller than the compose defaults, for a shared 2-core machine.
    env = dict(os.environ, PROD_DIR=str(PROD_DIR), BASEMAP_URL="", WEB_WORKERS="3",
               TILES_WORKERS="3", PG_SHARED_BUFFERS="256MB", REDIS_MAXMEMORY="256mb",
               DJANGO_ALLOWED_HOSTS=HOST,
               **{k: str(v) for k, v in PORTS.items() if k.startswith("PROD_")})
    for name in ("DATABASE_URL", "DJANGO_SSL_REDIRECT", "DJANGO_SECURE_COOKIES",
                 "DJANGO_NUM_PROXIES", "HTTP_PORT"):
        env.pop(name, None)  # the compose file's defaults, as production has them
    top = Topology(nginx=f"http://127.0.0.1:{PORTS['PROD_HTTP_PORT']}",
                   web=f"http://127.0.0.1:{PORTS['PROD_WEB_PORT']}",
                   tiles=f"http://127.0.0.1:{PORTS['PROD_TILES_PORT']}", env=env)
    started = top.script("start", check=False)
    if started.returncode != 0:
        top.script("stop", check=False)
        pytest.fail(f"prod-local.sh start failed:\n{started.stdout}\n{started.stderr}")
    yield top
    top.script("stop", check=False)
    subprocess.run(["rm", "-rf", str(PROD_DIR)], check=False)


def district_tile(z: int = 13) -> str:
    x, y = tile_xy(*KIELCE, z)
    return f"/tiles/okregi-wyborcze/{z}/{x}/{y}.pbf"


def features_in(body: bytes, layer: str) -> int:
    return len(mapbox_vector_tile.decode(body).get(layer, {}).get("features", []))


def test_topology_serves_through_nginx_with_tile_cache_etags_and_metrics(topology):
    status, _, body = get(topology.nginx + "/readyz")
    assert status == 200
    checks = json.loads(body)["checks"]
    assert checks["database"] == "ok" and checks["cache"] == "ok"
    assert checks["replica"].startswith("ok")

    path = district_tile() + f"?probe={time.time_ns()}"  # a key no earlier run has cached
    status, h1, body = get(topology.nginx + path)
    assert status == 200 and h1["X-Cache-Status"] == "MISS"
    assert features_in(body, "okregi-wyborcze") >= 1
    status, h2, body2 = get(topology.nginx + path)
    assert status == 200 and h2["X-Cache-Status"] == "HIT" and body2 == body
    assert h2["ETag"] == h1["ETag"]
    # nginx answers a revalidation with our ETag itself.
    status, h3, _ = get(topology.nginx + path, {"If-None-Match": h1["ETag"]})
    assert status == 304 and h3["X-Cache-Status"] == "HIT"

    # Static files come from nginx, compressed copies included; /metrics is not public.
    status, h, _ = get(topology.nginx + "/static/admin/css/base.css")
    assert status == 200 and "X-Request-ID" not in h and h["Server"].startswith("nginx")
    assert get(topology.nginx + "/metrics")[0] == 404

    # Request ids: nginx makes one, Django logs it (JSON) and returns it.
    status, h, _ = get(topology.nginx + "/api/indicators/")
    rid = h["X-Request-ID"]
    assert status == 200 and len(rid) == 32
    time.sleep(0.5)
    access = (PROD_DIR / "log" / "nginx" / "access.log").read_text().splitlines()
    assert any(json.loads(line)["request_id"] == rid for line in access[-50:])
    app_lines = [json.loads(line) for line in
                 (PROD_DIR / "log" / "web.log").read_text().splitlines()
                 if line.startswith("{")]
    mine = [r for r in app_lines if r.get("request_id") == rid]
    assert mine and mine[-1]["path"] == "/api/indicators/" and mine[-1]["status"] == 200

    # Metrics, added up over the workers: latency per endpoint, pool use; the tile cache on the
    # tile service, which served the tile above (nginx sends /tiles/ there).
    status, _, text = get(topology.web + "/metrics")
    text = text.decode()
    assert status == 200
    assert 'sdi_http_request_duration_seconds_count{endpoint="/api/indicators/",method="GET"}' \
        in text
    assert 'sdi_db_connections_open{alias="default"}' in text
    assert 'sdi_db_backends{alias="replica"' in text
    status, _, text = get(topology.tiles + "/metrics")
    text = text.decode()
    assert status == 200
    assert 'sdi_tile_cache_total{result="miss"}' in text
    assert "sdi_tile_generation_seconds_count" in text
    assert 'sdi_http_request_duration_seconds_count{endpoint="/tiles/' in text


def _owner(path: Path) -> str:
    import pwd

    return pwd.getpwuid(path.stat().st_uid).pw_name


def _process_user(pid: int) -> str:
    import pwd

    uid = int(Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0])
    return pwd.getpwuid(uid).pw_name


def test_the_topology_is_the_compose_file_with_production_settings(topology):
    """What `docker compose up` makes of docker-compose.yml: each service running as its
    image's user, healthy by its own healthcheck, the volumes handed to the users that write
    them, and the site answering only as production does."""
    project = compose_local.Project(PROD_DIR, topology.env)
    running = [n for n in project.active() if not project.services[n].one_shot]
    assert set(running) == {"db", "replica", "redis", "web", "tiles", "worker", "nginx"}
    users = {}
    for name in running:
        service = project.services[name]
        assert service.pid() is not None and service.check_health(), name
        users[name] = _process_user(service.pid())
    # The job worker is healthy by its own check: `manage.py jobs_health` finds its heartbeat.
    assert users == {"db": "postgres", "replica": "postgres", "redis": "redis", "web": "sdi",
                     "tiles": "sdi", "worker": "sdi",
                     "nginx": "root"}  # nginx's master; its workers below
    workers = subprocess.run(["ps", "-o", "user=", "--ppid", str(project.services["nginx"].pid())],
                             capture_output=True, text=True).stdout.split()
    assert workers and "root" not in workers
    # The healthchecks run as written: over the container's own address, no site host name.
    assert project.services["web"].healthcheck()["argv"][-1] == \
        f"http://127.0.0.1:{PORTS['PROD_WEB_PORT']}/healthz"
    assert "pg_isready -h 127.0.0.1" in project.services["db"].healthcheck()["argv"][-1]
    # Docker makes named volumes root-owned; the entrypoints hand over what their users write.
    volumes = PROD_DIR / "volumes"
    assert {v: _owner(volumes / v) for v in ("static", "media", "wal-archive", "nginx-cache")} \
        == {"static": "sdi", "media": "sdi", "wal-archive": "postgres", "nginx-cache": "root"}
    assert (volumes / "static" / "admin" / "css" / "base.css").exists()  # migrate collected

    # Prometheus scrapes web:8000 over plain HTTP: no 400 for the host, no redirect.
    status, _, body = get(topology.web + "/metrics", {"Host": "web:8000"}, balancer=False)
    assert status == 200 and b"sdi_http_requests_total" in body
    # The site itself: its host name only, HTTPS only, secure cookies, HSTS.
    assert get(topology.nginx + "/", balancer=False)[0] == 400
    status, h, _ = get(topology.nginx + "/data/", {"Host": HOST}, balancer=False)
    assert status == 301 and h["Location"] == f"https://{HOST}/data/"
    status, h, _ = get(topology.nginx + "/reports/new/")
    assert status == 200 and "; Secure" in h["Set-Cookie"]
    assert h["Strict-Transport-Security"].startswith("max-age=31536000")
    # nginx's only server is ours: Host: localhost reaches Django (not allowed: 400), not the
    # image's "Welcome to nginx" page.
    status, h, body = get(topology.nginx + "/", {"Host": "localhost"})
    assert status == 400 and b"nginx" not in body.lower() and "X-Request-ID" in h


def test_the_backup_service_writes_into_the_backups_volume(topology):
    """`docker compose run --rm backup`: the archive lands in BACKUP_DIR, the backups volume,
    written by sdi into a volume Docker created root-owned."""
    from ops import backup as ops_backup

    backups = PROD_DIR / "volumes" / "backups"
    before = set(backups.glob("sdi-*.tar")) if backups.exists() else set()
    done = topology.script("run", "backup")
    assert "backup /backups/" not in done.stdout  # the host's path: BACKUP_DIR was mapped
    (archive,) = set(backups.glob("sdi-*.tar")) - before
    assert f"backup {archive}:" in done.stdout
    assert _owner(backups) == "sdi" and _owner(archive) == "sdi"
    manifest = ops_backup.read_manifest(archive)
    assert manifest["tables"]["layers_feature"]["rows"] > 500


def test_the_login_limiter_tells_visitors_apart_behind_the_balancer_and_nginx(topology):
    """DJANGO_NUM_PROXIES=2 (the compose default): the balancer appends the visitor's address to
    X-Forwarded-For and nginx the balancer's. Counting one proxy, every visitor would be the
    balancer, and one guesser would lock everybody out."""
    token = secrets.token_hex(16)  # a CSRF secret of our own: cookie and form agree

    def attempt(visitor: str) -> tuple[int, dict]:
        form = urllib.parse.urlencode({"username": f"nobody-{token[:8]}", "password": "guess",
                                       "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(
            topology.nginx + "/admin/login/", form, headers={
                **BALANCER, "Origin": f"https://{HOST}", "Cookie": f"csrftoken={token}",
                "X-Forwarded-For": visitor})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.headers

    guesser, neighbour = f"203.0.113.{secrets.randbelow(200) + 1}", "198.51.100.77"
    for _ in range(5):
        assert attempt(guesser)[0] == 200  # the form again, with its error
    status, headers = attempt(guesser)
    assert status == 429 and int(headers["Retry-After"]) > 0  # Django's lockout, not nginx's
    assert attempt(neighbour)[0] == 200


def _page(topology, path: str, cookie: str = ""):
    status, headers, body = get(topology.nginx + path, {"Cookie": cookie} if cookie else {})
    assert status == 200, (path, status)
    return headers, body


def test_anonymous_pages_are_served_from_the_nginx_micro_cache(topology):
    """A news story links the map: the second visitor within PAGE_CACHE_SECONDS gets the page
    from nginx, per language, without Django."""
    probe = time.time_ns()  # addresses no earlier run has cached
    for path in (f"/?probe={probe}", f"/districts/okreg-1/?probe={probe}",
                 f"/compare/?areas=okreg-1,okreg-2&probe={probe}", f"/data/?probe={probe}",
                 f"/reports/?probe={probe}"):
        h1, body = _page(topology, path)
        assert h1["X-Cache-Status"] == "MISS", path
        assert "public" in h1["Cache-Control"] and h1.get("Set-Cookie") is None, path
        h2, body2 = _page(topology, path)
        assert h2["X-Cache-Status"] == "HIT" and body2 == body, path

    # One copy per language: English is rendered once, then cached beside the Polish one. A
    # fresh address, so that every step runs well within the 10 s the copies live.
    path = f"/?probe={probe}-lang"
    assert _page(topology, path)[0]["X-Cache-Status"] == "MISS"
    h, english = _page(topology, path, "django_language=en")
    assert h["X-Cache-Status"] == "MISS" and b'<html lang="en">' in english
    h, again = _page(topology, path, "django_language=en")
    assert h["X-Cache-Status"] == "HIT" and again == english
    h, polish = _page(topology, path)
    assert h["X-Cache-Status"] == "HIT" and b'<html lang="pl">' in polish
    # A cookie that does not change the page (the report form's CSRF token) shares the copy.
    h, same = _page(topology, path, "csrftoken=abcdefghijklmnopqrstuvwxyz012345")
    assert h["X-Cache-Status"] == "HIT" and same == polish

    # The report form needs its CSRF cookie: outside the page cache, never stored.
    status, h, _ = get(topology.nginx + "/reports/new/")
    assert status == 200 and "X-Cache-Status" not in h and "csrftoken=" in h["Set-Cookie"]


def _log_in(topology, username: str, password: str) -> dict[str, str]:
    """An editor logging in through nginx with the admin's form; the browser's cookies. The
    browser speaks HTTPS to the balancer, so it keeps and sends the Secure cookies (the jar is
    told http is secure here) and says where the form came from (Origin)."""
    jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(
        secure_protocols=("https", "wss", "http")))

    class Balancer(urllib.request.BaseHandler):
        def http_request(self, request):  # every request, the redirected ones too
            for name, value in {**BALANCER, "Origin": f"https://{HOST}"}.items():
                request.add_unredirected_header(name, value)
            return request

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), Balancer)
    with opener.open(topology.nginx + "/admin/login/", timeout=30) as r:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', r.read().decode())[1]
    assert all(c.secure for c in jar)
    form = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrfmiddlewaretoken": token, "next": "/admin/"}).encode()
    with opener.open(topology.nginx + "/admin/login/", form, timeout=30) as r:
        assert r.status == 200 and urllib.parse.urlsplit(r.url).path == "/admin/"
    return {c.name: c.value for c in jar}


def test_a_logged_in_editor_never_gets_or_leaves_a_cached_page(topology):
    username, password = "page-cache-editor", f"pw-{time.time_ns()}-drill"
    topology.manage("shell", "-c", (
        "from django.contrib.auth.models import User\n"
        f"u, _ = User.objects.get_or_create(username={username!r})\n"
        "u.is_staff = True\n"
        f"u.set_password({password!r})\n"
        "u.save()\n"))
    cookies = _log_in(topology, username, password)
    session = f"sessionid={cookies['sessionid']}"

    warm = f"/districts/okreg-2/?probe={time.time_ns()}"
    _page(topology, warm)
    assert _page(topology, warm)[0]["X-Cache-Status"] == "HIT"
    for cookie in (session, "; ".join(f"{k}={v}" for k, v in cookies.items()),
                   f"sdi_primary={time.time() + 10:.3f}"):
        for _ in range(2):
            h, _body = _page(topology, warm, cookie)
            assert h["X-Cache-Status"] == "BYPASS", cookie
        if "sessionid" in cookie:
            assert "private" in h["Cache-Control"] and "public" not in h["Cache-Control"]

    # What the editor was shown is not stored for anyone else.
    fresh = f"/?probe={time.time_ns()}"
    assert _page(topology, fresh, session)[0]["X-Cache-Status"] == "BYPASS"
    assert _page(topology, fresh)[0]["X-Cache-Status"] == "MISS"
    # A token-authenticated client is never served from (or into) the cache either.
    status, h, _ = get(topology.nginx + warm, {"Authorization": "Token not-a-real-one"})
    assert status in (200, 401) and h["X-Cache-Status"] == "BYPASS"


def _edit_district_name(topology, new_name: str | None = None) -> None:
    """An editor saving a feature, through the one write path (layers.editing). Without a new
    name, puts the original back (from the feature's history)."""
    code = (
        "from layers.models import Feature, FeatureHistory\n"
        "from layers import editing\n"
        "f = Feature.objects.filter(layer__slug='okregi-wyborcze').order_by('id').first()\n"
        "key = f.layer.name_field\n"
        f"new = {new_name!r}\n"
        "if new is None:\n"
        "    first = FeatureHistory.objects.filter(feature_id=f.id).order_by('at', 'id').first()\n"
        "    new = (first.before or first.after)['properties'][key]\n"
        "editing.update_feature(f.id, properties={key: new}, replace=False, channel='drill')\n"
    )
    topology.manage("shell", "-c", code)


def _etag(topology, path, cookies: str = ""):
    status, h, _ = get(topology.web + path, {"Cookie": cookies} if cookies else {})
    assert status in (200, 204), status
    return h["ETag"]


def test_reads_go_to_the_replica_and_an_editor_reads_their_own_write(topology):
    path = district_tile(12)
    before = _etag(topology, path)
    replica = topology.pg("PROD_REPLICA_PORT")
    replica.autocommit = True
    with replica.cursor() as cur:
        cur.execute("SELECT pg_wal_replay_pause()")
    try:
        _edit_district_name(topology, f"drill {time.time_ns()}")
        # Anonymous readers are on the (paused) replica: still the old layer version.
        assert _etag(topology, path) == before
        # The editor's browser carries the read-your-writes cookie: primary, new version.
        sticky = f"sdi_primary={time.time() + 10:.3f}"
        assert _etag(topology, path, sticky) != before
        # An expired cookie is worth nothing.
        assert _etag(topology, path, f"sdi_primary={time.time() - 1:.3f}") == before
    finally:
        with replica.cursor() as cur:
            cur.execute("SELECT pg_wal_replay_resume()")
        replica.close()
        _edit_district_name(topology)
    deadline = time.monotonic() + 30
    while _etag(topology, path) == before:
        assert time.monotonic() < deadline, "replica never caught up"
        time.sleep(0.2)


_FRESH = itertools.count()


def _sweep(topology, n: int = 30, start: int = 0) -> list[int]:
    """Anonymous reads that reach the database: uncached tiles, pages, OGC items, the API.
    Half the tiles have a query string (Django's tile view answers them), half are plain
    (tiles.wsgi answers them), each at an address nginx has not cached yet."""
    statuses = []
    x0, y0 = tile_xy(*KIELCE, 15)
    x16, y16 = tile_xy(*KIELCE, 16)
    for i in range(start, start + n):
        x, y = x0 + i % 6 - 3, y0 + i // 6 % 6 - 3
        statuses.append(get(topology.web + f"/tiles/placowki-oswiatowe/15/{x}/{y}.pbf"
                            f"?sweep={time.time_ns()}")[0])
        k = next(_FRESH)
        statuses.append(get(topology.web + f"/tiles/placowki-oswiatowe/16/{x16 + k % 40 - 20}/"
                            f"{y16 + k // 40 % 40 - 20}.pbf")[0])
    for path in ("/", "/api/indicators/", "/ogc/collections/biblioteki/items?f=json",
                 "/tiles/biblioteki.json"):
        statuses.append(get(topology.web + path)[0])
    return statuses


def test_replica_down_reads_fall_back_to_the_primary(topology):
    topology.pg_ctl("pg-replica", "stop", "-m", "immediate")
    try:
        statuses = _sweep(topology)
        assert all(s in (200, 204) for s in statuses), statuses
        status, _, body = get(topology.web + "/readyz")
        assert status == 200  # the primary serves: this node stays in the balancer
        assert json.loads(body)["checks"]["replica"].startswith("error")
    finally:
        topology.script("start")  # starts the replica again; it catches up by streaming
    deadline = time.monotonic() + 60
    while not json.loads(get(topology.web + "/readyz")[2])["checks"]["replica"].startswith("ok"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert all(s in (200, 204) for s in _sweep(topology, 6))


def test_redis_down_tiles_are_served_uncached_without_errors(topology):
    subprocess.run(["redis-cli", "-p", str(PORTS["PROD_REDIS_PORT"]), "shutdown", "nosave"],
                   capture_output=True, timeout=30)
    try:
        statuses = _sweep(topology, 36, start=100)
        assert all(s in (200, 204) for s in statuses), statuses
        status, _, body = get(topology.web + district_tile(12))
        assert status == 200 and features_in(body, "okregi-wyborcze") >= 1
        status, _, body = get(topology.web + "/readyz")
        assert status == 200
        ready = json.loads(body)
        assert ready["status"] == "degraded" and ready["checks"]["cache"].startswith("error")
        metrics = get(topology.web + "/metrics")[2].decode()
        assert 'sdi_cache_errors_total{operation="get"}' in metrics
    finally:
        topology.script("start")
    assert json.loads(get(topology.web + "/readyz")[2])["checks"]["cache"] == "ok"


def test_primary_restart_errors_only_during_the_restart_then_recovers(topology):
    """Requests keep coming while PostgreSQL restarts; gunicorn is never touched."""
    results: list[tuple[float, int]] = []
    stop = threading.Event()
    # The editor's cookie sends reads to the primary too: every request here needs it.
    sticky = {"Cookie": f"sdi_primary={time.time() + 3600:.3f}"}

    def hammer():
        while not stop.is_set():
            for path in ("/api/indicators/", "/tiles/biblioteki.json", "/readyz",
                         district_tile(12)):
                try:
                    status = get(topology.web + path, sticky, timeout=15)[0]
                except OSError:
                    status = 0
                results.append((time.monotonic(), status))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(2)
    down = time.monotonic()
    topology.pg_ctl("pg-primary", "restart", "-m", "fast", "-w")
    up = time.monotonic()
    time.sleep(5)
    stop.set()
    for t in threads:
        t.join(30)

    before = [s for t, s in results if t < down]
    during = [s for t, s in results if down <= t <= up + 2]
    after = [s for t, s in results if t > up + 2]
    assert before and after and all(s == 200 for s in before), before
    assert all(s == 200 for s in after), f"not recovered: {after}"
    # During the restart: only the honest "try again" answer, never a 500.
    assert all(s in (200, 503) for s in during), during


def _drill_city(tmp: Path, n: int) -> Path:
    folder = tmp / "drill"
    folder.mkdir(parents=True)
    features = [{"type": "Feature", "properties": {"n": i, "note": "synthetic drill point"},
                 "geometry": {"type": "Point",
                              "coordinates": [20.55 + (i % 400) * 0.0004,
                                              50.80 + (i // 400) * 0.0004]}}
                for i in range(n)]
    (folder / "points.geojson").write_text(json.dumps(
        {"type": "FeatureCollection", "features": features}))
    (folder / "city.yaml").write_text(
        "city: {name: Drill, data_dir: drill}\n"
        "layers:\n"
        "  - slug: drill-synthetic-points\n"
        "    title_pl: 'Dane syntetyczne: ćwiczenie awarii importu'\n"
        "    title_en: 'Synthetic data: import failure drill'\n"
        "    visibility: staff\n"
        "    geometry_type: Point\n"
        "    sources: [{file: points.geojson}]\n")
    return tmp


def _drill_count(topology) -> int | None:
    conn = topology.pg("PROD_PG_PORT")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM layers_layer WHERE slug = 'drill-synthetic-points'")
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute("SELECT count(*) FROM layers_feature WHERE layer_id = %s", row)
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_worker_killed_mid_import_leaves_all_or_nothing(topology, tmp_path):
    n = 60_000
    data_dir = _drill_city(tmp_path, n)
    env = dict(topology.app_env, CITY_DATA_DIRS=str(data_dir))
    cmd = [str(ROOT / ".venv/bin/python"), "manage.py", "load_city", "drill"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    backends = []
    conn = topology.pg("PROD_PG_PORT")
    conn.autocommit = True
    try:
        deadline = time.monotonic() + 120
        while not backends:  # the rows are on their way into PostgreSQL: now kill it
            assert proc.poll() is None and time.monotonic() < deadline, "import ended first"
            with conn.cursor() as cur:
                cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = 'sdi' AND "
                            "pid <> pg_backend_pid() AND query ILIKE '%%_staging%%'")
                backends = [pid for (pid,) in cur.fetchall()]
            time.sleep(0.01)
        proc.kill()
        proc.wait(30)
        assert proc.returncode == -9
        deadline = time.monotonic() + 60
        while True:  # PostgreSQL rolls back once it sees the client gone
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                            [backends])
                if cur.fetchone()[0] == 0:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert _drill_count(topology) in (None, n)
        # Run again to the end: every row, once.
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        assert _drill_count(topology) == n
    finally:
        conn.close()
        topology.manage("shell", "-c", "from layers.models import Layer; Layer.all_objects"
                        ".filter(slug='drill-synthetic-points').delete()")


def test_point_in_time_recovery_from_the_wal_archive(topology):
    """The documented PITR procedure (docs/scaling.md), done: base backup, two changes, recover
    a copy to the moment between them from the archived WAL."""
    drill = PROD_DIR / "pitr-drill"
    subprocess.run(["rm", "-rf", str(drill)], check=True)
    drill.mkdir(mode=0o700)  # PostgreSQL refuses a data directory others can read
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    log = PROD_DIR / "log" / "pitr-drill.log"
    log.touch()
    if as_pg:
        subprocess.run(["chown", "postgres", str(drill), str(log)], check=True)
    port = PORTS["PITR_PORT"]
    conn = topology.pg("PROD_PG_PORT")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS pitr_drill")
            cur.execute("CREATE TABLE pitr_drill (step text)")
        subprocess.run([*as_pg, f"{PGBIN}/pg_basebackup", "-h", str(SOCKETS),
                        "-p", str(PORTS["PROD_PG_PORT"]), "-U", "sdi", "-D", str(drill),
                        "-X", "stream", "-c", "fast"], check=True, capture_output=True,
                       timeout=300)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO pitr_drill VALUES ('kept')")
            time.sleep(1.1)
            cur.execute("SELECT now()")
            target = cur.fetchone()[0]
            time.sleep(1.1)
            cur.execute("INSERT INTO pitr_drill VALUES ('the mistake')")
            cur.execute("SELECT pg_walfile_name(pg_current_wal_lsn())")
            segment = cur.fetchone()[0]
            cur.execute("SELECT pg_switch_wal()")
            deadline = time.monotonic() + 60
            while not (PROD_DIR / "volumes" / "wal-archive" / segment).exists():
                assert time.monotonic() < deadline, "WAL segment never archived"
                time.sleep(0.2)
        # Recovery settings win over the copied postgresql.conf; the copy must not archive
        # into the live archive, nor be mistaken for the primary. The primary's own settings
        # are on its command line (docker-compose.yml): recovery needs max_connections as high.
        recovery = (f"restore_command = 'cp {PROD_DIR / 'volumes' / 'wal-archive'}/%f %p'\n"
                    f"recovery_target_time = '{target.isoformat()}'\n"
                    "recovery_target_action = 'promote'\narchive_mode = off\n"
                    "max_connections = 200\n")
        subprocess.run([*as_pg, "sh", "-c", f"cat >> {drill}/postgresql.auto.conf && "
                        f"touch {drill}/recovery.signal"], input=recovery, text=True,
                       check=True)
        subprocess.run([*as_pg, f"{PGBIN}/pg_ctl", "-D", str(drill), "-l",
                        str(log), "-o", f"-p {port}", "-w",
                        "-t", "120", "start"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=180)
        try:
            deadline = time.monotonic() + 60
            while True:
                copy = psycopg2.connect(host=str(SOCKETS), port=port, user="sdi",
                                        dbname="sdi")
                with copy.cursor() as cur:
                    cur.execute("SELECT pg_is_in_recovery()")
                    promoted = not cur.fetchone()[0]
                    cur.execute("SELECT step FROM pitr_drill ORDER BY step")
                    steps = [s for (s,) in cur.fetchall()]
                    cur.execute("SELECT count(*) FROM layers_feature")
                    features = cur.fetchone()[0]
                copy.close()
                if promoted or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert promoted and steps == ["kept"]  # recovered to the moment before the mistake
            assert features > 500
        finally:
            subprocess.run([*as_pg, f"{PGBIN}/pg_ctl", "-D", str(drill), "-m", "immediate",
                            "stop"], capture_output=True, timeout=60)
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS pitr_drill")
        conn.close()
        subprocess.run(["rm", "-rf", str(drill)], check=False)
