"""Download routes, mounted at /data/ by sdi.urls (before the portal, which serves the /data/
catalogue page itself)."""

from django.urls import re_path

from layers import downloads

urlpatterns = [
    re_path(r"^(?P<slug>[-a-zA-Z0-9_]+)\.(?P<fmt>geojson|csv|gpkg|licence\.txt)$",
            downloads.download, name="layer-download"),
]
