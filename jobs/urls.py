"""Job routes, mounted at /api/ by sdi.urls."""

from django.urls import path

from jobs import api

urlpatterns = [
    path("jobs/<int:pk>/", api.JobDetail.as_view(), name="job-detail"),
    path("jobs/<int:pk>/cancel/", api.JobCancel.as_view(), name="job-cancel"),
]
