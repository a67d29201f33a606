"""First view of the resident map in headless Chromium: bytes before the map tiles and time until
the page is usable, against a baseline measured in the same run.

    DATABASE_URL=postgres://sdi:sdi@127.0.0.1:5433/sdi .venv/bin/python bench/portal_first_view.py

The database must hold a loaded city (`make run` or `make load` does that). The script starts its
own gunicorn (no basemap, static files from the apps) and a fresh Chromium profile per round, so
nothing is cached between rounds.

Measured per round:
  baseline     navigation to /healthz until its load event: server round trip plus Chromium's
               own cost of opening a page, the floor no page can beat on this machine
  interactive  navigation to / until the "portal-ready" mark: pickers filled, legend drawn,
               choropleth layer on the map (what a resident can use)
  tiles        until every choropleth tile of the first view has loaded
  bytes        transfer size of everything but /tiles/ (headers included)
Targets (issue 7): bytes < 500 KB, interactive < 2 s. Prints medians and ratios to the baseline;
on a machine busy with other work the absolute times grow, the ratios much less.
"""

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.browser import page  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "5"))
BUDGET_BYTES = 500 * 1024
BUDGET_MS = 2000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, BASEMAP_URL="", WHITENOISE_USE_FINDERS="1")
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "sdi.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def _round(url: str) -> dict:
    with page(url) as pg:
        pg.goto(url + "/healthz")
        baseline = pg.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
        pg.goto(url + "/")
        pg.wait_for_function("document.body.dataset.ready && "
                             "document.body.dataset.tiles === document.body.dataset.ready",
                             timeout=60_000)
        m = pg.evaluate("""() => {
            const nav = performance.getEntriesByType("navigation")[0];
            const res = performance.getEntriesByType("resource");
            const tiles = res.filter(e => e.name.includes("/tiles/"));
            const rest = res.filter(e => !e.name.includes("/tiles/"));
            return {
              interactive: performance.getEntriesByName("portal-ready")[0].startTime,
              tiles: Math.max(...tiles.map(e => e.responseEnd)),
              bytes: nav.transferSize + rest.reduce((s, e) => s + e.transferSize, 0),
              tile_bytes: tiles.reduce((s, e) => s + e.transferSize, 0),
              tile_count: tiles.length};
        }""")
        if pg.foreign_requests:
            raise SystemExit(f"requests left the server: {pg.foreign_requests}")
    return {"baseline": baseline, **m}


def main() -> None:
    proc, url = _serve()
    try:
        _round(url)  # warm-up: server caches, first Chromium start
        rounds = [_round(url) for _ in range(ROUNDS)]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    print(f"portal first view, {ROUNDS} rounds, medians")
    print(f"  baseline (/healthz load)   {med['baseline']:8.0f} ms")
    print(f"  interactive (portal-ready) {med['interactive']:8.0f} ms   "
          f"ratio {med['interactive'] / med['baseline']:.1f}x baseline   "
          f"target < {BUDGET_MS} ms: {'ok' if med['interactive'] < BUDGET_MS else 'MISSED'}")
    print(f"  all first-view tiles       {med['tiles']:8.0f} ms   "
          f"ratio {med['tiles'] / med['baseline']:.1f}x baseline   "
          f"({med['tile_count']:.0f} tiles, {med['tile_bytes'] / 1024:.0f} KB)")
    print(f"  bytes before tiles         {med['bytes'] / 1024:8.1f} KB   "
          f"{med['bytes'] / BUDGET_BYTES:.0%} of the {BUDGET_BYTES // 1024} KB budget")
    load = os.getloadavg()[0]
    print(f"  machine load average {load:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
