"""Open311 GeoReport v2, mounted at /open311/v2/. The format is part of the path (.json, .xml),
as the spec has it; an unknown format gets a JSON 404 in the Open311 error shape."""

from django.urls import path, re_path

from reports import open311

app_name = "open311"

urlpatterns = [
    path("services.<str:fmt>", open311.services_list, name="services"),
    path("services/<slug:code>.<str:fmt>", open311.service_definition, name="service"),
    path("requests.<str:fmt>", open311.requests_view, name="requests"),
    re_path(r"^requests/(?P<pk>[^/.]+)\.(?P<fmt>\w+)$", open311.request_detail,
            name="request"),
]
