"""Locust scenario for bench/load.py: residents and editors on the local production topology.

Residents (most users) open the map page, its TileJSON and vector tiles around Kielce at
zooms 11-15 (districts, precincts, schools, the indicator choropleth), district profiles and
the indicator API. Editors (1 in 20) read a feature of the synthetic bench layer over REST and
save it back with If-Match, as a GIS editor would; a 412 (someone saved first) is a correct
answer under concurrency and is counted separately, not as an error.

Think time: residents 1-3 s between actions (a person panning a map loads a burst of tiles at
once: each action here fetches 6 tiles), editors 3-8 s.
"""

import math
import os
import random
import re

from locust import HttpUser, between, events, task

KIELCE = (20.6286, 50.8536)
TILE_LAYERS = ["okregi-wyborcze", "obwody-glosowania", "placowki-oswiatowe",
               "okregi-wyborcze,placowki-oswiatowe"]
BENCH_LAYER = os.environ.get("BENCH_LAYER", "bench-synthetic-edits")
EDITOR_TOKEN = os.environ.get("BENCH_EDITOR_TOKEN", "")
_state = {"districts": [], "indicators": [], "features": []}
# What the city's balancer adds in front of nginx: the topology runs with HTTPS redirects on.
BALANCER = {"X-Forwarded-Proto": "https"}


def _tile(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


# A fixed set of tile addresses over the city (the same in every run): 5x5 tiles per zoom.
TILES = [(z, x + dx, y + dy) for z in range(11, 16) for x, y in [_tile(*KIELCE, z)]
         for dx in range(-2, 3) for dy in range(-2, 3)]


@events.test_start.add_listener
def discover(environment, **kwargs):
    """District slugs from the districts page, indicator codes from the API."""
    import requests

    host = environment.host
    page = requests.get(host + "/districts/", timeout=30, headers=BALANCER).text
    _state["districts"] = sorted(set(re.findall(r'href="/districts/([a-z0-9-]+)/"', page)))
    # Indicators that have values (some are listed as information gaps, with no period).
    _state["indicators"] = [i["code"] for i in requests.get(host + "/api/indicators/",
                                                            timeout=30, headers=BALANCER).json()
                            if i["periods"]]
    if EDITOR_TOKEN:
        r = requests.get(f"{host}/api/layers/{BENCH_LAYER}/features/?page_size=200", timeout=30,
                         headers={**BALANCER, "Authorization": f"Token {EDITOR_TOKEN}"})
        r.raise_for_status()
        _state["features"] = [f["id"] for f in r.json()["features"]]


class Resident(HttpUser):
    weight = 19
    wait_time = between(1, 3)

    def on_start(self):
        self.client.headers.update(BALANCER)

    @task(6)
    def pan_the_map(self):
        z, x, y = random.choice(TILES)
        layer = random.choice(TILE_LAYERS)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1), (-1, 0), (0, -1)):
            with self.client.get(f"/tiles/{layer}/{z}/{x + dx}/{y + dy}.pbf",
                                 name="/tiles/[layer]/z/x/y.pbf", catch_response=True) as r:
                if r.status_code in (200, 204):
                    r.success()

    @task(2)
    def choropleth(self):
        if not _state["indicators"]:
            return
        code = random.choice(_state["indicators"])
        z, x, y = random.choice(TILES[:50])
        for dx, dy in ((0, 0), (1, 0), (0, 1)):
            with self.client.get(f"/tiles/indicators/{code}/{z}/{x + dx}/{y + dy}.pbf",
                                 name="/tiles/indicators/[code]/z/x/y.pbf",
                                 catch_response=True) as r:
                if r.status_code in (200, 204):
                    r.success()

    @task(1)
    def open_the_map(self):
        self.client.get("/", name="/ (map page)")
        self.client.get("/tiles/okregi-wyborcze.json", name="/tiles/[layer].json")

    @task(2)
    def district_page(self):
        if _state["districts"]:
            slug = random.choice(_state["districts"])
            self.client.get(f"/districts/{slug}/", name="/districts/[slug]/")

    @task(1)
    def indicator_values(self):
        if _state["indicators"]:
            code = random.choice(_state["indicators"])
            self.client.get(f"/api/indicators/{code}/values/",
                            name="/api/indicators/[code]/values/")


class Editor(HttpUser):
    weight = 1 if EDITOR_TOKEN else 0
    wait_time = between(3, 8)

    def on_start(self):
        self.client.headers.update(BALANCER)
        self.client.headers["Authorization"] = f"Token {EDITOR_TOKEN}"

    @task
    def edit_a_feature(self):
        if not _state["features"]:
            return
        fid = random.choice(_state["features"])
        url = f"/api/layers/{BENCH_LAYER}/features/{fid}/"
        r = self.client.get(url, name="/api/layers/[bench]/features/[id]/ GET")
        if r.status_code != 200:
            return
        with self.client.patch(url, json={"properties": {"n": random.randint(0, 10 ** 6)}},
                               headers={"If-Match": r.headers["ETag"]},
                               name="/api/layers/[bench]/features/[id]/ PATCH",
                               catch_response=True) as w:
            if w.status_code == 412:
                w.success()  # optimistic locking doing its job
                events.request.fire(request_type="CONFLICT", name="412 (concurrent edit)",
                                    response_time=0, response_length=0, exception=None,
                                    context={})
