"""Load test of the local production topology (scripts/prod-local.sh): not a test, a measurement.

    .venv/bin/python bench/load.py                 # 50 and 200 users, 60 s each, + 10 min soak
    .venv/bin/python bench/load.py --duration 30 --soak 0   # quick look

It starts the topology if it is down, creates a clearly labelled synthetic layer for the
editors (`bench-synthetic-edits`, Layer.synthetic) and an editor with a REST token, then runs
bench/load_locustfile.py through nginx with locust (headless, one process) at each user count,
and prints per run: requests/s, p50/p95, error rate, tile cache hit ratios (nginx and Django's
Redis cache), replica lag, and the web processes' memory. The soak run samples memory every
30 s and reports growth from its second minute (after warm-up) to its last.

Before the user runs it measures tiles/s straight at the tile service (granian) over a fixed
set of 300 tiles, cold (Redis flushed: PostGIS builds every tile) and warm (from Redis), at
concurrency 8, and divides by the machine's cores: the per-core figures docs/scaling.md builds on.

Locust and the server share this machine's cores, so the figures are a floor for the server.
"""

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import psycopg2

ROOT = Path(__file__).resolve().parent.parent
PROD_DIR = Path(os.environ.get("PROD_DIR", ROOT / "var" / "prod")).resolve()
# The topology runs with production settings (allowed hosts, HTTPS): requests come as through
# the city's balancer, for the host of its .env (localhost) and saying the client used HTTPS.
HTTP = f"http://localhost:{os.environ.get('PROD_HTTP_PORT', 8180)}"
WEB = f"http://localhost:{os.environ.get('PROD_WEB_PORT', 8181)}"
TILES = f"http://localhost:{os.environ.get('PROD_TILES_PORT', 8182)}"
BALANCER = {"X-Forwarded-Proto": "https"}
OUT = ROOT / "var" / "bench-load"

SETUP = """
from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from rest_framework.authtoken.models import Token
from layers.models import Layer
from layers import editing
user, _ = User.objects.get_or_create(username="bench-editor",
                                     defaults={"is_staff": True, "is_superuser": True})
token, _ = Token.objects.get_or_create(user=user)
layer, created = Layer.objects.get_or_create(slug="bench-synthetic-edits", defaults=dict(
    title_pl="Dane syntetyczne: test obciążenia (edycje)",
    title_en="Synthetic data: load test edits", synthetic=True, geometry_type="Point",
    visibility="staff",
    schema={"fields": [{"name": "n", "type": "integer"}, {"name": "note", "type": "string"}]}))
if created:
    for i in range(200):
        editing.create_feature(layer, Point(20.60 + (i % 20) * 0.003, 50.84 + (i // 20) * 0.003,
                               srid=4326), {"n": i, "note": "synthetic"}, user=user,
                               channel="bench")
print(token.key)
"""


def app_env() -> dict:
    out = subprocess.run([str(ROOT / "scripts/prod-local.sh"), "env", "migrate"],
                         capture_output=True,
                         text=True, check=True, env=dict(os.environ, PROD_DIR=str(PROD_DIR)))
    return dict(os.environ, **dict(line.split("=", 1) for line in out.stdout.splitlines()))


def web_processes() -> list[psutil.Process]:
    """gunicorn's and the tile service's processes."""
    out = []
    for service in ("web", "tiles"):
        master = psutil.Process(int((PROD_DIR / "run" / service / "pid").read_text().split()[0]))
        out += [master, *master.children(recursive=True)]
    return out


def rss_mb() -> float:
    return sum(p.memory_info().rss for p in web_processes()) / 2 ** 20


def metrics() -> dict[str, float]:
    """Cache counters, added up over gunicorn and the tile service (nginx sends tiles there)."""
    text = "".join(urllib.request.urlopen(base + "/metrics", timeout=30).read().decode()
                   for base in (WEB, TILES))
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("sdi_tile_cache_total") or line.startswith("sdi_cache_errors_total"):
            name, value = line.rsplit(" ", 1)
            out[name] = out.get(name, 0) + float(value)
    return out


class LagSampler(threading.Thread):
    """Replica lag, sampled every second from the replica itself (bytes and seconds)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self):
        replica = psycopg2.connect(host=str(PROD_DIR / "pgrun"),
                                   port=os.environ.get("PROD_REPLICA_PORT", 5542),
                                   user="sdi", dbname="sdi")
        primary = psycopg2.connect(host=str(PROD_DIR / "pgrun"),
                                   port=os.environ.get("PROD_PG_PORT", 5541),
                                   user="sdi", dbname="sdi")
        replica.autocommit = primary.autocommit = True
        while not self.stop.wait(1):
            with primary.cursor() as p, replica.cursor() as r:
                p.execute("SELECT pg_current_wal_lsn()")
                lsn = p.fetchone()[0]
                r.execute("SELECT pg_wal_lsn_diff(%s, pg_last_wal_replay_lsn()), CASE WHEN "
                          "pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 ELSE "
                          "extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END",
                          [lsn])
                lag_bytes, lag_s = r.fetchone()
                self.samples.append((max(0.0, float(lag_bytes)), float(lag_s or 0)))
        replica.close()
        primary.close()


def nginx_cache_counts(since_bytes: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    with open(PROD_DIR / "log" / "nginx" / "access.log", "rb") as f:
        f.seek(since_bytes)
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec["uri"].startswith("/tiles/"):
                counts[rec["cache"] or "NONE"] = counts.get(rec["cache"] or "NONE", 0) + 1
    return counts


def tile_addresses(n: int = 300) -> list[str]:
    lon, lat = 20.6286, 50.8536
    out = []
    for z in (12, 13, 14, 15, 16):
        k = 2 ** z
        x0 = int((lon + 180) / 360 * k)
        y0 = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * k)
        for layer in ("placowki-oswiatowe", "obwody-glosowania"):
            for dx in range(-3, 3):
                for dy in range(-2, 3):
                    out.append(f"/tiles/{layer}/{z}/{x0 + dx}/{y0 + dy}.pbf")
    return out[:n]


def tiles_per_second(base: str, paths: list[str], concurrency: int = 8) -> tuple[float, int]:
    def fetch(path):
        try:
            request = urllib.request.Request(base + path, headers=BALANCER)
            with urllib.request.urlopen(request, timeout=120) as r:
                r.read()
                return r.status
        except OSError:  # a timeout or refused connection is an error of the run, not a crash
            return 0

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        statuses = list(pool.map(fetch, paths))
    elapsed = time.perf_counter() - start
    bad = sum(1 for s in statuses if s not in (200, 204))
    return len(paths) / elapsed, bad


def measure_tiles(env: dict) -> dict:
    paths = tile_addresses()
    redis_port = env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0]
    subprocess.run(["redis-cli", "-p", redis_port, "flushall"], check=True,
                   capture_output=True)
    cold, bad_cold = tiles_per_second(TILES, paths)
    warm, bad_warm = tiles_per_second(TILES, paths * 5)
    cores = psutil.cpu_count()
    return {"tiles": len(paths), "cold_tiles_per_s": round(cold, 1),
            "warm_tiles_per_s": round(warm, 1), "cores": cores,
            "cold_per_core": round(cold / cores, 1), "warm_per_core": round(warm / cores, 1),
            "errors": bad_cold + bad_warm, "loadavg_1m": os.getloadavg()[0]}


def run_locust(users: int, seconds: int, token: str, sample_memory: bool = False) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    prefix = OUT / f"u{users}-{seconds}s"
    log_size = (PROD_DIR / "log" / "nginx" / "access.log").stat().st_size
    before_metrics, rss_before = metrics(), rss_mb()
    lag = LagSampler()
    lag.start()
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/locust"), "-f", str(ROOT / "bench/load_locustfile.py"),
         "--headless", "-u", str(users), "-r", str(max(1, users // 10)), "-t", f"{seconds}s",
         "--host", HTTP, "--csv", str(prefix), "--only-summary", "--stop-timeout", "10",
         "--loglevel", "WARNING"],
        env=dict(os.environ, BENCH_EDITOR_TOKEN=token), stdout=subprocess.DEVNULL,
        stderr=open(str(prefix) + ".log", "w"))  # noqa: SIM115
    memory = []
    while proc.poll() is None:
        time.sleep(30 if sample_memory else 5)
        if sample_memory and proc.poll() is None:
            memory.append((time.monotonic(), rss_mb()))
    lag.stop.set()
    lag.join()
    after_metrics, rss_after = metrics(), rss_mb()

    with open(f"{prefix}_stats.csv") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    total = rows["Aggregated"]
    n, failures = int(total["Request Count"]), int(total["Failure Count"])
    conflicts = int(rows.get("412 (concurrent edit)", {}).get("Request Count", 0))

    def delta(key):
        return after_metrics.get(key, 0) - before_metrics.get(key, 0)

    hits, misses = (delta('sdi_tile_cache_total{result="hit"}'),
                    delta('sdi_tile_cache_total{result="miss"}'))
    nginx = nginx_cache_counts(log_size)
    nginx_tiles = sum(nginx.values()) or 1
    result = {
        "users": users, "seconds": seconds, "requests": n - conflicts,
        "requests_per_s": round((n - conflicts) / seconds, 1),
        "p50_ms": float(total["50%"]), "p95_ms": float(total["95%"]),
        "failures": failures, "error_rate": round(failures / max(1, n), 5),
        "edit_conflicts_412": conflicts,
        "edits": int(rows.get("/api/layers/[bench]/features/[id]/ PATCH", {})
                     .get("Request Count", 0)),
        # Served by nginx without waiting for Django: fresh hits, and stale copies handed out
        # while a background request revalidates (UPDATING) or because Django failed (STALE).
        "nginx_tile_hit_ratio": round(sum(nginx.get(k, 0) for k in (
            "HIT", "UPDATING", "STALE", "REVALIDATED")) / nginx_tiles, 3),
        "nginx_cache_status": nginx,
        "django_tile_cache_hit_ratio": round(hits / max(1, hits + misses), 3),
        "replica_lag_max_s": round(max((s for _, s in lag.samples), default=0), 3),
        "replica_lag_max_bytes": int(max((b for b, _ in lag.samples), default=0)),
        "replica_lag_p95_bytes": int(statistics.quantiles([b for b, _ in lag.samples], n=20)[18])
        if len(lag.samples) >= 20 else None,
        "rss_mb_before": round(rss_before, 1), "rss_mb_after": round(rss_after, 1),
        "loadavg_1m": os.getloadavg()[0],
        "slowest_p95": sorted(((float(r["95%"]), name) for name, r in rows.items()
                               if name != "Aggregated" and r["95%"] != "N/A"), reverse=True)[:3],
    }
    if memory:
        warm = [m for t, m in memory if t - memory[0][0] >= 60] or [m for _, m in memory]
        result["rss_samples_mb"] = [round(m, 1) for _, m in memory]
        result["rss_growth_after_warmup_pct"] = round((warm[-1] - warm[0]) / warm[0] * 100, 2)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", default="50,200")
    parser.add_argument("--duration", type=int, default=60, help="seconds per user count")
    parser.add_argument("--soak", type=int, default=600, help="seconds of the soak run (0: none)")
    parser.add_argument("--soak-users", type=int, default=200)
    args = parser.parse_args()

    subprocess.run([str(ROOT / "scripts/prod-local.sh"), "start"], check=True,
                   env=dict(os.environ, PROD_DIR=str(PROD_DIR)))
    env = app_env()
    token = subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-c", SETUP],
                           cwd=ROOT, env=env, capture_output=True, text=True, check=True
                           ).stdout.strip().splitlines()[-1]
    results = {"machine": {"cores": psutil.cpu_count(),
                           "memory_gb": round(psutil.virtual_memory().total / 2 ** 30, 1)},
               "workers": env.get("WEB_WORKERS")}
    print("tiles/s straight at the tile service (concurrency 8) ...", flush=True)
    results["tiles"] = measure_tiles(env)
    print(json.dumps(results["tiles"]), flush=True)
    results["runs"] = []
    for users in map(int, args.users.split(",")):
        print(f"locust: {users} users for {args.duration} s ...", flush=True)
        r = run_locust(users, args.duration, token)
        print(json.dumps(r), flush=True)
        results["runs"].append(r)
    if args.soak:
        print(f"soak: {args.soak_users} users for {args.soak} s, memory every 30 s ...",
              flush=True)
        results["soak"] = run_locust(args.soak_users, args.soak, token, sample_memory=True)
        print(json.dumps(results["soak"]), flush=True)

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "latest.json").write_text(json.dumps(results, indent=1))
    print("\n| users | req/s | p50 ms | p95 ms | errors | nginx tile HIT | Redis tile hit | "
          "replica lag max | RSS MB before→after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results["runs"] + ([results["soak"]] if args.soak else []):
        print(f"| {r['users']} ({r['seconds']} s) | {r['requests_per_s']} | {r['p50_ms']:.0f} | "
              f"{r['p95_ms']:.0f} | {r['failures']} ({r['error_rate']:.2%}) | "
              f"{r['nginx_tile_hit_ratio']:.0%} | {r['django_tile_cache_hit_ratio']:.0%} | "
              f"{r['replica_lag_max_s']} s / {r['replica_lag_max_bytes']} B | "
              f"{r['rss_mb_before']}→{r['rss_mb_after']} |")
    t = results["tiles"]
    print(f"\ntiles/s at the tile service: cold {t['cold_tiles_per_s']} "
          f"({t['cold_per_core']}/core), warm {t['warm_tiles_per_s']} "
          f"({t['warm_per_core']}/core); warm/cold = "
          f"{t['warm_tiles_per_s'] / t['cold_tiles_per_s']:.1f}x")
    if args.soak:
        growth = results["soak"]["rss_growth_after_warmup_pct"]
        print(f"soak memory growth after warm-up: {growth}%")
    failed = any(r["failures"] for r in results["runs"]) or (
        args.soak and results["soak"]["failures"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
