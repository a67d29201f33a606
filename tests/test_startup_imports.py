"""What a web process imports before its first request: Django, every app and the whole URLconf,
but none of the large libraries only some requests need (pygeoapi for /ogc, mapclassify with
scipy and pandas for choropleth classes, GDAL through pyogrio for file import and GeoPackage
export, rasterio for raster indicators). They made a worker serving downloads sit at 338 MB
before its first byte (bench/export_memory.py measures the peak of a real download)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import get_resolver

ROOT = Path(__file__).resolve().parent.parent
LAZY = ("pygeoapi", "mapclassify", "palettable", "pandas", "scipy", "sklearn", "pyogrio",
        "rasterio")

PROBE = """
import json, os, sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # the whole URLconf: every app's views
for path in ("/data/x.geojson", "/ogc/collections/x/items", "/tiles/x/1/1/1.pbf", "/api/layers/",
             "/admin/layers/layer/"):
    get_resolver().resolve(path)
loaded = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps(loaded))
"""


def test_a_web_process_starts_without_the_large_optional_libraries():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="sdi.settings", BASEMAP_URL="")
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "django" in loaded and "rest_framework" in loaded
    assert sorted(loaded & set(LAZY)) == []


def _ogc_patterns(patterns):
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            yield from _ogc_patterns(pattern.url_patterns)
        elif pattern.callback.__module__ == "ogc.views":
            yield pattern.callback


@pytest.mark.django_db
def test_every_ogc_route_stands_for_a_real_view_with_its_csrf_setting():
    """The OGC routes import ogc.views on their first request; each stand-in must name a view
    that exists and say what the view says about CSRF (token-authenticated Part 4 writes)."""
    from ogc import views

    stand_ins = list(_ogc_patterns(get_resolver().url_patterns))
    assert len(stand_ins) >= 15
    for stand_in in stand_ins:
        real = getattr(views, stand_in.__name__)
        assert stand_in.real is real
        assert stand_in.csrf_exempt == getattr(real, "csrf_exempt", False)
    exempt = {s.__name__ for s in stand_ins if s.csrf_exempt}
    assert {"collection_items", "collection_item"} <= exempt and "not_found" not in exempt
