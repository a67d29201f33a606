from django.urls import path

from indicators import api

# Fixed paths before <code>: indicator codes "values", "discrepancies" and "recompute" are
# reserved (indicators.definitions.RESERVED_CODES).
urlpatterns = [
    path("indicators/", api.IndicatorList.as_view(), name="indicator-list"),
    path("indicators/values/", api.AllValues.as_view(), name="indicator-all-values"),
    path("indicators/recompute/", api.RecomputeAll.as_view(), name="indicator-recompute-all"),
    path("indicators/discrepancies/", api.DiscrepancyList.as_view(),
         name="indicator-discrepancies"),
    path("indicators/discrepancies/<int:pk>/review/", api.DiscrepancyReview.as_view(),
         name="indicator-discrepancy-review"),
    path("indicators/<slug:code>/", api.IndicatorDetail.as_view(), name="indicator-detail"),
    path("indicators/<slug:code>/values/", api.IndicatorValues.as_view(),
         name="indicator-values"),
    path("indicators/<slug:code>/legend/", api.IndicatorLegend.as_view(),
         name="indicator-legend"),
    path("indicators/<slug:code>/recompute/", api.IndicatorRecompute.as_view(),
         name="indicator-recompute"),
    path("indicators/<slug:code>/import/", api.IndicatorImport.as_view(),
         name="indicator-import"),
    path("audit/inventory/", api.Inventory.as_view(), name="audit-inventory"),
    path("audit/quality/", api.Quality.as_view(), name="audit-quality"),
    path("audit/gaps/", api.Gaps.as_view(), name="audit-gaps"),
]
