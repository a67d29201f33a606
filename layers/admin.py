from django import forms
from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from layers import editing
from layers.models import Feature, FeatureHistory, Layer


@admin.register(Layer)
class LayerAdmin(admin.ModelAdmin):
    list_display = ("slug", "title_pl", "role", "geometry_type", "visibility", "version",
                    "last_updated")
    list_filter = ("role", "visibility", "geometry_type", "theme")
    search_fields = ("slug", "title_pl", "title_en", "keywords")
    readonly_fields = ("version", "load_report", "created_at", "updated_at")
    filter_horizontal = ("editor_groups",)
    fieldsets = (
        (None, {"fields": ("slug", "title_pl", "title_en", "description_pl", "description_en",
                           "geometry_type", "role", "name_field", "visibility",
                           "editor_groups", "schema")}),
        ("Catalogue", {"fields": ("publisher", "source", "source_url", "licence", "attribution",
                                  "update_frequency", "data_date", "last_updated",
                                  "quality_notes", "keywords", "theme", "native_crs",
                                  "synthetic")}),
        ("State", {"fields": ("version", "load_report", "created_at", "updated_at")}),
    )


class FeatureForm(forms.ModelForm):
    class Meta:
        model = Feature
        fields = ("layer", "geom", "properties")

    def clean(self):
        cleaned = super().clean()
        layer, props = cleaned.get("layer"), cleaned.get("properties")
        if layer is not None and props is not None:
            for error in layer.validate_properties(props):
                self.add_error("properties", error)
        if layer is not None and cleaned.get("geom") is not None:
            for error in editing.check_geometry(layer, cleaned["geom"]):
                self.add_error("geom", error)
        return cleaned


@admin.register(Feature)
class FeatureAdmin(LeafletGeoAdmin):
    form = FeatureForm
    list_display = ("id", "layer", "__str__", "version", "updated_at")
    list_filter = ("layer",)
    search_fields = ("properties",)
    readonly_fields = ("version", "created_at", "updated_at")
    list_select_related = ("layer",)

    def save_model(self, request, obj, form, change):
        # Through the editing service, so admin edits get history and a version bump too.
        data = form.cleaned_data
        if change:
            saved = editing.update_feature(obj.pk, geom=data["geom"], properties=data["properties"],
                                           user=request.user, channel="admin")
        else:
            saved = editing.create_feature(data["layer"], data["geom"], data["properties"],
                                           user=request.user, channel="admin")
        obj.pk, obj.version = saved.pk, saved.version

    def delete_model(self, request, obj):
        editing.delete_feature(obj.pk, user=request.user, channel="admin")

    def delete_queryset(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            editing.delete_feature(pk, user=request.user, channel="admin")


@admin.register(FeatureHistory)
class FeatureHistoryAdmin(admin.ModelAdmin):
    list_display = ("at", "layer", "feature_id", "action", "version", "user", "channel")
    list_filter = ("layer", "action", "channel")
    search_fields = ("feature_id",)
    readonly_fields = [f.name for f in FeatureHistory._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
