"""Prometheus metrics: the small API other apps call, and the /metrics view.

Apps record what only they know with one call each:

    from sdi import metrics
    metrics.tile_cache(hit=True)            # a tile served from the cache (False: a miss)
    with metrics.tile_build():              # times the tile's generation
        ...
    metrics.timed_build(build)              # the same, wrapped around a builder function

Request latency per endpoint and database connection use are recorded here (the middleware in
sdi.observability), so no app has to.

Under gunicorn every worker is its own process. With PROMETHEUS_MULTIPROC_DIR set (the
production gunicorn config sets it, see deploy/gunicorn.conf.py) the workers write their
samples to files there and /metrics adds them up, so one scrape sees the whole server. Without
it, /metrics shows the one process that answered (fine for `runserver` and tests).
"""

import ipaddress
import os
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import connections
from django.http import HttpResponse
from django.utils.crypto import constant_time_compare
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

# Latency buckets from a cached tile (~1 ms) to a slow export (~10 s).
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUESTS = Counter("sdi_http_requests_total", "HTTP requests answered",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("sdi_http_request_duration_seconds", "Time to answer a request",
                    ["endpoint", "method"], buckets=LATENCY_BUCKETS)
TILE_CACHE = Counter("sdi_tile_cache_total", "Tile cache look-ups", ["result"])
TILE_BUILD = Histogram("sdi_tile_generation_seconds", "Time to build a tile in PostGIS",
                       buckets=LATENCY_BUCKETS)
CACHE_ERRORS = Counter("sdi_cache_errors_total",
                       "Cache operations that failed (the cache fails open)", ["operation"])
DB_CONNECTIONS = Gauge("sdi_db_connections_open",
                       "Database connections held open by web processes (persistent pool)",
                       ["alias"], multiprocess_mode="livesum")
DB_BACKENDS = Gauge("sdi_db_backends", "Server backends on the application database by state "
                    "(from pg_stat_activity, at scrape time)", ["alias", "state"],
                    multiprocess_mode="livemostrecent")
DB_MAX_CONNECTIONS = Gauge("sdi_db_max_connections", "The server's max_connections",
                           ["alias"], multiprocess_mode="livemostrecent")
REPLICA_LAG = Gauge("sdi_db_replica_lag_seconds",
                    "Time since the replica replayed the last transaction (0 when idle)",
                    multiprocess_mode="livemostrecent")


def tile_cache(hit: bool) -> None:
    TILE_CACHE.labels("hit" if hit else "miss").inc()


@contextmanager
def tile_build():
    start = time.perf_counter()
    try:
        yield
    finally:
        TILE_BUILD.observe(time.perf_counter() - start)


def timed_build(build):
    """`build` (a tile builder), timed into sdi_tile_generation_seconds whenever it runs."""

    def timed():
        with tile_build():
            return build()

    return timed


def cache_error(operation: str) -> None:
    CACHE_ERRORS.labels(operation).inc()


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(endpoint, method, str(status)).inc()
    LATENCY.labels(endpoint, method).observe(seconds)


def record_db_connections() -> None:
    """After each request: which persistent connections this process keeps open."""
    for conn in connections.all(initialized_only=True):
        DB_CONNECTIONS.labels(conn.alias).set(1 if conn.connection is not None else 0)


# Every state pg_stat_activity can report: each scrape sets them all, so a state that has
# emptied shows 0 rather than its last count.
BACKEND_STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)",
                  "fastpath function call", "disabled", "unknown")


def _scrape_database_state() -> None:
    from sdi import routers  # late: routers imports settings-dependent state

    for alias in routers.database_aliases():
        try:
            with connections[alias].cursor() as cur:
                cur.execute("SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() GROUP BY 1")
                counts = dict.fromkeys(BACKEND_STATES, 0) | dict(cur.fetchall())
                for state, count in counts.items():
                    DB_BACKENDS.labels(alias, state).set(count)
                DB_BACKENDS.labels(alias, "unreachable").set(0)
                cur.execute("SELECT current_setting('max_connections')::int")
                DB_MAX_CONNECTIONS.labels(alias).set(cur.fetchone()[0])
                if alias == routers.REPLICA:
                    lag = routers.replica_lag(cur)
                    if lag is not None:
                        REPLICA_LAG.set(lag)
        except Exception:  # noqa: BLE001 - a scrape reports what it can; a down replica is fine
            DB_BACKENDS.labels(alias, "unreachable").set(1)


def forget_dead_workers(directory: str) -> None:
    """Remove the "live" gauges of worker processes that are gone. gunicorn does it as a worker
    exits (child_exit in deploy/gunicorn.conf.py); granian, which runs the tile service, has no
    such hook, so a crashed and respawned tile worker's gauges would count until a restart.
    Every worker shares the scraped one's process namespace (one container, one host)."""
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and someone else's
        pass
    return True


def _from_this_machine(request) -> bool:
    """A client on the loopback interface, not relayed by a proxy for someone elsewhere."""
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_view(request):
    # Metrics tell how the site is used and what it runs on. With METRICS_TOKEN set, a scraper
    # must present it (from anywhere: docker-compose's Prometheus is another container);
    # without one, only a scraper on this machine is answered, whatever the environment (nginx
    # does not pass /metrics through either: deploy/nginx).
    token = os.environ.get("METRICS_TOKEN")
    if token:
        if not constant_time_compare(request.headers.get("Authorization", ""),
                                     f"Bearer {token}"):
            return HttpResponse("metrics need a token\n", status=401,
                                content_type="text/plain")
    elif not _from_this_machine(request):
        return HttpResponse("metrics are served to this machine only (or set METRICS_TOKEN)\n",
                            status=403, content_type="text/plain")
    _scrape_database_state()
    if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        forget_dead_workers(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = DEFAULT_REGISTRY
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
