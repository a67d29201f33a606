"""Benchmark: recompute indicators for the 94 electoral precincts over a synthetic load set of
200,000 points, plus the real Kielce set; print the time per indicator and in total, ratios
against a bare PostGIS baseline measured in the same run, and the slowest SQL with EXPLAIN.

Target (issue 6): all indicators for the 94 precincts on 200,000 points in < 10 s in total; the
whole real Kielce set in < 5 s.

    PGPASSWORD=sdi psql -h 127.0.0.1 -p 5433 -U sdi -d sdi -c "CREATE DATABASE sdi_ind_bench"
    DATABASE_URL=postgres://sdi:sdi@127.0.0.1:5433/sdi_ind_bench .venv/bin/python \
        bench/indicators_bench.py

It runs in its own database (the name must contain "bench"): it migrates it, loads Kielce and
adds the synthetic layer. The load set is SYNTHETIC, labelled so in the data (Layer.synthetic,
the title, a `synthetic: true` property on every point): random points inside the real city
boundary (ST_GeneratePoints, fixed seed), with a random category, a lognormal value and a year.
If a synthetic point layer of at least 200,000 features already exists (e.g. from
bench/synthetic.py), it is reused instead.
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sdi.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from indicators import methods  # noqa: E402
from indicators.computing import compute_all, compute_indicator  # noqa: E402
from indicators.definitions import load_definitions  # noqa: E402
from indicators.models import Indicator  # noqa: E402
from layers.models import Feature, Layer  # noqa: E402

N_POINTS = 200_000
SLUG = "bench-synthetic-points"
PRECINCTS = "obwody-glosowania"
REPEAT = 3

# The kinds of the real Kielce definitions (fixtures/kielce/indicators.yaml) that apply to a
# point layer, with filters like theirs, over the synthetic points.
BENCH_INDICATORS = {
    "bench-count": {"kind": "count", "period": "2023"},
    "bench-density": {"kind": "density", "period": "2023"},
    "bench-density-filtered": {"kind": "density", "where": {"category": "a"}, "period": "2023"},
    "bench-count-by-year": {"kind": "count", "period_field": "year"},
    "bench-share": {"kind": "share", "match": {"category": ["a", "b"]}, "period": "2023"},
    "bench-share-numeric": {"kind": "share", "match": {"value": {"gte": 100}},
                            "period": "2023"},
    "bench-sum": {"kind": "sum", "field": "value", "period": "2023"},
    "bench-mean": {"kind": "mean", "field": "value", "period": "2023"},
    "bench-coverage-500m": {"kind": "coverage", "distance": 500, "period": "2023"},
    "bench-coverage-500m-filtered": {"kind": "coverage", "distance": 500,
                                     "where": {"category": "d"}, "period": "2023"},
    "bench-per-1000": {"kind": "per_1000", "population": "population", "period": "2023"},
}
# Not in the total: a stress case far from the city's definitions (100 m around 50,000
# points: 2,000 grid squares without a point, hundreds of them needing the exact construction).
STRESS = {"bench-stress-coverage-100m": {"kind": "coverage", "distance": 100,
                                         "where": {"category": "d"}, "period": "2023"}}


def check_database() -> None:
    name = connection.settings_dict["NAME"]
    if "bench" not in name:
        sys.exit(f"refusing to run in database {name!r}: use a separate bench database "
                 "(its name must contain 'bench'; see the docstring)")


def synthetic_layer() -> Layer:
    big = [la for la in Layer.objects.filter(synthetic=True, geometry_type="Point")
           if la.features.count() >= N_POINTS]
    if big:
        print(f"reusing synthetic layer {big[0].slug} ({big[0].features.count()} points)")
        return big[0]
    boundary = Layer.objects.get(role=Layer.Role.BOUNDARY)
    layer, _ = Layer.objects.update_or_create(slug=SLUG, defaults={
        "title_pl": "SYNTETYCZNE punkty do testu wydajności (nie są to prawdziwe dane)",
        "title_en": "SYNTHETIC benchmark points (not real data)",
        "description_pl": "Losowe punkty w granicy miasta, wygenerowane do benchmarku.",
        "geometry_type": "Point", "synthetic": True, "visibility": "staff",
        "publisher": "benchmark generator (synthetic)", "native_crs": "EPSG:4326",
        "schema": {"fields": [{"name": "category", "type": "string"},
                              {"name": "value", "type": "decimal"},
                              {"name": "year", "type": "integer"},
                              {"name": "synthetic", "type": "boolean"}]}})
    Feature.objects.filter(layer=layer).delete()
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(0.42)")
        cur.execute(f"""
            INSERT INTO {Feature._meta.db_table} (layer_id, geom, properties, version,
                                                  created_at, updated_at)
            SELECT %s, p.geom, jsonb_build_object(
                       'category', (ARRAY['a','b','c','d'])[1 + floor(random() * 4)::int],
                       'value', round((exp(random() * 6))::numeric, 2),
                       'year', 2022 + floor(random() * 2)::int,
                       'synthetic', true),
                   1, now(), now()
            FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, %s, 42))).geom AS geom
                  FROM {Feature._meta.db_table} WHERE layer_id = %s) p""",
                    [layer.pk, N_POINTS, boundary.features.first().layer_id])
        cur.execute(f"ANALYZE {Feature._meta.db_table}")
    layer.bump_version()
    print(f"generated {layer.features.count()} SYNTHETIC points in "
          f"{time.perf_counter() - started:.1f} s (layer {layer.slug})")
    return layer


def bench_indicators(layer: Layer, definitions: dict) -> list[Indicator]:
    precincts = Layer.objects.get(slug=PRECINCTS)
    made = []
    for order, (code, method) in enumerate(definitions.items()):
        indicator, _ = Indicator.objects.update_or_create(code=code, defaults={
            "name_pl": f"SYNTETYCZNY {code}", "name_en": f"SYNTHETIC {code}",
            "theme": "Urban planning", "method": {**method, "layer": layer.slug},
            "source": "SYNTHETIC benchmark data", "licence": "none (synthetic)",
            "city_wide": False, "order": 1000 + order})
        indicator.area_layers.set([precincts])
        made.append(indicator)
    return made


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """CPU time of this process plus its PostgreSQL backend (same machine: /proc). The machine
    is shared with other developers' test runs, so wall time swings with their load; the CPU
    time spent on the work does not, and on an idle machine wall time would be about that."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        backend = (int(fields[11]) + int(fields[12])) / _TICKS
    except OSError:
        backend = float("nan")
    return time.process_time() + backend


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measured(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run."""
    cpu, started = cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - started, cpu_seconds() - cpu


def baseline(layer: Layer) -> float:
    """The least any count per precinct can cost: one bare spatial join, nothing stored."""
    precincts = Layer.objects.get(slug=PRECINCTS)

    def run():
        with connection.cursor() as cur:
            cur.execute(f"""
                SELECT a.id, count(f.id) FROM {Feature._meta.db_table} a
                LEFT JOIN {Feature._meta.db_table} f
                  ON f.layer_id = %s AND ST_Intersects(a.geom, f.geom)
                WHERE a.layer_id = %s GROUP BY a.id""", [layer.pk, precincts.pk])
            cur.fetchall()
    run()
    return statistics.median(timed(run) for _ in range(REPEAT))


def coverage_union_vs_voronoi(layer: Layer, sample: int = 20_000) -> None:
    """Why coverage uses Voronoi cells: the textbook union of buffers on a sample."""
    # Every n-th point: ST_GeneratePoints emits them in spatial runs, so the first n would
    # cluster in one part of the city.
    every = max(1, layer.features.count() // sample)
    ids = [i for n, i in enumerate(Feature.objects.filter(layer=layer).order_by("id")
                                   .values_list("id", flat=True)) if n % every == 0][:sample]
    tmp = Layer.objects.create(slug="bench-coverage-sample", title_pl="SYNTETYCZNA próbka",
                               geometry_type="Point", synthetic=True, visibility="staff")
    try:
        with connection.cursor() as cur:
            cur.execute(f"INSERT INTO {Feature._meta.db_table} (layer_id, geom, properties, "
                        f"version, created_at, updated_at) SELECT %s, geom, properties, 1, "
                        f"now(), now() FROM {Feature._meta.db_table} WHERE id = ANY(%s)",
                        [tmp.pk, ids])
            # As autovacuum would: without statistics for the new layer the planner reads its
            # features by layer id instead of through the spatial index.
            cur.execute(f"ANALYZE {Feature._meta.db_table}")
        precincts = Layer.objects.get(slug=PRECINCTS)
        method = {"kind": "coverage", "layer": tmp.slug, "distance": 500, "period": "x"}
        voronoi = timed(lambda: methods.compute(method, precincts))

        def union():
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SET LOCAL jit = off")
                cur.execute(f"""
                    WITH zone AS (SELECT ST_Union(ST_Buffer(ST_Transform(geom, 2180), 500,
                                                            'quad_segs=32')) AS g
                                  FROM {Feature._meta.db_table} WHERE layer_id = %s)
                    SELECT a.id, ST_Area(ST_Intersection(ST_Transform(a.geom, 2180), zone.g))
                    FROM {Feature._meta.db_table} a, zone WHERE a.layer_id = %s""",
                            [tmp.pk, precincts.pk])
                cur.fetchall()
        naive = timed(union)
        print(f"\ncoverage 500 m on {sample} of the points: union of buffers {naive:.2f} s, "
              f"Voronoi cells {voronoi:.2f} s (union / Voronoi = {naive / voronoi:.1f}×)")
    finally:
        tmp.delete()


def slowest_sql(indicators: list[Indicator]) -> None:
    """Time every statement of every plan, then EXPLAIN ANALYZE the slowest one."""
    precincts = Layer.objects.get(slug=PRECINCTS)
    worst = (0.0, None, None, None)
    for ind in indicators:
        with transaction.atomic():
            plan = methods.compile_method(ind.method, precincts)
            statements = [*plan.setup, plan.query] if plan.query else []
            with connection.cursor() as cur:
                cur.execute("SET LOCAL jit = off")
                cur.execute("SET LOCAL work_mem = '64MB'")
                for i, (sql, params) in enumerate(statements):
                    started = time.perf_counter()
                    cur.execute(sql, params or None)
                    elapsed = time.perf_counter() - started
                    if elapsed > worst[0]:
                        worst = (elapsed, ind, i, sql)
            transaction.set_rollback(True)
    elapsed, ind, index, sql = worst
    print(f"\nslowest SQL: {ind.code}, statement {index + 1}, {elapsed * 1000:.0f} ms")
    print("    " + " ".join(sql.split())[:400] + " …")
    with transaction.atomic():
        plan = methods.compile_method(ind.method, precincts)
        statements = [*plan.setup, plan.query]
        with connection.cursor() as cur:
            cur.execute("SET LOCAL jit = off")
            cur.execute("SET LOCAL work_mem = '64MB'")
            for sql, params in statements[:index]:
                cur.execute(sql, params or None)
            sql, params = statements[index]
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params or None)
            print("\n".join("    " + row[0] for row in cur.fetchall()))
        transaction.set_rollback(True)


def main() -> None:
    check_database()
    with connection.cursor() as cur:
        # Parallel workers are other processes: without them the CPU figure is the whole cost.
        cur.execute("SET max_parallel_workers_per_gather = 0")
    call_command("migrate", verbosity=0)
    call_command("load_city", "kielce", verbosity=0)
    load_definitions("kielce")
    layer = synthetic_layer()
    Indicator.objects.filter(code__startswith="bench-").delete()
    indicators = bench_indicators(layer, BENCH_INDICATORS)

    base = baseline(layer)
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.1f} on {os.cpu_count()} CPUs")
    print(f"\nbaseline (bare count join, 94 precincts × {layer.features.count()} points, "
          f"nothing stored): {base * 1000:.0f} ms\n")
    print("First run of each indicator (the first one reading the synthetic layer fills the "
          "membership cache) and its CPU time (this process + its PostgreSQL backend), then "
          "the median of 3 more runs; × baseline is median / baseline.")
    print(f"{'indicator':34} {'first s':>8} {'median s':>9} {'CPU s':>7} {'× baseline':>11}")
    total = total_cpu = 0.0
    Layer.objects.filter(pk=layer.pk).update(version=layer.version + 1)  # a cold cache
    for ind in indicators:
        first, first_cpu = measured(lambda i=ind: compute_indicator(i))
        runs = [measured(lambda i=ind: compute_indicator(i)) for _ in range(REPEAT)]
        t = statistics.median(r[0] for r in runs)
        total, total_cpu = total + first, total_cpu + first_cpu
        print(f"{ind.code:34} {first:8.3f} {t:9.3f} {first_cpu:7.3f} {t / base:11.1f}")
    verdict = "OK" if total < 10 else "OVER TARGET"
    print(f"{'total, first runs (cold cache)':34} {total:8.3f} {'':9} {total_cpu:7.3f}"
          f" {'':11}   target < 10 s: {verdict} (wall); "
          f"{'OK' if total_cpu < 10 else 'OVER TARGET'} (CPU)")
    for ind in bench_indicators(layer, STRESS):
        t, c = measured(lambda i=ind: compute_indicator(i))
        print(f"{ind.code:34} {t:8.3f} {'':9} {c:7.3f} {t / base:11.1f}   "
              "(stress case, not in the total)")

    Indicator.objects.filter(code__in=STRESS).delete()
    real = [i for i in Indicator.objects.all() if not i.code.startswith("bench-")]
    timings: dict[str, float] = {}
    cpu, started = cpu_seconds(), time.perf_counter()
    for ind in real:
        compute_indicator(ind, timings)
    kielce, kielce_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    print(f"\nreal Kielce set ({len(real)} indicators, districts + precincts + city): "
          f"{kielce:.2f} s wall, {kielce_cpu:.2f} s CPU   target < 5 s: "
          f"{'OK' if kielce < 5 else 'OVER TARGET'} (wall), "
          f"{'OK' if kielce_cpu < 5 else 'OVER TARGET'} (CPU)")
    slow = sorted(timings.items(), key=lambda kv: -kv[1])[:3]
    print("  slowest: " + ", ".join(f"{c} {t * 1000:.0f} ms" for c, t in slow))
    started = time.perf_counter()
    compute_all(only_stale=True)
    print(f"  compute_indicators --stale with nothing stale: "
          f"{time.perf_counter() - started:.2f} s")

    slowest_sql(indicators)
    coverage_union_vs_voronoi(layer)
    print(f"\nload average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(other work on the machine inflates every figure)")


if __name__ == "__main__":
    main()
