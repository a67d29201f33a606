"""OGC API Features /items under load: our /ogc (LayerProvider) vs stock pygeoapi's PostgreSQL
provider vs tipg, on the same SYNTHETIC rows (bench/ogc_synthetic.py), in one run.

    bench/ogc_setup.sh                                  # baseline venvs (once)
    DATABASE_URL=postgres://sdi:sdi@127.0.0.1:5433/sdi_ogc .venv/bin/python bench/ogc_items.py

20 fixed bboxes, limit 100 and 1000, 8 concurrent keep-alive clients, SECONDS per server and
limit. Each server gets 2 worker processes on 127.0.0.1. Prints requests/s and features/s per
server and the ratios ours/stock and ours/tipg (targets: >= 1 and >= 1/1.5).

The 20 boxes repeat, so our per-version count cache (ogc/provider.py) answers numberMatched from
cache after the warm-up passes, while the baselines count on every request; so ours also runs
with the cache off (OGC_COUNT_CACHE_SECONDS=0), and both ratios are printed.
"""

import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ogc_synthetic  # noqa: E402

SECONDS = float(os.environ.get("OGC_BENCH_SECONDS", "8"))
CONCURRENCY = 8
LIMITS = (100, 1000)
N_POINTS = int(os.environ.get("OGC_BENCH_POINTS", "200000"))


def boxes() -> list[tuple[float, float, float, float]]:
    rnd = random.Random(20)
    minx, miny, maxx, maxy = ogc_synthetic.AREA
    out = []
    for _ in range(20):
        w, h = rnd.uniform(0.01, 0.04), rnd.uniform(0.008, 0.025)
        x, y = rnd.uniform(minx, maxx - w), rnd.uniform(miny, maxy - h)
        out.append((round(x, 5), round(y, 5), round(x + w, 5), round(y + h, 5)))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int, path: str, proc, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited ({proc.returncode})")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on {port} did not come up")


def db_parts():
    url = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
    return url.hostname, url.port or 5432, url.username, url.password, url.path.lstrip("/")


def start_ours(port, log, count_cache=True):
    env = dict(os.environ, BASEMAP_URL="", DB_CONN_MAX_AGE="60", LOG_LEVEL="ERROR",
               OGC_COUNT_CACHE_SECONDS="3600" if count_cache else "0")
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "sdi.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def start_stock(port, log, tmp: Path):
    host, dbport, user, password, name = db_parts()
    config = tmp / "pygeoapi.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "server": {"bind": {"host": "127.0.0.1", "port": port},
                   "url": f"http://127.0.0.1:{port}", "mimetype": "application/json",
                   "encoding": "utf-8", "languages": ["en-US"], "pretty_print": False,
                   "limits": {"default_items": 10, "max_items": 10000}, "map": {
                       "url": "", "attribution": ""}},
        "logging": {"level": "ERROR"},
        "metadata": {"identification": {"title": "bench", "description": "bench",
                                        "keywords": [], "terms_of_service": "", "url": ""},
                     "license": {"name": "", "url": ""}, "provider": {"name": "", "url": ""},
                     "contact": {"name": ""}},
        "resources": {"points": {
            "type": "collection", "title": "points", "description": "synthetic points",
            "keywords": [], "extents": {"spatial": {"bbox": [-180, -90, 180, 90]}},
            "providers": [{"type": "feature", "name": "PostgreSQL", "data": {
                "host": host, "port": dbport, "dbname": name, "user": user,
                "password": password, "search_path": ["public"]},
                "id_field": "id", "table": ogc_synthetic.VIEW, "geom_field": "geom"}]}},
    }))
    venv = ROOT / "var/ogc-bench-pygeoapi-venv/bin"
    openapi = tmp / "openapi.yml"
    env = dict(os.environ, PYGEOAPI_CONFIG=str(config), PYGEOAPI_OPENAPI=str(openapi))
    subprocess.run([str(venv / "pygeoapi"), "openapi", "generate", str(config), "--output-file",
                    str(openapi)], env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
    return subprocess.Popen(
        [str(venv / "gunicorn"), "pygeoapi.flask_app:APP", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4"],
        cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def tipg_venv() -> Path:
    for candidate in ("var/bench-tipg-venv", "var/ogc-bench-tipg-venv"):
        if (ROOT / candidate / "bin/uvicorn").exists():
            return ROOT / candidate / "bin"
    raise RuntimeError("no tipg venv: run bench/ogc_setup.sh")


def start_tipg(port, log):
    env = dict(os.environ, TIPG_DB_SCHEMAS='["public"]',
               TIPG_DB_TABLES=f'["public.{ogc_synthetic.VIEW}"]',
               TIPG_MAX_FEATURES_PER_QUERY="10000", TIPG_DEFAULT_FEATURES_LIMIT="10")
    return subprocess.Popen(
        [str(tipg_venv() / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "2", "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def paths(prefix: str, limit: int) -> list[str]:
    return [f"{prefix}?bbox={','.join(map(str, box))}&limit={limit}" for box in boxes()]


def load(port: int, urls: list[str], counts: dict[str, int]) -> tuple[float, float, int]:
    """(requests/s, features/s, errors) with CONCURRENCY clients for SECONDS."""
    done, features, errors = [0] * CONCURRENCY, [0] * CONCURRENCY, [0] * CONCURRENCY
    stop_at = time.monotonic() + SECONDS

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        k = i
        while time.monotonic() < stop_at:
            url = urls[k % len(urls)]
            k += 1
            conn.request("GET", url, headers={"Accept": "application/geo+json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors[i] += 1
                continue
            done[i] += 1
            features[i] += counts[url]

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return sum(done) / elapsed, sum(features) / elapsed, sum(errors)


def feature_counts(port: int, urls: list[str]) -> dict[str, int]:
    """Features per URL, read once (the load loop then only reads bytes): also the warm-up."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    counts = {}
    for url in urls:
        conn.request("GET", url, headers={"Accept": "application/geo+json"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status} {body[:300]!r}")
        counts[url] = len(json.loads(body)["features"])
    return counts


def main():
    ogc_synthetic.ensure(N_POINTS)
    ours_path = f"/ogc/collections/{ogc_synthetic.SLUG}/items"
    servers = {
        "ours (/ogc, LayerProvider)": (start_ours, ours_path),
        "ours, count cache off": (lambda port, log: start_ours(port, log, False), ours_path),
        "stock pygeoapi PostgreSQL": (start_stock, "/collections/points/items"),
        "tipg": (start_tipg, f"/collections/public.{ogc_synthetic.VIEW}/items"),
    }
    results = {}
    tmp = Path(tempfile.mkdtemp(prefix="ogc-bench-"))
    log_path = ROOT / "var" / "ogc-bench-servers.log"
    with open(log_path, "w") as log:
        for name, (start, prefix) in servers.items():
            port = free_port()
            proc = start(port, log, tmp) if start is start_stock else start(port, log)
            try:
                wait_up(port, prefix + "?limit=1", proc)
                for limit in LIMITS:
                    urls = paths(prefix, limit)
                    counts = feature_counts(port, urls)
                    feature_counts(port, urls)  # second warm pass (caches, JIT of plans)
                    rps, fps, errors = load(port, urls, counts)
                    results[(name, limit)] = (rps, fps, errors, sum(counts.values()))
                    print(f"{name:30} limit={limit:5}: {rps:8.1f} req/s {fps:10.0f} features/s"
                          f"  errors={errors}", flush=True)
            finally:
                stop(proc)
    shutil.rmtree(tmp, ignore_errors=True)
    ours, uncached, stock, tipg = list(servers)
    print(f"\n{N_POINTS} synthetic points, 20 bboxes, concurrency {CONCURRENCY}, "
          f"{SECONDS:.0f} s per run, 2 worker processes per server (logs: {log_path})")
    for limit in LIMITS:
        o, s, t = (results[(n, limit)] for n in (ours, stock, tipg))
        same = "same features" if o[3] == s[3] == t[3] else \
            f"features per 20 boxes differ: {o[3]} / {s[3]} / {t[3]}"
        u = results[(uncached, limit)]
        print(f"limit {limit:5}: ours/stock = {o[1] / s[1]:.2f}x (target >= 1),"
              f" ours/tipg = {o[1] / t[1]:.2f}x (target >= 0.67); {same}")
        print(f"             without the count cache: ours/stock = {u[1] / s[1]:.2f}x, "
              f"ours/tipg = {u[1] / t[1]:.2f}x")


if __name__ == "__main__":
    main()
