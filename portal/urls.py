from django.urls import path

from portal import views

app_name = "portal"

# /data/<slug>.geojson|.csv|.gpkg (downloads) belong to the layers app; a slug has no dot, so
# the dataset pages below never catch them.
urlpatterns = [
    path("", views.map_page, name="map"),
    path("map/table.json", views.map_table, name="map-table"),
    path("districts/", views.districts, name="districts"),
    path("districts/at.json", views.area_at, name="area-at"),
    path("districts/<slug:slug>/", views.district, name="district"),
    path("districts/<slug:slug>.csv", views.district_csv, name="district-csv"),
    path("districts/<slug:slug>.json", views.district_json, name="district-json"),
    path("compare/", views.compare, name="compare"),
    path("data/", views.data_catalogue, name="catalogue"),
    path("data/<slug:slug>/", views.dataset, name="dataset"),
]
