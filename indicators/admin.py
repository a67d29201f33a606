"""Staff side of the urban audit: indicator definitions (editable, validated like the city's
file), values, discrepancies (explain, then review), wanted datasets, CSV import of values, and
the audit pages: data inventory, quality checks, information-gap matrix (under
/admin/indicators/indicator/audit/…, staff only, with the same data as /api/audit/…)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from indicators import computing, gaps, importing, inventory, quality
from indicators.methods import MethodError
from indicators.models import Discrepancy, Indicator, IndicatorValue, WantedDataset
from layers.models import Layer


@admin.register(Indicator)
class IndicatorAdmin(admin.ModelAdmin):
    list_display = ("code", "name_pl", "theme", "unit", "polarity", "kind", "source")
    list_filter = ("theme", "polarity")
    search_fields = ("code", "name_pl", "name_en")
    filter_horizontal = ("area_layers",)
    actions = ["recompute"]
    change_list_template = "admin/indicators/change_list.html"
    fieldsets = (
        (None, {"fields": ("code", "name_pl", "name_en", "description_pl", "description_en",
                           "unit", "theme", "iso_reference", "eurostat_reference", "polarity",
                           "order")}),
        (_("Method"), {"fields": ("method", "methodology", "area_layers", "city_wide",
                                  "source", "source_en", "licence")}),
        (_("Map"), {"fields": ("decimals", "classes", "classification", "colour_scheme")}),
        (_("Discrepancies"), {"fields": ("tolerance", "tolerance_relative")}),
    )

    @admin.display(description=_("method"))
    def kind(self, obj):
        return obj.method.get("kind", "")

    @admin.action(description=_("Recompute the selected indicators"))
    def recompute(self, request, queryset):
        if not request.user.has_perm("indicators.change_indicatorvalue"):
            raise PermissionDenied
        try:
            counts = {i.code: computing.compute_indicator(i) for i in queryset}
        except MethodError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, _("Recomputed: %s") % ", ".join(
            f"{c} ({n})" for c, n in counts.items()))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("audit/inventory/", view(self.inventory_view), name="indicators_inventory"),
            path("audit/quality/", view(self.quality_view), name="indicators_quality"),
            path("audit/gaps/", view(self.gaps_view), name="indicators_gaps"),
            path("import/", view(self.import_view), name="indicators_import"),
            path("recompute-stale/", view(self.recompute_stale_view),
                 name="indicators_recompute_stale"),
            *super().get_urls(),
        ]

    def _page(self, request, template, title, **context):
        return TemplateResponse(request, f"admin/indicators/{template}", {
            **self.admin_site.each_context(request), "title": title,
            "opts": self.model._meta, **context})

    def inventory_view(self, request):
        return self._page(request, "inventory.html", _("Data inventory"),
                          report=inventory.inventory(include_staff=True))

    def quality_view(self, request):
        return self._page(request, "quality.html", _("Data quality checks"),
                          report=quality.quality_report(include_staff=True))

    def gaps_view(self, request):
        return self._page(request, "gaps.html", _("Information gaps"),
                          report=gaps.matrix(include_staff=True))

    def recompute_stale_view(self, request):
        if request.method != "POST":
            return redirect(reverse("admin:indicators_gaps"))
        if not request.user.has_perm("indicators.change_indicatorvalue"):
            raise PermissionDenied
        counts = computing.compute_all(only_stale=True)
        self.message_user(request, _("Recomputed %(n)d indicator(s) with stale values.")
                          % {"n": len(counts)})
        return redirect(reverse("admin:indicators_gaps"))

    def import_view(self, request):
        if not request.user.has_perm("indicators.add_indicatorvalue"):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        errors, result = [], None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = importing.import_values(
                    data["indicator"], data["areas"], data["file"].read(),
                    code_field=data["code_field"], user=request.user)
            except importing.CSVImportError as exc:
                errors = [e.as_dict() for e in exc.errors]
        return self._page(request, "import.html", _("Import indicator values (CSV)"),
                          form=form, errors=errors, result=result and result.as_dict())


class ImportForm(forms.Form):
    indicator = forms.ModelChoiceField(Indicator.objects.all(), label=_("Indicator"))
    areas = forms.ModelChoiceField(
        Layer.objects.filter(role__in=[Layer.Role.AREAS, Layer.Role.BOUNDARY]),
        label=_("Areas layer"))
    code_field = forms.CharField(
        required=False, label=_("Area code property"),
        help_text=_("Empty: the layer's code field from the city's indicators.yaml, else its "
                    "name field."))
    file = forms.FileField(label=_("CSV file"),
                           help_text=_("Columns: area_code, period, value, source"))


@admin.register(IndicatorValue)
class IndicatorValueAdmin(admin.ModelAdmin):
    list_display = ("indicator", "area", "period", "value", "source", "status", "origin",
                    "computed_at")
    list_filter = ("indicator", "period", "status", "origin")
    list_select_related = ("indicator", "area", "area__layer")
    readonly_fields = ("computed_at", "input_versions", "imported_by")
    raw_id_fields = ("area",)


class DiscrepancyForm(forms.ModelForm):
    class Meta:
        model = Discrepancy
        fields = ("status", "explanation")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("status") == Discrepancy.Status.REVIEWED and \
                not (cleaned.get("explanation") or "").strip():
            raise ValidationError({"explanation": _("Write why the sources differ before "
                                                    "marking the discrepancy reviewed.")})
        return cleaned


@admin.register(Discrepancy)
class DiscrepancyAdmin(admin.ModelAdmin):
    form = DiscrepancyForm
    list_display = ("indicator", "area", "period", "values", "spread", "allowed", "status",
                    "reviewed_by", "reviewed_at")
    list_filter = ("status", "indicator", "period")
    list_select_related = ("indicator", "area", "area__layer", "reviewed_by")
    readonly_fields = ("indicator", "area", "period", "values", "spread", "allowed",
                       "reviewed_by", "reviewed_at", "detected_at", "updated_at")
    fields = ("indicator", "area", "period", "values", "spread", "allowed", "status",
              "explanation", "reviewed_by", "reviewed_at", "detected_at", "updated_at")

    def has_add_permission(self, request):
        return False  # recorded by the comparison of sources, not by hand

    def save_model(self, request, obj, form, change):
        if obj.status == Discrepancy.Status.REVIEWED and "status" in form.changed_data:
            obj.reviewed_by, obj.reviewed_at = request.user, timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(WantedDataset)
class WantedDatasetAdmin(admin.ModelAdmin):
    list_display = ("code", "title_pl", "owner", "layer_slug")
    filter_horizontal = ("indicators",)
