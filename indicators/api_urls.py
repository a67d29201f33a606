from django.urls import path

from indicators import api

urlpatterns = [
    path("indicators/", api.IndicatorList.as_view(), name="indicator-list"),
    path("indicators/<slug:code>/values/", api.IndicatorValues.as_view(),
         name="indicator-values"),
    path("indicators/<slug:code>/legend/", api.IndicatorLegend.as_view(),
         name="indicator-legend"),
]
