"""Operations in-process: backup/restore, observability, the router's rules, the fail-open cache,
security settings, and a full disk. The drills on the running topology are in
test_ops_topology.py."""

import errno
import io
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import psycopg2
import pytest
import yaml
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, RequestFactory, override_settings

from layers.models import Feature
from ops import backup as ops_backup
from sdi import routers
from sdi.cache import FailOpenRedisCache
from sdi.errors import server_error
from sdi.observability import JsonFormatter, RequestIdFilter
from sdi.storage import AtomicFileSystemStorage, StorageFull
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


# --- backups ---------------------------------------------------------------------------------

@pytest.fixture
def scratch_db():
    """An empty database beside the test database, for restores; dropped afterwards."""
    s = connection.settings_dict
    name = f"{s['NAME']}_restore_{os.getpid()}"
    admin = psycopg2.connect(dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"],
                             host=s["HOST"], port=s["PORT"])
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    url = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{name}"
    yield name, url
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _state(dbname: str) -> dict:
    s = connection.settings_dict
    target = ops_backup.Target(name=dbname, user=s["USER"], password=s["PASSWORD"],
                               host=s["HOST"], port=str(s["PORT"]))
    conn = target.connect()
    try:
        with conn.cursor() as cur:
            return ops_backup.table_state(cur)
    finally:
        conn.close()


def _wipe(dbname: str) -> None:
    s = connection.settings_dict
    conn = psycopg2.connect(dbname=dbname, user=s["USER"], password=s["PASSWORD"],
                            host=s["HOST"], port=s["PORT"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    conn.close()


def test_backup_wipe_restore_gives_back_every_table_and_the_media(tmp_path, scratch_db,
                                                                   settings):
    media = tmp_path / "media"
    (media / "reports" / "2026").mkdir(parents=True)
    (media / "reports" / "2026" / "photo.jpg").write_bytes(secrets.token_bytes(30_000))
    (media / "README.txt").write_text("zażółć gęślą jaźń")
    settings.MEDIA_ROOT = media
    archive = tmp_path / "backups" / "sdi.tar"

    call_command("backup", output=str(archive), stdout=io.StringIO())

    manifest = ops_backup.read_manifest(archive)
    source = _state(connection.settings_dict["NAME"])
    assert manifest["tables"] == source
    assert manifest["tables"]["layers_feature"]["rows"] == Feature.objects.count() > 500
    assert manifest["media"] == {"files": 2, "bytes": 30_000 + len("zażółć gęślą jaźń".encode())}
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "database.dump", "media/reports/2026/photo.jpg"} <= names

    name, url = scratch_db
    for attempt in ("first restore", "after a wipe"):
        restored_media = tmp_path / f"restored-media-{attempt[:5]}"
        out = io.StringIO()
        call_command("restore", str(archive), database_url=url,
                     media_root=str(restored_media), stdout=out)
        assert "checksums match" in out.getvalue(), attempt
        restored = _state(name)
        # Every table: same row count, same content (features: geometry, properties, version).
        assert restored == source, attempt
        for path in media.rglob("*"):
            if path.is_file():
                copy = restored_media / path.relative_to(media)
                assert copy.read_bytes() == path.read_bytes()
        _wipe(name)


def test_backup_without_output_lands_in_backup_dir(tmp_path):
    """BACKUP_DIR (the compose file's backups volume) is where `manage.py backup` writes: an
    archive anywhere else would vanish with the `--rm` container."""
    folder = tmp_path / "backups"
    result = _manage({"BACKUP_DIR": str(folder), "MEDIA_ROOT": str(tmp_path / "media")},
                     "backup")
    assert result.returncode == 0, result.stderr
    (archive,) = folder.glob("sdi-*.tar")
    assert f"backup {archive}:" in result.stdout
    assert ops_backup.read_manifest(archive)["tables"]["layers_feature"]["rows"] > 500


def test_restore_refuses_a_database_that_is_not_empty_and_changes_nothing(tmp_path,
                                                                          scratch_db, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    archive = tmp_path / "b.tar"
    call_command("backup", output=str(archive), stdout=io.StringIO())
    name, url = scratch_db
    call_command("restore", str(archive), database_url=url,
                 media_root=str(tmp_path / "m"), stdout=io.StringIO())
    before = _state(name)
    with pytest.raises(CommandError, match="not empty.*restore only into an empty database"):
        call_command("restore", str(archive), database_url=url, media_root=str(tmp_path / "m"))
    assert _state(name) == before


def test_restore_rejects_what_is_not_a_backup_and_a_tampered_one(tmp_path, scratch_db,
                                                                  settings):
    name, url = scratch_db
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar file at all")
    with pytest.raises(CommandError, match="not a backup archive"):
        call_command("restore", str(junk), database_url=url)
    with pytest.raises(CommandError, match="no such file"):
        call_command("restore", str(tmp_path / "missing.tar"), database_url=url)
    assert _state(name) == {}

    # A manifest that promises more rows than the dump holds: the restore says so.
    settings.MEDIA_ROOT = tmp_path / "media"
    good = tmp_path / "good.tar"
    call_command("backup", output=str(good), stdout=io.StringIO())
    manifest = ops_backup.read_manifest(good)
    manifest["tables"]["layers_feature"]["rows"] += 1
    bad = tmp_path / "bad.tar"
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        for member in src.getmembers():
            if member.name == "manifest.json":
                data = json.dumps(manifest).encode()
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
            else:
                dst.addfile(member, src.extractfile(member))
    with pytest.raises(CommandError, match="layers_feature: backup has"):
        call_command("restore", str(bad), database_url=url, media_root=str(tmp_path / "m"))


# --- observability ---------------------------------------------------------------------------

def test_request_ids_are_passed_through_or_made_and_logged_as_json(client):
    given = "nginx-0123456789abcdef"
    assert client.get("/healthz", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given
    for bad in ("short", "x" * 200, "bad id with spaces", '"><script>'):
        rid = client.get("/healthz", HTTP_X_REQUEST_ID=bad)["X-Request-ID"]
        assert rid != bad and len(rid) == 32 and int(rid, 16) >= 0

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    handler.addFilter(RequestIdFilter())
    log = logging.getLogger("sdi.request")
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        rid = client.get("/api/indicators/")["X-Request-ID"]
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == rid and line["status"] == 200 and line["method"] == "GET"
    assert line["path"] == "/api/indicators/" and line["logger"] == "sdi.request"
    assert line["duration_ms"] > 0 and line["time"].endswith("+00:00")


def test_metrics_report_latency_per_endpoint_and_the_tile_cache(client, monkeypatch):
    client.get("/tiles/okregi-wyborcze/10/570/343.pbf")
    client.get("/tiles/okregi-wyborcze/10/570/343.pbf")
    text = client.get("/metrics").content.decode()
    assert ('sdi_http_request_duration_seconds_count{endpoint='
            '"/tiles/<str:layers>/<str:z>/<str:x>/<str:y>.pbf",method="GET"}') in text
    assert 'sdi_tile_cache_total{result="hit"}' in text
    assert 'sdi_db_backends{alias="default",state="active"}' in text
    assert 'sdi_db_max_connections{alias="default"}' in text

    monkeypatch.setenv("METRICS_TOKEN", "s3cret-token")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


_RECORD_GAUGE = """
import sys, time
from prometheus_client import Gauge
Gauge("sdi_db_connections_open", "open", ["alias"], multiprocess_mode="livesum").labels(
    "default").set(1)
print("set", flush=True)
if sys.argv[1] == "stay":
    time.sleep(60)
"""


def test_metrics_forget_the_live_gauges_of_dead_workers(client, monkeypatch, tmp_path):
    # Two real worker processes write their gauge into the metrics directory (as the tile
    # service's granian workers do); one exits without clean-up, as a crashed worker would.
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    alive = subprocess.Popen([sys.executable, "-c", _RECORD_GAUGE, "stay"], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert alive.stdout.readline().strip() == "set"
        dead = subprocess.run([sys.executable, "-c", _RECORD_GAUGE, "exit"], env=env,
                              check=True, capture_output=True)
        assert dead.stdout.strip() == b"set"
        assert len(list(tmp_path.glob("gauge_livesum_*.db"))) == 2
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        text = client.get("/metrics").content.decode()
        assert 'sdi_db_connections_open{alias="default"} 1.0' in text
        assert [p.name for p in tmp_path.glob("gauge_livesum_*.db")] == [
            f"gauge_livesum_{alive.pid}.db"]
    finally:
        alive.kill()
        alive.wait()


def test_readyz_reports_database_migrations_and_cache(client):
    body = client.get("/readyz").json()
    assert body == {"status": "ok",
                    "checks": {"database": "ok", "migrations": "ok", "cache": "ok"}}


# --- the router's rules (the replica itself is exercised in test_ops_topology.py) ----------

def test_without_a_replica_everything_reads_from_the_primary():
    assert not routers.replica_configured()
    assert routers.read_alias() == "default"
    assert routers.PrimaryReplicaRouter().db_for_read(Feature) == "default"
    assert routers.read_connection.alias == "default"


@pytest.mark.parametrize("method, path, extra, primary", [
    ("GET", "/tiles/x/1/0/0.pbf", {}, False),
    ("HEAD", "/", {}, False),
    ("POST", "/reports/", {}, True),
    ("PUT", "/api/layers/x/features/1/", {}, True),
    ("GET", "/admin/layers/layer/", {}, True),
    ("GET", "/api/layers/", {"HTTP_AUTHORIZATION": "Token abc"}, True),
    ("GET", "/", {"HTTP_COOKIE": "sessionid=abc"}, True),
    ("GET", "/", {"HTTP_COOKIE": f"sdi_primary={time.time() + 3600:.3f}"}, True),
    ("GET", "/", {"HTTP_COOKIE": f"sdi_primary={time.time() - 5:.3f}"}, False),
    ("GET", "/", {"HTTP_COOKIE": "sdi_primary=garbage"}, False),
])
def test_which_requests_read_from_the_primary(method, path, extra, primary):
    request = RequestFactory().generic(method, path, **extra)
    assert routers._reads_from_primary(request) is primary


def test_a_write_makes_the_browser_read_from_the_primary_for_a_short_while(client):
    response = client.get("/api/indicators/")
    assert routers.STICKY_COOKIE not in response.cookies
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    cookie = response.cookies[routers.STICKY_COOKIE]
    assert cookie["max-age"] == 10 and cookie["httponly"]
    assert time.time() < float(cookie.value) <= time.time() + 10.5


# --- a cache that fails open ------------------------------------------------------------------

def test_redis_cache_fails_open_and_recovers(tmp_path):
    port = free_port()
    redis = FailOpenRedisCache(f"redis://127.0.0.1:{port}/0",
                               {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1}})
    # Nothing listens yet: every operation is a miss, none raises.
    assert redis.get("k", "default") == "default"
    assert redis.set("k", 1) is False and redis.add("k", 1) is False
    assert redis.incr("k") is None and redis.get_many(["k"]) == {}
    assert redis.ping() is False

    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not redis.ping():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(2.1)  # the backend's "down" window from the failures above
        redis.set("k", b"tile", timeout=60)
        assert redis.get("k") == b"tile"
    finally:
        server.terminate()
        server.wait(10)
    assert redis.get("k", "gone") == "gone"


def test_tiles_are_served_when_the_cache_is_down(client):
    dead = {"default": {"BACKEND": "sdi.cache.FailOpenRedisCache",
                        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}}
    with override_settings(CACHES=dead):
        response = client.get("/tiles/okregi-wyborcze/10/570/343.pbf")
        assert response.status_code == 200 and len(response.content) > 100
        assert client.get("/readyz").json()["checks"]["cache"].startswith("error")


# --- security -----------------------------------------------------------------------------------

def _manage(env: dict, *args) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    s = connection.settings_dict
    base["DATABASE_URL"] = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=base | env,
                          capture_output=True, text=True, timeout=120)


PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_ALLOWED_HOSTS": "sdi.kielce.eu",
    "DJANGO_SECURE_COOKIES": "true", "DJANGO_SSL_REDIRECT": "true",
    "DJANGO_HSTS_SECONDS": "31536000", "DJANGO_HSTS_PRELOAD": "true", "DJANGO_NUM_PROXIES": "2",
}


def test_check_deploy_is_clean_with_production_settings_from_the_environment():
    result = _manage(PRODUCTION_ENV, "check", "--deploy", "--tag", "security",
                     "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # The whole --deploy run: nothing about security (other apps' warnings are theirs).
    full = _manage(PRODUCTION_ENV, "check", "--deploy")
    assert full.returncode == 0 and "security." not in full.stdout + full.stderr
    # And it does look: the development defaults are reported.
    dev = _manage({}, "check", "--deploy")
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in dev.stderr + dev.stdout


def test_a_public_server_refuses_to_start_with_the_built_in_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = _manage(env, "check")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
    # make run / tests (loopback host names only) still start without one.
    assert _manage({}, "check").returncode == 0


def test_public_apis_allow_cross_origin_reads_only(client):
    origin = {"HTTP_ORIGIN": "https://mapy.example.org"}
    for path in ("/api/indicators/", "/ogc/collections?f=json", "/tiles/biblioteki.json"):
        response = client.get(path, **origin)
        assert response["Access-Control-Allow-Origin"] == "*", path
        assert "Access-Control-Allow-Credentials" not in response
    preflight = client.options("/api/indicators/", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                               **origin)
    allowed = preflight["Access-Control-Allow-Methods"]
    assert "GET" in allowed and "POST" not in allowed and "DELETE" not in allowed
    assert "Access-Control-Allow-Origin" not in client.get("/admin/login/", **origin)


def test_pages_refuse_framing_and_forms_need_csrf():
    client = Client(enforce_csrf_checks=True)
    assert client.get("/admin/login/")["X-Frame-Options"] == "DENY"
    assert client.get("/")["X-Frame-Options"] == "DENY"
    response = client.post("/admin/login/", {"username": "a", "password": "b"})
    assert response.status_code == 403


@override_settings(LOGIN_FAILURES_PER_IP=3, LOGIN_FAILURES_PER_USER=5)
def test_admin_login_locks_out_password_guessing(client):
    User.objects.create_user("urzednik", password="Prawidlowe-haslo-42", is_staff=True)
    cache.clear()
    attacker = {"REMOTE_ADDR": "203.0.113.7"}
    try:
        for _ in range(3):
            r = client.post("/admin/login/", {"username": "urzednik", "password": "zgadywane"},
                            **attacker)
            assert r.status_code == 200  # the form again, with its error
        # Past the limit the right password does not help from that address...
        r = client.post("/admin/login/", {"username": "urzednik",
                                           "password": "Prawidlowe-haslo-42"}, **attacker)
        assert r.status_code == 429 and int(r["Retry-After"]) > 0
        assert "_auth_user_id" not in client.session
        # ...while the official, from their own desk, still gets in.
        office = Client()
        r = office.post("/admin/login/?next=/admin/", {"username": "urzednik",
                                                        "password": "Prawidlowe-haslo-42"},
                        REMOTE_ADDR="10.1.2.3")
        assert r.status_code == 302 and "_auth_user_id" in office.session
        # Guessing one account from many addresses trips the per-user limit.
        for i in range(5):
            client.post("/admin/login/", {"username": "urzednik", "password": "x"},
                        REMOTE_ADDR=f"198.51.100.{i}")
        r = client.post("/admin/login/", {"username": "urzednik", "password": "x"},
                        REMOTE_ADDR="198.51.100.99")
        assert r.status_code == 429
    finally:
        cache.clear()


@override_settings(SDI_NUM_PROXIES=1)
def test_behind_nginx_the_client_address_comes_from_the_proxy_header():
    from sdi.security import client_ip

    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1",
                                   HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_ip(request) == "203.0.113.9"  # what nginx saw; the client's own claim ignored


@override_settings(SDI_NUM_PROXIES=2)
def test_behind_the_balancer_and_nginx_the_client_is_the_balancers_client():
    """docker-compose.yml's default: the balancer appends the visitor, nginx the balancer."""
    from sdi.security import client_ip

    request = RequestFactory().get("/", REMOTE_ADDR="172.18.0.5",
                                   HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9, 10.0.0.2")
    assert client_ip(request) == "203.0.113.9"
    # Straight at nginx (no balancer): too few hops to trust, the peer's address counts.
    alone = RequestFactory().get("/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="10.0.0.2")
    assert client_ip(alone) == "172.18.0.5"


@override_settings(ALLOWED_HOSTS=["mapa.kielce.eu"], SECURE_SSL_REDIRECT=True)
def test_probes_answer_whatever_the_host_and_scheme_and_nothing_else_does(client):
    """Docker's healthcheck asks 127.0.0.1:8000, Prometheus web:8000, both over plain HTTP."""
    for host in ("127.0.0.1:8000", "web:8000", "tiles:8001"):
        assert client.get("/healthz", HTTP_HOST=host).json() == {"status": "ok"}
        assert client.get("/readyz", HTTP_HOST=host).status_code == 200
        assert client.get("/metrics", HTTP_HOST=host).status_code == 200
    # Every other address keeps production's rules: the site's host only, HTTPS only.
    assert client.get("/", HTTP_HOST="127.0.0.1:8000").status_code == 400
    assert client.post("/healthz", HTTP_HOST="127.0.0.1:8000").status_code == 400
    response = client.get("/data/", HTTP_HOST="mapa.kielce.eu")
    assert response.status_code == 301 and response["Location"] == "https://mapa.kielce.eu/data/"
    assert client.get("/healthz", HTTP_HOST="mapa.kielce.eu").status_code == 200  # no redirect


# --- a full disk ---------------------------------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MB tmpfs: a disk that really fills up (needs root, as on the dev machines and CI)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_upload_on_a_full_disk_fails_clearly_and_leaves_no_partial_file(tiny_disk, settings):
    settings.MEDIA_ROOT = tiny_disk  # Django re-creates default_storage for the new root
    assert isinstance(default_storage._wrapped if default_storage._wrapped else
                      default_storage._setup() or default_storage._wrapped,
                      AtomicFileSystemStorage)
    small = default_storage.save("reports/ok.jpg", ContentFile(b"x" * 10_000))
    with pytest.raises(StorageFull, match="nothing was saved") as info:
        default_storage.save("reports/big.jpg", ContentFile(secrets.token_bytes(3_000_000)))
    assert info.value.errno == errno.ENOSPC
    assert _files(tiny_disk) == [tiny_disk / small]  # no big.jpg, no .part left behind
    assert shutil.disk_usage(tiny_disk).used < 100_000
    # Room again once the disk has space: nothing stuck.
    assert default_storage.save("reports/ok2.jpg", ContentFile(b"y" * 1000))

    # The same fault inside a request: 507 and a message a person can act on.
    request = RequestFactory().post("/reports/", HTTP_ACCEPT="application/json")
    try:
        raise info.value
    except StorageFull:
        response = server_error(request)
    assert response.status_code == 507
    assert "nothing was saved" in json.loads(response.content)["detail"]


def _noisy_jpeg(side: int = 1400) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    noise = Image.frombytes("RGB", (side, side), secrets.token_bytes(side * side * 3))
    noise.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_a_citizen_report_photo_on_a_full_disk_is_refused_clearly_and_nothing_is_kept(
        tiny_disk, settings):
    """The real upload path: a resident's report with a photo, the disk nearly full."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from reports import testing
    from reports.models import Photo, Report

    settings.MEDIA_ROOT = tiny_disk
    cache.clear()  # the reports rate limits
    filler = tiny_disk / "filler.bin"
    filler.write_bytes(b"\0" * (shutil.disk_usage(tiny_disk).free - 150_000))
    category = testing.category()
    photo = _noisy_jpeg()
    lon, lat = testing.RYNEK
    reports_before, photos_before = Report.objects.count(), Photo.objects.count()
    client = Client(raise_request_exception=False)  # as in production: the 500 handler answers
    response = client.post("/reports/new/", {
        "category": category.slug, "lat": f"{lat}", "lon": f"{lon}", "title": "Dziura",
        "description": "Głęboka dziura przy fontannie.", "email": "mieszkaniec@example.org",
        "duplicates_seen": "on",
        "photos": SimpleUploadedFile("dziura.jpg", photo, content_type="image/jpeg")},
        HTTP_ACCEPT="text/html")
    assert response.status_code == 507, response.status_code
    # The site's own error page, in the resident's language (Polish by default).
    assert "nic nie zostało zapisane" in response.content.decode()
    assert Report.objects.count() == reports_before and Photo.objects.count() == photos_before
    assert _files(tiny_disk) == [filler]  # no photo, no partial file
    cache.clear()


def test_database_unavailable_is_a_503_with_retry_after():
    from django.db import OperationalError

    request = RequestFactory().get("/api/indicators/")
    try:
        raise OperationalError("connection refused")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(request).status_code == 500


# --- the compose file --------------------------------------------------------------------------

def test_compose_file_has_the_production_topology():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "replica", "redis", "migrate", "web", "nginx", "backup"} <= set(services)
    primary = " ".join(services["db"]["command"])
    assert "wal_level=replica" in primary and "archive_mode=on" in primary
    assert "/wal-archive/%f" in primary
    assert "pg_basebackup" in (ROOT / "deploy/postgres/replica-entrypoint.sh").read_text()
    env = compose["x-web-env"]
    assert env["DATABASE_REPLICA_URL"].endswith("@replica:5432/sdi")
    assert env["REDIS_URL"].startswith("redis://redis:") and env["DJANGO_DEBUG"] == "false"
    assert env["LOG_FORMAT"] == "json"
    web = services["web"]
    assert web["command"][:3] == ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
    assert "ports" not in web  # only nginx is published
    assert services["nginx"]["ports"] == ["${HTTP_PORT:-80}:80"]
    template = "./deploy/nginx/sdi.conf.template:/etc/nginx/templates/sdi.conf.template:ro"
    assert template in services["nginx"]["volumes"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
    for name in ("db", "replica", "redis", "web", "nginx"):
        assert "healthcheck" in services[name], name
