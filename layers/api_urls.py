"""REST API routes for layers and features, mounted at /api/ by sdi.urls; plus the OpenAPI
document of the whole /api/ (drf-spectacular)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from layers import api, export_api

F = "layers/<slug:slug>/features/<int:feature_id>/"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("layers/", api.LayerList.as_view(), name="layer-list"),
    path("layers/<slug:slug>/", api.LayerDetail.as_view(), name="layer-detail"),
    path("layers/<slug:slug>/restore/", api.LayerRestore.as_view(), name="layer-restore"),
    path("layers/<slug:slug>/history/", api.LayerHistory.as_view(), name="layer-history"),
    path("layers/<slug:slug>/imports/", api.LayerImports.as_view(), name="layer-imports"),
    path("layers/<slug:slug>/imports/<uuid:batch>/revert/", api.ImportRevert.as_view(),
         name="import-revert"),
    path("layers/<slug:slug>/exports/", export_api.LayerExports.as_view(), name="layer-exports"),
    path("layers/<slug:slug>/exports/<int:job_id>/file", export_api.LayerExportFile.as_view(),
         name="layer-export-file"),
    path("layers/<slug:slug>/features/", api.FeatureList.as_view(), name="feature-list"),
    path(F, api.FeatureDetail.as_view(), name="feature-detail"),
    path(F + "history/", api.FeatureHistoryView.as_view(), name="feature-history"),
    path(F + "revert/", api.FeatureRevert.as_view(), name="feature-revert"),
]
