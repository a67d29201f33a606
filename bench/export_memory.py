"""Peak memory of exporting a 1,000,000-feature layer as GeoJSON, CSV and GeoPackage.

A synthetic layer (labelled so: `synthetic`, "DANE SYNTETYCZNE" in its title) of 1,000,000
points with three attributes is written straight in SQL, then each download is fetched through
the full Django stack (URL, view, streaming response) in a fresh process that reads it to the
end, as a web worker would; that process reports its peak RSS (getrusage) and, measured in the
same run, its baseline: the peak before the download, with Django, every app and the whole
URLconf loaded. Target: the process's peak RSS < 300 MB (peak / limit printed), baseline
included. The libraries only some requests need (pygeoapi, mapclassify with scipy and pandas,
GDAL through pyogrio, rasterio) are imported when first used, so they are in the baseline of no
process that merely serves downloads; the GeoPackage writer loads GDAL (pyogrio) itself, which
is part of its peak. The same runs on a layer 50 times smaller show that memory does not grow
with the layer (streaming). The layers are removed after.

    DATABASE_URL=postgres://sdi:sdi@127.0.0.1:5433/sdi .venv/bin/python bench/export_memory.py [N]
"""

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _django  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1_000_000
SLUG = "bench-synthetic-export"
LIMIT_MB = 300


def worker(fmt: str, slug: str) -> None:
    """In the child process: download /data/<slug>.<fmt> and report sizes and memory."""
    import resource

    _django.setup(migrate=False)
    from django.test import Client
    from django.urls import resolve

    resolve(f"/data/{slug}.{fmt}")  # load the whole URLconf (every app's views) first
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    response = Client().get(f"/data/{slug}.{fmt}")
    assert response.status_code == 200, response.status_code
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
    response.close()
    print(json.dumps({"format": fmt, "bytes": size, "seconds": time.perf_counter() - started,
                      "baseline_mb": baseline,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def create_layer(slug: str, n: int) -> None:
    from django.db import connection

    from layers.models import Feature, Layer

    Layer.all_objects.filter(slug=slug).delete()
    layer = Layer.objects.create(
        slug=slug, title_pl="DANE SYNTETYCZNE: benchmark eksportu",
        title_en="SYNTHETIC: export benchmark", synthetic=True, geometry_type="Point",
        licence="CC0 (synthetic benchmark data)", attribution="synthetic, not real",
        schema={"fields": [{"name": "name", "type": "string"},
                           {"name": "count", "type": "integer"},
                           {"name": "value", "type": "decimal"}]})
    with connection.cursor() as cur:
        cur.execute(f"""
            INSERT INTO {Feature._meta.db_table}
                (layer_id, geom, properties, version, created_at, updated_at)
            SELECT %s, ST_SetSRID(ST_MakePoint(20.55 + random() * 0.17,
                                               50.81 + random() * 0.11), 4326),
                   jsonb_build_object('name', 'synthetic point ' || i, 'count', i %% 1000,
                                      'value', round((random() * 100)::numeric, 3)),
                   1, now(), now()
            FROM generate_series(1, %s) i""", [layer.pk, n])


def measure(slug: str) -> list[dict]:
    results = []
    for fmt in ("geojson", "csv", "gpkg"):
        out = subprocess.run([sys.executable, __file__, "--worker", fmt, slug],
                             capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"{fmt} export failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def main():
    if len(sys.argv) > 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
        return
    _django.setup()
    from layers import exporting
    from layers.models import Layer

    small = f"{SLUG}-small"
    runs = {}
    try:
        for slug, n in ((small, N // 50), (SLUG, N)):
            started = time.perf_counter()
            create_layer(slug, n)
            print(f"{n} synthetic points written in {time.perf_counter() - started:.0f} s")
            runs[n] = measure(slug)
    finally:
        for slug in (small, SLUG):
            for path in exporting.export_dir().glob(f"{slug}-*.gpkg"):
                path.unlink()
            Layer.all_objects.filter(slug=slug).delete()
    print(f"\nPeak RSS of the process serving the download (target < {LIMIT_MB} MB); baseline "
          "= the same process before the download")
    print(f"{'features':>9} {'format':8} {'size MB':>8} {'seconds':>8} {'baseline MB':>12} "
          f"{'peak MB':>8} {'peak-base':>10} {'peak/limit':>11}")
    worst = 0.0
    for n, results in runs.items():
        for r in results:
            worst = max(worst, r["peak_mb"])
            ok = "ok" if r["peak_mb"] < LIMIT_MB else "OVER"
            print(f"{n:9} {r['format']:8} {r['bytes'] / 2**20:8.0f} {r['seconds']:8.1f} "
                  f"{r['baseline_mb']:12.0f} {r['peak_mb']:8.0f} "
                  f"{r['peak_mb'] - r['baseline_mb']:10.0f} {r['peak_mb'] / LIMIT_MB:11.2f}  {ok}")
    print(f"highest peak {worst:.0f} MB = {worst / LIMIT_MB:.2f} x the {LIMIT_MB} MB target: "
          f"{'PASS' if worst < LIMIT_MB else 'FAIL'}")


if __name__ == "__main__":
    main()
