"""Per-request cost of keeping the OGC API config in sync with the layer registry.

Every /ogc request asks PostgreSQL for the registry stamp (ogc/queries.registry_stamp) and
rebuilds the pygeoapi config only when it changed. This measures, in one process against the
real database, the same small items request served
  (a) as deployed: stamp checked on every request;
  (b) with a fixed config: the API object built once, no stamp query;
and prints the difference per request (target: < 2 ms added). Also times a rebuild (what the
first request after an admin change pays).

    DATABASE_URL=postgres://sdi:sdi@127.0.0.1:5433/sdi_ogc .venv/bin/python bench/ogc_config.py
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sdi.settings")
os.environ.setdefault("BASEMAP_URL", "")

import django  # noqa: E402

django.setup()

from django.test import Client  # noqa: E402

from ogc import config, queries, service  # noqa: E402

ROUNDS = int(os.environ.get("OGC_BENCH_ROUNDS", "400"))
URL = "/ogc/collections/biblioteki/items?limit=1"


def timed(client, rounds) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(URL, HTTP_HOST="127.0.0.1")
        out.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:200]
    return out


def main():
    client = Client()
    timed(client, 20)  # warm: config built, connections open
    synced = []
    fixed = []
    original = service.api_for
    frozen = original("http://127.0.0.1/ogc")
    # Interleaved blocks, so drift (other load, autovacuum) hits both alike.
    for _ in range(8):
        service.api_for = original
        synced += timed(client, ROUNDS // 8)
        service.api_for = lambda base_url, staff=False: frozen
        fixed += timed(client, ROUNDS // 8)
    service.api_for = original

    stamp = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        queries.registry_stamp()
        stamp.append((time.perf_counter() - started) * 1000)
    rebuild = []
    for _ in range(5):
        config._extents.clear()
        started = time.perf_counter()
        config.build_config()
        rebuild.append((time.perf_counter() - started) * 1000)
    warm_rebuild = []
    for _ in range(5):
        started = time.perf_counter()
        config.build_config()
        warm_rebuild.append((time.perf_counter() - started) * 1000)

    med_s, med_f = statistics.median(synced), statistics.median(fixed)
    print(f"items request, stamp checked : median {med_s:.2f} ms, mean "
          f"{statistics.mean(synced):.2f} ms ({len(synced)} requests)")
    print(f"items request, fixed config  : median {med_f:.2f} ms, mean "
          f"{statistics.mean(fixed):.2f} ms")
    print(f"added per request            : {med_s - med_f:.2f} ms median (target < 2 ms); "
          f"ratio {med_s / med_f:.3f}x")
    print(f"registry_stamp() alone       : median {statistics.median(stamp):.3f} ms")
    print(f"config rebuild after a change: {statistics.median(warm_rebuild):.1f} ms "
          f"(extents cached), {statistics.median(rebuild):.1f} ms (extents recomputed)")


if __name__ == "__main__":
    main()
