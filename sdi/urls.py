from django.contrib import admin
from django.urls import include, path

from sdi import health, metrics

urlpatterns = [
    # First: most requests are tiles, and resolving walks this list in order.
    path("tiles/", include("tiles.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("layers.api_urls")),
    path("api/", include("indicators.api_urls")),
    path("api/", include("jobs.urls")),
    # Downloads before the portal's catch-all: /data/<layer>.geojson|.csv|.gpkg
    path("data/", include("layers.download_urls")),
    path("ogc", include("ogc.urls")),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", metrics.metrics_view),
    path("i18n/", include("django.conf.urls.i18n")),
    path("reports/", include("reports.urls")),
    path("open311/v2/", include("reports.open311_urls")),
    path("", include("portal.urls")),
]

# 507 for a full disk, 503 while the database restarts, else the plain 500 (sdi/errors.py);
# 404s use Django's handler with the site's own sdi/templates/404.html.
handler500 = "sdi.errors.server_error"
