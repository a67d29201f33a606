"""Staff manage categories and departments here. Reports are listed for finding them, but every
change happens on the moderation page (/reports/moderate/<id>/), which records it in the
report's history and keeps the public layer in sync; the admin cannot edit or delete them."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from reports.models import Category, Department, Report
from sdi.admin_readonly import NoManualEdits


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name_pl", "name_en", "email")
    search_fields = ("name_pl", "name_en")


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name_pl", "slug", "trusted", "photo_required", "duplicate_radius_m",
                    "department", "active", "order")
    list_editable = ("active", "order")
    list_filter = ("trusted", "photo_required", "active")
    search_fields = ("slug", "name_pl", "name_en")
    prepopulated_fields = {"slug": ("name_en",)}


@admin.register(Report)
class ReportAdmin(NoManualEdits, admin.ModelAdmin):
    list_display = ("id", "title", "category", "status", "state", "department", "created_at",
                    "moderation_link")
    list_filter = ("state", "status", "category", "department")
    search_fields = ("id", "title")
    date_hierarchy = "created_at"
    list_select_related = ("category", "department")

    @admin.display(description=_("moderate"))
    def moderation_link(self, obj):
        return format_html('<a href="{}">{}</a>',
                           reverse("reports:moderate-detail", args=[obj.pk]), _("moderate"))
