from django.contrib import admin

from indicators.models import Indicator, IndicatorValue


@admin.register(Indicator)
class IndicatorAdmin(admin.ModelAdmin):
    list_display = ("code", "name_pl", "theme", "unit", "polarity")
    list_filter = ("theme", "polarity")
    search_fields = ("code", "name_pl", "name_en")
    filter_horizontal = ("area_layers",)


@admin.register(IndicatorValue)
class IndicatorValueAdmin(admin.ModelAdmin):
    list_display = ("indicator", "area", "period", "value", "source", "status", "computed_at")
    list_filter = ("indicator", "period", "status")
    list_select_related = ("indicator", "area", "area__layer")
