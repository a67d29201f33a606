from django.contrib import admin
from django.urls import include, path

from sdi import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("indicators.api_urls")),
    path("ogc", include("ogc.urls")),
    path("tiles/", include("tiles.urls")),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("portal.urls")),
]
