"""Tile caching: exact invalidation through the editing service, single flight (in process and
against gunicorn with Redis, as in production), and seeding."""

import shutil
import socket
import subprocess
import threading
import time
import urllib.request

import mapbox_vector_tile
import pytest
from django.contrib.gis.db.models import Extent
from django.contrib.gis.geos import Point
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django.core.management import CommandError, call_command

from layers import editing
from layers.models import Feature, Layer
from sdi.cache import FailOpenRedisCache
from tests.servers import free_port, live_gunicorn
from tests.test_tiles import CENTRE, decode, get_tile, ids, tile_of
from tiles import caching

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


# --- exact invalidation ----------------------------------------------------------------------

def test_an_edit_through_the_editing_service_shows_in_the_next_tile(client):
    z, x, y = tile_of(*CENTRE, 12)
    path = f"/tiles/biblioteki/{z}/{x}/{y}.pbf"
    first = get_tile(client, path)
    features = {f["id"]: f for f in decode(first)["biblioteki"]["features"]}
    fid = sorted(features)[0]
    feature = Feature.objects.get(pk=fid)

    editing.update_feature(fid, properties={"NAZWA": "Filia nr 99 (po edycji)"}, replace=False,
                           expected_version=feature.version)
    second = get_tile(client, path, if_none_match=first["ETag"])
    assert second.status_code == 200
    edited = {f["id"]: f for f in decode(second)["biblioteki"]["features"]}
    assert edited[fid]["properties"]["NAZWA"] == "Filia nr 99 (po edycji)"
    assert {k: v["properties"] for k, v in edited.items() if k != fid} == {
        k: v["properties"] for k, v in features.items() if k != fid}

    # Moved out of the tile (and its buffer): gone from it at once.
    editing.update_feature(fid, geom=Point(20.9, 50.95, srid=4326))
    assert fid not in ids(decode(get_tile(client, path)), "biblioteki")
    tz, tx, ty = tile_of(20.9, 50.95, 12)
    assert ids(decode(get_tile(client, f"/tiles/biblioteki/{tz}/{tx}/{ty}.pbf")),
               "biblioteki") == {fid}

    editing.delete_feature(fid)
    assert get_tile(client, f"/tiles/biblioteki/{tz}/{tx}/{ty}.pbf").status_code == 204


def test_an_edit_shows_in_composite_tiles_and_leaves_other_layers_cached(client,
                                                                         django_assert_num_queries):
    z, x, y = tile_of(*CENTRE, 12)
    composite = f"/tiles/okregi-wyborcze,biblioteki/{z}/{x}/{y}.pbf"
    districts = f"/tiles/okregi-wyborcze/{z}/{x}/{y}.pbf"
    get_tile(client, composite)
    get_tile(client, districts)
    layer = Layer.objects.get(slug="biblioteki")
    editing.create_feature(layer, Point(*CENTRE, srid=4326), {"NAZWA": "Nowa filia"})
    tile = decode(get_tile(client, composite))
    assert "Nowa filia" in {f["properties"].get("NAZWA") for f in tile["biblioteki"]["features"]}
    with django_assert_num_queries(1):  # the layer lookup only: still cached
        get_tile(client, districts)


# --- single flight, in one process ------------------------------------------------------------

@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = shutil.which("redis-server")
    if not server:
        pytest.skip("redis-server is not installed")
    port = free_port()
    work = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_cache(redis_url, monkeypatch):
    """The production cache backend (Redis, failing open) in this process."""
    backend = FailOpenRedisCache(redis_url, {})
    backend.clear()
    monkeypatch.setattr(caching, "cache", backend)
    return backend


@pytest.fixture(params=["process memory", "redis"])
def tile_cache(request):
    """Each backend the tiles are cached in: dev/tests (local memory) and production (Redis)."""
    return cache if request.param == "process memory" else request.getfixturevalue("redis_cache")


def test_concurrent_misses_build_a_tile_once(tile_cache):
    built = []

    def slow_build():
        built.append(1)
        time.sleep(0.3)
        return b"\x1a\x00tile bytes"

    results = []
    barrier = threading.Barrier(12)

    def request():
        barrier.wait()
        results.append(caching.cached_tile("tiles:test-storm", slow_build))

    threads = [threading.Thread(target=request) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"\x1a\x00tile bytes"] * 12
    assert built == [1]
    assert caching.stats() == {"built": 1, "waited": 11}
    # Stored as Django's cache stores it: the generic API reads the same tile; no lock is left.
    assert tile_cache.get("tiles:test-storm") == b"\x1a\x00tile bytes"
    assert tile_cache.get("tiles:test-storm:lock") is None


def test_a_failed_build_releases_the_lock(tile_cache):
    def broken():
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        caching.cached_tile("tiles:test-broken", broken)
    assert tile_cache.get("tiles:test-broken:lock") is None
    started = time.monotonic()
    assert caching.cached_tile("tiles:test-broken", lambda: b"ok") == b"ok"
    assert time.monotonic() - started < 1
    assert caching.stats()["built"] == 1


def test_a_dead_cache_does_not_make_requests_wait(monkeypatch):
    # Redis down: the fail-open cache answers every add() with False and every get() with None.
    dead = FailOpenRedisCache(f"redis://127.0.0.1:{free_port()}/0",
                              {"OPTIONS": {"socket_connect_timeout": 0.2}})
    monkeypatch.setattr(caching, "cache", dead)
    built = []
    started = time.monotonic()
    assert caching.cached_tile("tiles:test-dead", lambda: built.append(1) or b"x") == b"x"
    assert built == [1]
    assert time.monotonic() - started < 2


def test_redis_that_forgot_its_scripts_still_serves(redis_cache):
    # A Redis restarted (or SCRIPT FLUSH) has no scripts: they are loaded again on first use.
    assert caching.cached_tile("tiles:test-flush", lambda: b"one") == b"one"
    redis_cache._cache.get_client(write=True).script_flush()
    assert caching.cached_tile("tiles:test-flush", lambda: b"two") == b"one"
    assert caching.cached_tile("tiles:test-flush-2", lambda: b"two") == b"two"


# --- single flight, gunicorn + Redis (the production configuration) ----------------------------

@pytest.fixture(scope="module")
def redis_gunicorn(kielce, django_db_blocker, redis_url):
    """gunicorn as in production: several workers with threads, sharing one Redis."""
    # a busy machine boots three workers slowly
    with django_db_blocker.unblock(), live_gunicorn(
            "test-gunicorn-redis.log", {"REDIS_URL": redis_url}, workers=3, threads=8,
            start_timeout=180) as url:
        yield url


def storm(url: str, n: int) -> list[bytes]:
    barrier = threading.Barrier(n)
    bodies: list[bytes] = []
    errors: list[BaseException] = []

    def fetch():
        try:
            barrier.wait()
            with urllib.request.urlopen(url, timeout=60) as r:
                assert r.status == 200
                bodies.append(r.read())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=fetch) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    return bodies


def test_a_request_storm_for_one_uncached_tile_computes_it_once(redis_gunicorn, redis_url):
    counters = RedisCache(redis_url, {})
    counters.clear()
    # A heavy tile: every Kielce layer over most of the city, so the build takes long enough
    # for the whole storm to arrive while it runs.
    slugs = ",".join(Layer.objects.order_by("slug").values_list("slug", flat=True))
    url = f"{redis_gunicorn}/tiles/{slugs}/11/1141/686.pbf"
    bodies = storm(url, 24)
    assert len(set(bodies)) == 1
    tile = mapbox_vector_tile.decode(bodies[0])
    assert set(tile) == set(slugs.split(","))
    assert counters.get(caching.STATS_BUILT) == 1
    # The storm really overlapped the build: requests waited for it instead of building.
    assert counters.get(caching.STATS_WAITED, 0) >= 2

    # A second storm is served from Redis: still one build.
    assert set(storm(url, 24)) == set(bodies)
    assert counters.get(caching.STATS_BUILT) == 1


# --- seeding ---------------------------------------------------------------------------------

def test_seed_tiles_fills_the_cache_the_endpoint_reads(client, django_assert_num_queries,
                                                       capsys):
    west, south, east, north = Feature.objects.filter(
        layer__slug__in=["okregi-wyborcze", "biblioteki"]).aggregate(e=Extent("geom"))["e"]
    expected = 0
    for z in range(9, 13):
        _, x0, y0 = tile_of(west, north, z)
        _, x1, y1 = tile_of(east, south, z)
        expected += (x1 - x0 + 1) * (y1 - y0 + 1)
    call_command("seed_tiles", "okregi-wyborcze,biblioteki", "--minzoom", "9",
                 "--maxzoom", "12", "--workers", "2")
    out = capsys.readouterr()
    assert "tiles/s" in out.out
    assert f"{expected} tiles in" in out.out
    assert f"{expected} built, 0 already cached" in out.out
    assert "100%" in out.err  # the progress bar
    for z, x, y in [(9, 285, 171), (12, 2282, 1373)]:
        with django_assert_num_queries(1):  # the layer lookup: the tile comes from the cache
            response = get_tile(client, f"/tiles/okregi-wyborcze,biblioteki/{z}/{x}/{y}.pbf")
        assert response.status_code in (200, 204)
    call_command("seed_tiles", "okregi-wyborcze,biblioteki", "--minzoom", "9",
                 "--maxzoom", "12")
    assert f"0 built, {expected} already cached" in capsys.readouterr().out


def test_seed_tiles_uses_the_layers_zoom_range(capsys):
    layer = Layer.objects.get(slug="okregi-wyborcze")
    layer.tile_minzoom, layer.tile_maxzoom = 10, 11
    layer.save(update_fields=["tile_minzoom", "tile_maxzoom"])
    call_command("seed_tiles", "okregi-wyborcze")
    assert "at zooms 10-11" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["no-such-layer"], "unknown layer(s): no-such-layer"),
    (["biblioteki,,okregi-wyborcze"], "empty layer name"),
    (["biblioteki", "--minzoom", "12", "--maxzoom", "10"], "0 <= minzoom <= maxzoom <= 22"),
    (["biblioteki", "--maxzoom", "23"], "0 <= minzoom <= maxzoom <= 22"),
    (["biblioteki", "--bbox", "20,50,21"], "--bbox must be west,south,east,north"),
    (["biblioteki", "--bbox", "21,50,20,51"], "is not a valid west,south,east,north box"),
    (["okregi-wyborcze", "--maxzoom", "22"], "more than 1,000,000; lower --maxzoom"),
])
def test_seed_tiles_bad_input(args, message):
    with pytest.raises(CommandError) as e:
        call_command("seed_tiles", *args)
    assert message in str(e.value)


# --- deleted layers --------------------------------------------------------------------------

def test_a_deleted_layer_has_no_tiles_and_comes_back_when_restored(client):
    from layers import lifecycle

    z, x, y = tile_of(*CENTRE, 12)
    path = f"/tiles/biblioteki/{z}/{x}/{y}.pbf"
    assert get_tile(client, path).status_code == 200
    layer = Layer.objects.get(slug="biblioteki")
    lifecycle.delete_layer(layer)
    for p in (path, f"/tiles/okregi-wyborcze,biblioteki/{z}/{x}/{y}.pbf", "/tiles/biblioteki.json"):
        response = client.get(p)
        assert response.status_code == 404
        assert response.json() == {"detail": "unknown layer 'biblioteki'"}
    lifecycle.restore_layer(Layer.all_objects.get(pk=layer.pk))
    assert ids(decode(get_tile(client, path)), "biblioteki")


def test_recent_tiles_keep_within_their_byte_budget():
    recent = caching._Recent(max_bytes=100)
    for key in "abc":
        recent.put(key, key.encode() * 40)
    assert recent.get("a") is None  # the oldest went when the budget was spent
    assert recent.get("b") == b"b" * 40 and recent.get("c") == b"c" * 40
    recent.get("b")  # now "c" is the least recently used
    recent.put("d", b"d" * 40)
    assert recent.get("c") is None and recent.get("b") and recent.get("d")
    recent.put("huge", b"x" * 51)  # more than half the budget: not kept
    assert recent.get("huge") is None
    assert recent.size <= 100
    # Without Redis (tests, dev) the tiles are in process memory already: no second copy.
    assert caching.recent is None
