from django import forms
from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from layers.models import Feature, Layer


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
        if change:
            obj.version += 1
        super().save_model(request, obj, form, change)
        obj.layer.bump_version()
