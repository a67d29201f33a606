# Every part is captured as a plain string and validated in the view: a malformed tile address
# gets a 400 with a JSON message rather than Django's HTML 404.
from django.urls import path, re_path

from tiles import views

app_name = "tiles"

urlpatterns = [
    path("indicators/<str:code>/<str:z>/<str:x>/<str:y>.pbf", views.indicator_tile,
         name="indicator-tile"),
    path("indicators/<str:code>.json", views.indicator_tilejson, name="indicator-tilejson"),
    path("<str:layers>/<str:z>/<str:x>/<str:y>.pbf", views.layer_tile, name="tile"),
    path("<str:layers>.json", views.layer_tilejson, name="tilejson"),
    re_path(r"^(?P<rest>.*)$", views.unknown),
]
