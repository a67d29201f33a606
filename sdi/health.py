"""Liveness and readiness probes for the orchestrator (docker-compose healthcheck, k8s).

/readyz fails (503) when the primary database is unreachable or migrations are pending: such
a node must not take traffic. The cache and the replica are reported but do not fail it: the
site works without either (the cache fails open, reads fall back to the primary), and taking
every web node out of the balancer because Redis is down would turn a slowdown into an outage.

ProbeMiddleware answers the probes (and /metrics) whatever the Host header and scheme: Docker's
healthcheck calls the container as 127.0.0.1:8000 and Prometheus as web:8000, over plain HTTP,
which ALLOWED_HOSTS and the HTTPS redirect would turn into 400s and 301s (and nginx, waiting for
a healthy web, would never start). These answers build no URL from the host name, so host
validation protects nothing there.
"""

from django.core.cache import cache
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.urls import resolve

from sdi import metrics, routers


def healthz(request):
    return JsonResponse({"status": "ok"})


def _cache_check() -> str:
    ping = getattr(cache, "ping", None)
    if ping is None:
        return "ok"  # a process-local cache is always there
    return "ok" if ping() else "error: unreachable (serving uncached)"


def _replica_check() -> str:
    try:
        with connections[routers.REPLICA].cursor() as cur:
            status, lag = routers.replica_state(cur)
        if status not in ("streaming", "unknown"):
            return f"error: not streaming from the primary ({status})"
        return "ok" if lag is None else f"ok (lag {lag:.1f} s)"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"error: {exc.__class__.__name__} (reads on primary)"


def readyz(request):
    checks = {}
    try:
        connection = connections[routers.PRIMARY]
        with connection.cursor() as cur:
            cur.execute("SELECT postgis_lib_version()")
            checks["database"] = "ok"
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        checks["migrations"] = "ok" if not pending else f"{len(pending)} pending"
    except Exception as exc:  # readiness must report, not raise
        checks["database"] = f"error: {exc.__class__.__name__}"
    ready = checks.get("database") == "ok" and checks.get("migrations") == "ok"
    checks["cache"] = _cache_check()
    if routers.replica_configured():
        checks["replica"] = _replica_check()
    degraded = any(v != "ok" and not v.startswith("ok ") for v in checks.values())
    status = "unavailable" if not ready else "degraded" if degraded else "ok"
    return JsonResponse({"status": status, "checks": checks}, status=200 if ready else 503)


PROBES = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics.metrics_view}


class ProbeMiddleware:
    """Right after the request log: the probes skip host validation, the HTTPS redirect and
    everything after them (sessions, CSRF, language), and are still logged and measured."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = PROBES.get(request.path_info)
        if view is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        request.resolver_match = resolve(request.path_info)  # the metrics' endpoint label
        return view(request)
