"""What one city costs: the numbers behind "Many cities" in docs/scaling.md.

In a database of its own on the server of DATABASE_URL (created here, `<name>_footprint`, and
dropped at the end), it measures:

- the time to create and migrate an empty city database, and its size;
- the time to load Kielce (`load_city`, `load_reports_config`, `compute_indicators`: what
  `make run` does), the database size after, its feature and indicator rows, its largest tables;
- the memory of a PostgreSQL backend: a connection that has run nothing, and the connections of
  a web worker after it has served the pages and APIs (private memory, USS, from
  /proc/<pid>/smaps_rollup: needs to run as root or as the server's user, on the same machine);
- one gunicorn worker (gthread, 4 threads) serving that database: its memory when started and
  after one request to each kind of page and API (RSS and USS).

    DATABASE_URL=postgres://sdi:sdi@127.0.0.1:5433/sdi .venv/bin/python bench/city_footprint.py

Prints JSON and keeps it in var/bench-footprint/latest.json.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dj_database_url
import psycopg2

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
URLS = ["/", "/data/", "/data/biblioteki/", "/districts/", "/compare/", "/reports/",
        "/api/layers/", "/api/indicators/", "/api/layers/biblioteki/features/",
        "/ogc", "/ogc/collections", "/ogc/collections/obwody-glosowania/items?limit=100",
        "/ogc/collections/catalogue/items", "/ogc/dcat", "/ogc/dcat?f=ttl", "/ogc/openapi",
        "/tiles/obwody-glosowania/12/2282/1386.pbf", "/tiles/obwody-glosowania.json",
        "/data/placowki-oswiatowe.csv", "/data/placowki-oswiatowe.geojson",
        "/data/biblioteki.gpkg"]


def connect(cfg: dict, dbname: str):
    conn = psycopg2.connect(dbname=dbname, user=cfg["USER"], password=cfg["PASSWORD"],
                            host=cfg["HOST"] or None, port=cfg["PORT"] or None)
    conn.autocommit = True
    return conn


def memory(pid: int) -> dict | None:
    """RSS, PSS and USS (private) of a process in MB, from smaps_rollup."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    kb = {}
    for line in text.splitlines()[1:]:
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            kb[key] = int(value.split()[0])
    return {"rss_mb": round(kb["Rss"] / 1024, 1), "pss_mb": round(kb["Pss"] / 1024, 1),
            "uss_mb": round((kb["Private_Clean"] + kb["Private_Dirty"]) / 1024, 1)}


def run(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([PY, "manage.py", *args, "-v", "0"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - started, 1)


def size_mb(cur, dbname: str) -> float:
    cur.execute("SELECT pg_database_size(%s)", [dbname])
    return round(cur.fetchone()[0] / 2**20, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_pid(parent: int) -> int:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return int(children[0])


def worker_footprint(env: dict, admin) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "sdi.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--worker-class", "gthread", "--threads", "4",
         "--no-control-socket"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        worker = child_pid(server.pid)
        started = memory(worker)
        statuses = {}
        for _ in range(3):
            for url in URLS:
                try:
                    with urllib.request.urlopen(base + url, timeout=120) as response:
                        response.read()
                        statuses[url] = response.status
                except urllib.error.HTTPError as exc:
                    statuses[url] = exc.code
        served = memory(worker)
        with admin.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> "
                        "pg_backend_pid()", [env["DATABASE_URL"].rsplit("/", 1)[1]])
            backends = [memory(pid) for (pid,) in cur.fetchall()]
        return {"worker_started": started, "worker_after_requests": served,
                "master": memory(server.pid), "statuses": statuses,
                "worker_backends": backends}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main():
    cfg = dj_database_url.parse(os.environ.get("DATABASE_URL",
                                               "postgres://sdi:sdi@127.0.0.1:5433/sdi"))
    name = f"{cfg['NAME']}_footprint"
    url = os.environ.get("DATABASE_URL", "postgres://sdi:sdi@127.0.0.1:5433/sdi")
    env = dict(os.environ, DATABASE_URL=url.rsplit("/", 1)[0] + "/" + name, BASEMAP_URL="",
               WHITENOISE_USE_FINDERS="1", REDIS_URL="")
    admin = connect(cfg, "postgres")
    out = {"database": name}
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute("SHOW server_version")
        out["postgresql"] = cur.fetchone()[0]
        cur.execute("SHOW shared_buffers")
        out["shared_buffers"] = cur.fetchone()[0]
        started = time.perf_counter()
        cur.execute(f'CREATE DATABASE "{name}"')
        out["create_database_s"] = round(time.perf_counter() - started, 2)
        out["empty_database_mb"] = size_mb(cur, name)
    try:
        out["migrate_s"] = run(["migrate", "--noinput"], env)
        with admin.cursor() as cur:
            out["migrated_mb"] = size_mb(cur, name)
        out["load_city_s"] = run(["load_city", "kielce"], env)
        out["load_reports_config_s"] = run(["load_reports_config", "kielce"], env)
        out["compute_indicators_s"] = run(["compute_indicators"], env)
        out["migrate_again_s"] = run(["migrate", "--noinput"], env)  # an upgrade with nothing new
        fresh = connect(cfg, name)  # a connection that has run nothing but this
        with fresh.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            out["idle_backend"] = memory(cur.fetchone()[0])
        fresh.close()
        city = connect(cfg, name)
        with city.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
            out["loaded_mb"] = size_mb(cur, name)
            cur.execute("SELECT count(*) FROM layers_layer")
            out["layers"] = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM layers_feature")
            out["features"] = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM indicators_indicatorvalue")
            out["indicator_values"] = cur.fetchone()[0]
            cur.execute("""
                SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind = 'r' AND n.nspname = 'public'
                ORDER BY 2 DESC LIMIT 6""")
            out["largest_tables_mb"] = {t: round(b / 2**20, 2) for t, b in cur.fetchall()}
        city.close()
        out.update(worker_footprint(env, admin))
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s", [name])
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
    print(json.dumps(out, indent=2, ensure_ascii=False))
    folder = ROOT / "var" / "bench-footprint"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latest.json").write_text(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
