"""Import of 100,000 points: our importer vs `ogr2ogr -f PostgreSQL` into a plain table.

Both load the same GeoPackage (synthetic points around Kielce, in EPSG:2180 so that both
reproject to 4326). ogr2ogr writes a plain table (COPY, GiST index). Ours does everything an
import does: read with GDAL, map and convert every value to the layer schema, stage in PostGIS,
check every geometry (area of use, type, validity), insert with ST_Transform, write one history
row per feature, bump the layer version, record the run. Target: ours at >= 25% of ogr2ogr's
speed (ratio = ogr2ogr time / our time >= 0.25).

    DATABASE_URL=postgres://sdi:sdi@127.0.0.1:5433/sdi .venv/bin/python bench/import_points.py [N]
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _django  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
SLUG = "bench-synthetic-import"
PLAIN = "bench_ogr2ogr_plain"


def make_file(folder: Path) -> Path:
    import pyogrio.raw
    from pyproj import Transformer
    from shapely import points, to_wkb

    rng = np.random.default_rng(42)
    lon = rng.uniform(20.55, 20.72, N)
    lat = rng.uniform(50.81, 50.92, N)
    x, y = Transformer.from_crs(4326, 2180, always_xy=True).transform(lon, lat)
    path = folder / "points.gpkg"
    kinds = np.array(["drzewo", "latarnia", "ławka", "kosz"], dtype=object)
    pyogrio.raw.write(
        str(path), to_wkb(points(x, y)),
        [np.array([f"synthetic point {i}" for i in range(N)], dtype=object),
         rng.integers(0, 1000, N).astype(np.int64), rng.uniform(0, 100, N),
         kinds[rng.integers(0, 4, N)]],
        ["name", "count", "value", "kind"], layer="points", driver="GPKG",
        geometry_type="Point", crs="EPSG:2180")
    return path


def main():
    _django.setup()
    from django.db import connection

    from layers.importing import ImportOptions, run_import
    from layers.models import Layer

    with tempfile.TemporaryDirectory() as tmp:
        path = make_file(Path(tmp))
        print(f"{N} synthetic points, {path.stat().st_size / 2**20:.1f} MB GeoPackage "
              "(EPSG:2180)")

        with connection.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {PLAIN}")
        started = time.perf_counter()
        subprocess.run(["ogr2ogr", "-f", "PostgreSQL", _django.pg_dsn(), str(path),
                        "-nln", PLAIN, "-t_srs", "EPSG:4326", "-overwrite"], check=True)
        ogr = time.perf_counter() - started
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {PLAIN}")
            assert cur.fetchone()[0] == N
            cur.execute(f"DROP TABLE {PLAIN}")

        Layer.all_objects.filter(slug=SLUG).delete()
        layer = Layer.objects.create(
            slug=SLUG, title_pl="DANE SYNTETYCZNE: benchmark importu",
            title_en="SYNTHETIC: import benchmark", synthetic=True, geometry_type="Point",
            visibility="staff", schema={"fields": [
                {"name": "name", "type": "string", "required": True},
                {"name": "count", "type": "integer"}, {"name": "value", "type": "decimal"},
                {"name": "kind", "type": "string",
                 "choices": ["drzewo", "latarnia", "ławka", "kosz"]}]})
        try:
            started = time.perf_counter()
            report = run_import(layer, path, ImportOptions(dry_run=False))
            ours = time.perf_counter() - started
            assert report.ok and report.written == N, report.as_dict()
        finally:
            Layer.all_objects.filter(slug=SLUG).delete()

    ratio = ogr / ours
    print(f"ogr2ogr -f PostgreSQL (plain table): {ogr:6.2f} s  {N / ogr:9.0f} features/s")
    print(f"layers.importing (checked, history): {ours:6.2f} s  {N / ours:9.0f} features/s")
    print(f"speed ratio ours/ogr2ogr = {ratio:.2f}  (target >= 0.25: "
          f"{'PASS' if ratio >= 0.25 else 'FAIL'})")


if __name__ == "__main__":
    main()
