from django.urls import path

from portal import views
from sdi import language

app_name = "portal"

# /data/<slug>.geojson|.csv|.gpkg (downloads) belong to the layers app; a slug has no dot, so
# the dataset pages below never catch them.
urlpatterns = [
    path("", views.map_page, name="map"),
    # The language switch of every page (sdi/templates/base.html): a link, see sdi/language.py.
    path("language/<str:code>/", language.switch_language, name="language"),
    path("map/table.json", views.map_table, name="map-table"),
    path("map/search.json", views.map_search, name="map-search"),
    path("districts/", views.districts, name="districts"),
    path("districts/at.json", views.area_at, name="area-at"),
    path("districts/<slug:slug>/", views.district, name="district"),
    path("districts/<slug:slug>.csv", views.district_csv, name="district-csv"),
    path("districts/<slug:slug>.json", views.district_json, name="district-json"),
    path("compare/", views.compare, name="compare"),
    path("compare.csv", views.compare_csv, name="compare-csv"),
    path("data/", views.data_catalogue, name="catalogue"),
    path("data/<slug:slug>/", views.dataset, name="dataset"),
]
