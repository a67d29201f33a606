"""The synthetic load set for benchmarks: points, building polygons and street lines in a city.

    DATABASE_URL=postgres://sdi:sdi@127.0.0.1:5433/sdi_bench \\
        .venv/bin/python bench/synthetic.py --points 200000 --buildings 30000 --streets 20000

or from another benchmark (Django set up, the city loaded):

    from bench.synthetic import ensure_synthetic
    layers = ensure_synthetic(points=200_000, buildings=30_000, streets=20_000)

The data are generated, not real, and say so everywhere: the layers have `synthetic=True`, slugs
starting `synthetic-`, titles starting "Dane syntetyczne", and a description saying what made
them. They lie inside the city boundary (the layer with role `boundary`, loaded by load_city),
denser towards the centre like a real city: half uniformly over the city, half normally
distributed around the boundary's centre (σ = 2 km). Generation is deterministic for a seed and
runs in PostGIS (a few seconds for the default sizes). Calling it again with the same sizes and
seed does nothing; other sizes replace the layers' features.

Never run it against a database holding real data you care about being mixed with test layers:
the benchmarks use their own database (e.g. sdi_bench).
"""

import argparse
import os
import sys
import time
from pathlib import Path

LAYERS = {
    "points": {
        "slug": "synthetic-points", "geometry_type": "Point",
        "title_pl": "Dane syntetyczne: punkty (benchmark)",
        "title_en": "Synthetic data: points (benchmark)",
        "fields": [{"name": "kind", "type": "string"}, {"name": "value", "type": "integer"},
                   {"name": "name", "type": "string"}],
    },
    "buildings": {
        "slug": "synthetic-buildings", "geometry_type": "Polygon",
        "title_pl": "Dane syntetyczne: budynki (benchmark)",
        "title_en": "Synthetic data: buildings (benchmark)",
        "fields": [{"name": "use", "type": "string"}, {"name": "levels", "type": "integer"},
                   {"name": "height", "type": "decimal"}],
    },
    "streets": {
        "slug": "synthetic-streets", "geometry_type": "LineString",
        "title_pl": "Dane syntetyczne: ulice (benchmark)",
        "title_en": "Synthetic data: streets (benchmark)",
        "fields": [{"name": "name", "type": "string"}, {"name": "class", "type": "string"},
                   {"name": "lanes", "type": "integer"}],
    },
}

DESCRIPTION = ("DANE SYNTETYCZNE — wygenerowane losowo przez bench/synthetic.py do testów "
               "wydajności; nie opisują rzeczywistości. / SYNTHETIC DATA generated at random by "
               "bench/synthetic.py for benchmarks; they describe nothing real.")

# A random point in the city: half uniform over the boundary's box (kept if inside), half
# normal around its centre (Box-Muller, σ = 2 km in EPSG:2180 metres). Candidates are drawn in
# excess and the first n inside the boundary are kept, in a fixed order.
_CANDIDATES = """
    WITH city AS (
        SELECT ST_Transform(ST_Union(f.geom), 2180) AS g
        FROM layers_feature f JOIN layers_layer l ON l.id = f.layer_id
        WHERE l.role = 'boundary'
    ), box AS MATERIALIZED (
        SELECT g, ST_XMin(g) x0, ST_YMin(g) y0, ST_XMax(g) x1, ST_YMax(g) y1,
               ST_X(ST_Centroid(g)) cx, ST_Y(ST_Centroid(g)) cy FROM city
    ), raw AS (
        SELECT i, random() u1, random() u2, random() u3, random() u4, random() u5, random() u6
        FROM generate_series(1, %(draw)s) i
    ), cand AS (
        SELECT raw.*, CASE WHEN i %% 2 = 0
            THEN ST_SetSRID(ST_MakePoint(x0 + u1 * (x1 - x0), y0 + u2 * (y1 - y0)), 2180)
            ELSE ST_SetSRID(ST_MakePoint(
                cx + 2000 * sqrt(-2 * ln(greatest(u1, 1e-12))) * cos(2 * pi() * u2),
                cy + 2000 * sqrt(-2 * ln(greatest(u1, 1e-12))) * sin(2 * pi() * u2)), 2180)
            END AS p, box.g AS city
        FROM raw, box
    )
    SELECT row_number() OVER (ORDER BY i) AS n, u3, u4, u5, u6, p FROM cand
    WHERE ST_Intersects(p, city) ORDER BY i LIMIT %(n)s
"""

_SQL = {
    "points": """
        INSERT INTO layers_feature (layer_id, geom, properties, version, created_at, updated_at)
        SELECT %(layer)s, ST_Transform(p, 4326),
               jsonb_build_object(
                   'kind', (ARRAY['ławka', 'latarnia', 'drzewo', 'kosz', 'hydrant'])
                           [1 + floor(u3 * 5)::int],
                   'value', floor(u4 * 1000)::int,
                   'name', 'Punkt syntetyczny ' || n),
               1, now(), now()
        FROM ({candidates}) c""",
    # A rectangle 8-40 m by 8-25 m, turned by a random angle about its centre.
    "buildings": """
        INSERT INTO layers_feature (layer_id, geom, properties, version, created_at, updated_at)
        SELECT %(layer)s, ST_Transform(ST_Rotate(ST_MakeEnvelope(
                   ST_X(p) - w / 2, ST_Y(p) - h / 2, ST_X(p) + w / 2, ST_Y(p) + h / 2, 2180),
                   u5 * pi(), p), 4326),
               jsonb_build_object(
                   'use', (ARRAY['mieszkalny', 'usługowy', 'przemysłowy', 'garaż'])
                          [1 + floor(u6 * 4)::int],
                   'levels', levels, 'height', round((levels * 3.1)::numeric, 1)),
               1, now(), now()
        FROM (SELECT *, 8 + u3 * 32 AS w, 8 + u4 * 17 AS h, 1 + floor(u4 * u3 * 12)::int AS levels
              FROM ({candidates}) c) b""",
    # A random walk of 3-6 segments of 40-200 m, heading changing by up to ±40° per step.
    "streets": """
        INSERT INTO layers_feature (layer_id, geom, properties, version, created_at, updated_at)
        SELECT %(layer)s, ST_Transform(ST_SetSRID(ST_MakeLine(ARRAY(
                   SELECT ST_MakePoint(
                       ST_X(p) + sum(len * cos(heading)) OVER w,
                       ST_Y(p) + sum(len * sin(heading)) OVER w)
                   FROM (SELECT k, CASE WHEN k = 0 THEN 0 ELSE 40 + 160 * random() END AS len,
                                u5 * 2 * pi() + (random() - 0.5) * 1.4 * k AS heading
                         FROM generate_series(0, 2 + floor(u3 * 4)::int) k) s
                   WINDOW w AS (ORDER BY k) ORDER BY k)), 2180), 4326),
               jsonb_build_object(
                   'name', 'Ulica syntetyczna ' || n,
                   'class', (ARRAY['lokalna', 'dojazdowa', 'zbiorcza', 'główna'])
                            [1 + floor(u4 * 4)::int],
                   'lanes', 1 + floor(u6 * 3)::int),
               1, now(), now()
        FROM ({candidates}) c""",
}


def ensure_synthetic(points: int = 200_000, buildings: int = 30_000, streets: int = 20_000,
                     seed: float = 0.42, log=print) -> dict:
    """Create or refresh the synthetic layers; returns {kind: Layer}. Django must be set up."""
    from django.db import connection, transaction

    from layers.models import Layer

    if not Layer.objects.filter(role=Layer.Role.BOUNDARY).exists():
        raise RuntimeError("no city boundary layer (role 'boundary'): run load_city first")
    sizes = {"points": points, "buildings": buildings, "streets": streets}
    out = {}
    for kind, n in sizes.items():
        spec = LAYERS[kind]
        wanted = {"generator": "bench/synthetic.py", "count": n, "seed": seed}
        layer, _ = Layer.objects.get_or_create(slug=spec["slug"], defaults={
            "title_pl": spec["title_pl"], "geometry_type": spec["geometry_type"]})
        layer.title_pl, layer.title_en = spec["title_pl"], spec["title_en"]
        layer.description_pl = layer.description_en = DESCRIPTION
        layer.geometry_type = spec["geometry_type"]
        layer.schema = {"fields": spec["fields"]}
        layer.synthetic = True
        layer.source = "bench/synthetic.py (generated)"
        layer.keywords = ["synthetic", "benchmark"]
        layer.quality_notes = "Synthetic: random data for benchmarks, not real."
        layer.save()
        out[kind] = layer
        if layer.load_report == wanted and layer.features.count() == n:
            log(f"{spec['slug']}: {n:,} features already there")
            continue
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("DELETE FROM layers_feature WHERE layer_id = %s", [layer.id])
            # One process draws the numbers in a fixed order: the same seed, the same data.
            cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            cur.execute("SELECT setseed(%s)", [seed])
            sql = _SQL[kind].format(candidates=_CANDIDATES)
            # Two draws per wanted feature: the city fills about 60% of its box.
            cur.execute(sql, {"layer": layer.id, "n": n, "draw": 2 * n + 1000})
            created = cur.rowcount
            cur.execute("ANALYZE layers_feature")
        if created != n:
            raise RuntimeError(f"{spec['slug']}: made {created} features, wanted {n}")
        Layer.objects.filter(pk=layer.pk).update(load_report=wanted)
        layer.load_report = wanted
        layer.bump_version()
        log(f"{spec['slug']}: {created:,} features in {time.perf_counter() - started:.1f} s")
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--buildings", type=int, default=30_000)
    parser.add_argument("--streets", type=int, default=20_000)
    parser.add_argument("--seed", type=float, default=0.42, help="in [-1, 1] (setseed)")
    args = parser.parse_args(argv)
    if not -1 <= args.seed <= 1:
        parser.error("--seed must be between -1 and 1")
    if min(args.points, args.buildings, args.streets) < 0:
        parser.error("sizes must not be negative")
    if not os.environ.get("DATABASE_URL"):
        parser.error("set DATABASE_URL to the benchmark database (e.g. .../sdi_bench)")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sdi.settings")
    import django

    django.setup()
    ensure_synthetic(args.points, args.buildings, args.streets, args.seed)


if __name__ == "__main__":
    main()
