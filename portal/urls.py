from django.urls import path

from portal import views

urlpatterns = [
    path("", views.map_page, name="map"),
]
