"""SYNTHETIC data for the OGC API benchmarks: one point layer of N generated points over the
Kielce area, labelled synthetic in the registry (Layer.synthetic, title and description), plus
a plain view over the same rows for the baselines (stock pygeoapi's PostgreSQL provider, tipg).

    DATABASE_URL=... .venv/bin/python bench/ogc_synthetic.py [N]   (default 200000)

Idempotent: the layer is re-filled only when its feature count differs from N. Not for a
production database: it adds a public layer (delete it in the admin afterwards).
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sdi.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from layers.models import Layer  # noqa: E402

SLUG = "ogc-bench-synthetic"
VIEW = "ogc_bench_points"
# Kielce and around (lon, lat)
AREA = (20.50, 50.80, 20.75, 50.93)


def ensure(n: int) -> Layer:
    layer, _ = Layer.objects.get_or_create(slug=SLUG, defaults={
        "title_pl": "SYNTETYCZNE punkty (benchmark OGC API)",
        "title_en": "SYNTHETIC points (OGC API benchmark)",
        "description_pl": "Dane wygenerowane do testów wydajności, nie są prawdziwe.",
        "description_en": "Generated for benchmarks; not real data.",
        "geometry_type": Layer.GeometryType.POINT, "synthetic": True,
        "schema": {"fields": [{"name": "name", "type": "string"},
                              {"name": "value", "type": "integer"},
                              {"name": "kind", "type": "string"}]},
        "keywords": ["synthetic", "benchmark"],
    })
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM layers_feature WHERE layer_id = %s", [layer.id])
        have = cur.fetchone()[0]
        if have != n:
            with transaction.atomic():
                cur.execute("DELETE FROM layers_feature WHERE layer_id = %s", [layer.id])
                cur.execute("SELECT setseed(0.42)")
                minx, miny, maxx, maxy = AREA
                cur.execute("""
                    INSERT INTO layers_feature (layer_id, geom, properties, version, created_at,
                                                updated_at)
                    SELECT %s, ST_SetSRID(ST_MakePoint(%s + random() * %s, %s + random() * %s),
                                          4326),
                           jsonb_build_object('name', 'synthetic ' || g,
                                              'value', (random() * 1000)::int,
                                              'kind', (ARRAY['a', 'b', 'c', 'd'])[1 + g %% 4]),
                           1, now(), now()
                    FROM generate_series(1, %s) g""",
                            [layer.id, minx, maxx - minx, miny, maxy - miny, n])
                layer.bump_version()
            cur.execute("ANALYZE layers_feature")
        # f.geom as it is (geometry(Geometry, 4326)): a cast in the view would hide the GiST
        # index on layers_feature.geom from the baselines' bbox queries.
        cur.execute(f"DROP VIEW IF EXISTS {VIEW}")
        cur.execute(f"""
            CREATE VIEW {VIEW} AS
            SELECT f.id, f.geom,
                   f.properties ->> 'name' AS name, (f.properties ->> 'value')::int AS value,
                   f.properties ->> 'kind' AS kind
            FROM layers_feature f WHERE f.layer_id = {int(layer.id)}""")
    return layer


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    layer = ensure(count)
    print(f"{SLUG}: {count} synthetic points (layer {layer.id}); view {VIEW}")
