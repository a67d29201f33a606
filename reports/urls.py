from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.index, name="index"),
    path("map.geojson", views.map_geojson, name="map-geojson"),
    path("new/", views.new, name="new"),
    path("thanks/", views.thanks, name="thanks"),
    # The reporter's private link (reports/follow.py): works while the report is not public.
    path("follow/<str:token>/", views.follow, name="follow"),
    path("nearby.json", views.nearby, name="nearby"),
    path("stats.json", views.stats_json, name="stats"),
    path("photos/<uuid:key>.jpg", views.photo, name="photo"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/support/", views.support, name="support"),
    path("moderate/", views.moderate_list, name="moderate"),
    path("moderate/<int:pk>/", views.moderate_detail, name="moderate-detail"),
]
