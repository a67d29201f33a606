"""The GIS staff's admin: layers (schema, metadata, import, history, soft delete), features on
a Leaflet map with their attributes as schema-driven form fields, history with revert.

Rights follow layers.permissions, not Django's per-model permissions: every staff user sees
every layer; only members of a layer's editor groups (and superusers) change its features.
Registry rights (create, delete, restore layers; visibility, editor groups, tile settings) are
the `layers.*_layer` model permissions."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import localize
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from layers import editing, history, importing, lifecycle, permissions
from layers.forms import (
    FeatureForm,
    ImportForm,
    LayerForm,
    attribute_field_names,
    feature_form_for,
    options_from_json,
    options_to_json,
)
from layers.models import (
    DeletedLayer,
    Feature,
    FeatureHistory,
    ImportRun,
    Layer,
    SchemaChangeLog,
)
from layers.schema_changes import change_schema, describe
from sdi.admin_readonly import NoManualEdits

# --- layers ---------------------------------------------------------------------------------


@admin.register(Layer)
class LayerAdmin(admin.ModelAdmin):
    form = LayerForm
    list_display = ("slug", "title_pl", "role", "geometry_type", "visibility", "n_features",
                    "version", "last_updated", "links")
    list_filter = ("role", "visibility", "geometry_type", "theme", "synthetic")
    search_fields = ("slug", "title_pl", "title_en", "keywords")
    readonly_fields = ("version", "load_report", "created_at", "updated_at", "links",
                       "schema_changes")
    # Newest schema changes shown on the layer's page; all of them under "schema changes".
    SCHEMA_CHANGES_SHOWN = 10
    filter_horizontal = ("editor_groups",)
    # A source address typed without a scheme is taken as https (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("links", "slug", "title_pl", "title_en", "description_pl",
                           "description_en", "geometry_type", "role", "name_field",
                           "visibility", "editor_groups")}),
        (gettext_lazy("Attribute schema"), {"fields": ("schema", "schema_renames",
                                                       "schema_allow_drop", "schema_changes")}),
        (gettext_lazy("Catalogue"), {"fields": (
            "publisher", "publisher_type", "source", "source_url", "licence", "attribution",
            "update_frequency", "data_date", "issued", "last_updated", "quality_notes",
            "quality_notes_en", "keywords", "theme", "native_crs", "synthetic")}),
        (gettext_lazy("Tiles"), {"fields": ("tile_minzoom", "tile_maxzoom",
                                            "tile_feature_limit")}),
        (gettext_lazy("State"), {"fields": ("version", "load_report", "created_at",
                                            "updated_at")}),
    )

    def get_fieldsets(self, request, obj=None):
        known = {f.name for f in Layer._meta.get_fields()} | {"links", "schema_renames",
                                                              "schema_allow_drop"}
        if obj is None:
            known.discard("schema_changes")
        # Only fields the model has (other apps add theirs over time).
        return [(name, {**opts, "fields": [f for f in opts["fields"] if f in known]})
                for name, opts in self.fieldsets]

    def get_queryset(self, request):
        return permissions.visible_layers(request.user).annotate(n=Count("features"))

    @admin.display(description=gettext_lazy("features"), ordering="n")
    def n_features(self, obj):
        return getattr(obj, "n", None)

    @admin.display(description=gettext_lazy("links"))
    def links(self, obj):
        if not obj or not obj.pk:
            return "—"
        return format_html(
            '<a href="{}?layer__id__exact={}">{}</a> · <a href="{}">{}</a> · '
            '<a href="{}?layer__id__exact={}">{}</a> · <a href="{}?layer__id__exact={}">{}</a> · '
            '<a href="{}?layer__id__exact={}">{}</a>',
            reverse("admin:layers_feature_changelist"), obj.pk, _("features on the map"),
            reverse("admin:layers_layer_import", args=[obj.pk]), _("import a file"),
            reverse("admin:layers_featurehistory_changelist"), obj.pk, _("history"),
            reverse("admin:layers_importrun_changelist"), obj.pk, _("imports"),
            reverse("admin:layers_schemachangelog_changelist"), obj.pk, _("schema changes"))

    @admin.display(description=gettext_lazy("schema changes"))
    def schema_changes(self, obj):
        """The layer's latest schema changes, read-only: who, when, what (written by
        layers.schema_changes whenever a change is applied)."""
        if not obj or not obj.pk:
            return "—"
        entries = list(obj.schema_changes.select_related("user")[:self.SCHEMA_CHANGES_SHOWN])
        if not entries:
            return _("none yet")
        rows = format_html_join("", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td>'
                                    "<td>{}</td></tr>", (
            (reverse("admin:layers_schemachangelog_change", args=[e.pk]),
             localize(localtime(e.at)), e.user or "—", e.channel or "—", describe(e.summary))
            for e in entries))
        return format_html('<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}'
                           '</table><a href="{}?layer__id__exact={}">{}</a>',
                           _("when"), _("who"), _("channel"), _("what changed"), rows,
                           reverse("admin:layers_schemachangelog_changelist"), obj.pk,
                           _("all schema changes, with the schema before and after"))

    def has_view_permission(self, request, obj=None):
        return permissions.is_staff(request.user)

    def has_module_permission(self, request):
        return permissions.is_staff(request.user)

    def has_add_permission(self, request):
        return permissions.can_manage(request.user, "add")

    def has_change_permission(self, request, obj=None):
        if permissions.can_manage(request.user, "change"):
            return True
        if obj is None:
            return permissions.editable_layers(request.user).exists()
        return permissions.can_edit(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return permissions.can_manage(request.user, "delete")

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if not permissions.can_manage(request.user, "change"):
            fields += list(permissions.REGISTRY_FIELDS)
        if obj is not None:
            fields.append("slug")  # URLs, tiles and downloads depend on it
        return fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change and "schema" in data:
            old = Layer.all_objects.get(pk=obj.pk)
            new_schema, obj.schema = obj.schema, old.schema
            obj.save()
            if new_schema != old.schema or data.get("schema_renames"):
                result = change_schema(obj, new_schema, renames=data.get("schema_renames"),
                                       allow_drop=data.get("schema_allow_drop"),
                                       user=request.user, channel="admin")
                obj.refresh_from_db()
                if result.features_changed:
                    messages.info(request, _("%(n)d features migrated to the new schema.")
                                  % {"n": result.features_changed})
        else:
            obj.save()

    def get_deleted_objects(self, objs, request):
        # Deletion is soft: nothing else goes (features and history stay for a restore), so
        # no rights on them are needed either.
        return [str(obj) for obj in objs], {}, set(), []

    def delete_model(self, request, obj):
        lifecycle.delete_layer(obj, request.user)

    def delete_queryset(self, request, queryset):
        for layer in queryset:
            lifecycle.delete_layer(layer, request.user)

    def get_urls(self):
        # The upload's size is judged before its body is read, so before the CSRF check (which
        # reads the form): the middleware skips this view, which makes the check itself.
        view = self.admin_site.admin_view(csrf_exempt(self.import_view))
        return [path("<path:object_id>/import/", view, name="layers_layer_import")] + \
            super().get_urls()

    def import_view(self, request, object_id):
        """Upload, dry run with a full report, then (on confirmation) the atomic import."""
        layer = Layer.objects.filter(pk=unquote(object_id)).first() if str(
            object_id).isdigit() else None
        if layer is None or not permissions.can_view(request.user, layer):
            raise Http404
        if not permissions.can_edit(request.user, layer):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "layer": layer, "title": _("Import into %(layer)s") % {"layer": layer}}
        refused = importing.check_upload_size(request) if request.method == "POST" else None
        if refused:
            # Refused unread and unchanged, so without the CSRF check that would read it.
            code, message = refused
            context.update(form=ImportForm(), fatal=message)
            return TemplateResponse(request, "admin/layers/layer/import.html", context,
                                    status=code)
        return csrf_protect(self._import_form)(request, layer, context)

    def _import_form(self, request, layer, context):
        if request.method == "POST" and request.POST.get("token"):
            return self._confirm_import(request, layer, context)
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            options = form.cleaned_data["options"]
            token = importing.keep_upload(upload)
            report = importing.run_import(layer, importing.kept_upload(token), options,
                                          user=request.user, filename=upload.name)
            if not report.ok:
                importing.drop_upload(token)
                token = None
            context.update(report=report, token=token, options=options_to_json(options))
        context["form"] = form
        status = 400 if context.get("report") and not context["report"].ok else 200
        return TemplateResponse(request, "admin/layers/layer/import.html", context,
                                status=status)

    def _confirm_import(self, request, layer, context):
        token = request.POST["token"]
        path = importing.kept_upload(token)
        if path is None:
            messages.error(request, _("The uploaded file is gone; upload it again."))
            return HttpResponseRedirect(request.path)
        options = options_from_json(request.POST.get("options", "{}"))
        options.dry_run = False
        report = importing.run_import(layer, path, options, user=request.user,
                                      filename=request.POST.get("filename") or path.name)
        importing.drop_upload(token)
        if not report.ok:
            context.update(form=ImportForm(), report=report)
            return TemplateResponse(request, "admin/layers/layer/import.html", context,
                                    status=400)
        messages.success(request, _("Imported %(n)d features from %(file)s (%(repaired)d "
                                    "geometries repaired). The import can be reverted from "
                                    "the list of imports.")
                         % {"n": report.written, "file": report.filename,
                            "repaired": len(report.repaired)})
        return HttpResponseRedirect(
            reverse("admin:layers_importrun_changelist") + f"?layer__id__exact={layer.pk}")


@admin.register(DeletedLayer)
class DeletedLayerAdmin(NoManualEdits, admin.ModelAdmin):
    """Deleted layers: restorable until purged (30 days after deletion)."""

    list_display = ("slug", "title_pl", "deleted_at", "deleted_by", "purge_on")
    actions = ["restore"]

    @admin.display(description=gettext_lazy("purged on"))
    def purge_on(self, obj):
        return lifecycle.purge_until(obj)

    def has_module_permission(self, request):
        return permissions.can_manage(request.user, "delete")

    def has_view_permission(self, request, obj=None):
        return permissions.can_manage(request.user, "delete")

    @admin.action(description=gettext_lazy("Restore the selected layers"))
    def restore(self, request, queryset):
        for layer in queryset:
            lifecycle.restore_layer(layer)
        messages.success(request, _("%(n)d layer(s) restored.") % {"n": queryset.count()})


# --- features -------------------------------------------------------------------------------

class PropertyFilter(admin.SimpleListFilter):
    """Filter a layer's features on one property: built per field (see FeatureAdmin)."""

    spec: dict = {}
    values: list = []

    def lookups(self, request, model_admin):
        return [(str(v).lower() if isinstance(v, bool) else str(v), str(v))
                for v in self.values]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        from layers.schema import CoercionError, coerce
        try:
            value = coerce(self.spec["type"], self.value())
        except CoercionError:
            return queryset.none()
        return queryset.filter(properties__contains={self.spec["name"]: value})


def property_filter(index: int, spec: dict, values: list) -> type:
    return type(f"PropertyFilter{index}", (PropertyFilter,), {
        "title": spec["name"], "parameter_name": f"p{index}", "spec": spec, "values": values})


def _selected_layer(request) -> Layer | None:
    layer_id = request.GET.get("layer__id__exact") or request.GET.get("layer")
    if not (layer_id and str(layer_id).isdigit()):
        return None
    layer = Layer.objects.filter(pk=layer_id).first()
    return layer if layer and permissions.can_view(request.user, layer) else None


class VisibleLayerFilter(admin.RelatedFieldListFilter):
    def field_choices(self, field, request, model_admin):
        return [(la.pk, str(la)) for la in permissions.visible_layers(request.user)]


@admin.register(Feature)
class FeatureAdmin(admin.ModelAdmin):
    form = FeatureForm
    list_display = ("id", "layer", "__str__", "version", "updated_at")
    list_filter = (("layer", VisibleLayerFilter),)
    search_fields = ("properties",)
    list_select_related = ("layer",)
    list_per_page = 50
    # Filters on property values of up to this many distinct values are offered.
    MAX_FILTER_VALUES = 30

    def get_queryset(self, request):
        return super().get_queryset(request).filter(
            layer__in=permissions.visible_layers(request.user))

    # Rights: view = staff; change/delete = the layer's editors; add = editor of some layer.
    def has_module_permission(self, request):
        return permissions.is_staff(request.user)

    def has_view_permission(self, request, obj=None):
        return permissions.is_staff(request.user) and (
            obj is None or permissions.can_view(request.user, obj.layer))

    def has_add_permission(self, request):
        return permissions.editable_layers(request.user).exists()

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return permissions.editable_layers(request.user).exists()
        return permissions.can_edit(request.user, obj.layer)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    # Per-layer list: the layer's attributes as columns, filters on their values.
    def get_list_display(self, request):
        layer = _selected_layer(request)
        if layer is None:
            return self.list_display
        columns = []
        for spec in layer.fields[:6]:
            def column(obj, name=spec["name"]):
                value = obj.properties.get(name)
                return "—" if value is None else value
            column.short_description = spec["name"]
            columns.append(column)
        return ("id", *columns, "version", "updated_at")

    def get_list_display_links(self, request, list_display):
        return ("id",)

    def get_list_filter(self, request):
        layer = _selected_layer(request)
        if layer is None:
            return self.list_filter
        filters = list(self.list_filter)
        qs = Feature.objects.filter(layer=layer)
        for i, spec in enumerate(layer.fields):
            if spec.get("choices"):
                values = list(spec["choices"])
            elif spec["type"] == "boolean":
                values = [True, False]
            elif spec["type"] in ("string", "integer"):
                key = f"properties__{spec['name']}"
                try:
                    values = list(qs.exclude(**{f"{key}__isnull": True}).values_list(
                        key, flat=True).distinct().order_by(key)[:self.MAX_FILTER_VALUES + 1])
                except Exception:  # a name JSON key transforms cannot express
                    values = []
                if len(values) > self.MAX_FILTER_VALUES or len(values) < 2:
                    continue
            else:
                continue
            filters.append(property_filter(i, spec, values))
        return filters

    def lookup_allowed(self, lookup, value, request=None):
        return lookup.startswith("p") and lookup[1:].isdigit() or super().lookup_allowed(
            lookup, value, request)

    # The form: built from the layer's schema.
    def _layer_for(self, request, obj) -> Layer | None:
        if obj is not None:
            return obj.layer
        return _selected_layer(request)

    def get_form(self, request, obj=None, change=False, **kwargs):
        layer = self._layer_for(request, obj)
        if layer is None:
            return super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and not self.has_change_permission(request, obj):
            # View-only: Django renders the fields read-only from the model.
            kwargs["form"] = forms.ModelForm
            kwargs["fields"] = ["geom", "properties"]
            return super().get_form(request, obj, change=change, **kwargs)
        kwargs["form"] = feature_form_for(layer)
        kwargs["fields"] = ["geom", "edit_version", *attribute_field_names(layer)]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        layer = self._layer_for(request, obj)
        if layer is None:
            return super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return [(str(layer), {"fields": ["geom", "properties", "version"]})]
        return [(str(layer), {"fields": ["geom", "edit_version"]}),
                (_("Attributes"), {"fields": attribute_field_names(layer)}),
                (_("State"), {"fields": ["version", "created_at", "updated_at"]})]

    def get_readonly_fields(self, request, obj=None):
        base = ["version", "created_at", "updated_at"]
        if obj is not None and not self.has_change_permission(request, obj):
            return ["geom", "properties", *base]
        return base

    def add_view(self, request, form_url="", extra_context=None):
        layer = _selected_layer(request)
        if layer is None:
            # First choose the layer: the form depends on its schema and geometry type.
            context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                       "title": _("Add a feature: choose the layer"),
                       "layers": permissions.editable_layers(request.user).order_by("slug")}
            return TemplateResponse(request, "admin/layers/feature/choose_layer.html", context)
        if not permissions.can_edit(request.user, layer):
            raise PermissionDenied
        return super().add_view(request, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        # Through the editing service, so admin edits get history and a version bump too.
        data = form.cleaned_data
        if change:
            try:
                saved = editing.update_feature(
                    obj.pk, geom=data["geom"], properties=data["properties"],
                    expected_version=data.get("edit_version"), user=request.user,
                    channel="admin")
            except editing.VersionConflict as exc:
                # Saved by someone else between the form's check and this write: keep theirs.
                messages.error(request, _("Not saved: %(reason)s. Reload and try again.")
                               % {"reason": exc})
                return
        else:
            saved = editing.create_feature(form.layer_obj, data["geom"], data["properties"],
                                           user=request.user, channel="admin")
        obj.pk, obj.version, obj.layer = saved.pk, saved.version, saved.layer

    def delete_model(self, request, obj):
        editing.delete_feature(obj.pk, user=request.user, channel="admin")

    def delete_queryset(self, request, queryset):
        for feature in queryset.select_related("layer"):
            if not permissions.can_edit(request.user, feature.layer):
                raise PermissionDenied
            editing.delete_feature(feature.pk, user=request.user, channel="admin")

    # History of one feature, with "restore this version".
    def get_urls(self):
        return [path("<path:object_id>/revert/", self.admin_site.admin_view(self.revert_view),
                     name="layers_feature_revert")] + super().get_urls()

    def history_view(self, request, object_id, extra_context=None):
        feature = Feature.objects.filter(pk=unquote(object_id)).select_related("layer").first()
        layer = feature.layer if feature else _history_layer(object_id)
        if layer is None or not permissions.can_view(request.user, layer):
            raise Http404
        entries = history.feature_history(layer, int(object_id)).order_by("-version")
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": _("History of feature %(id)s") % {"id": object_id},
                   "feature": feature, "feature_id": object_id, "layer": layer,
                   "entries": entries, "can_revert": permissions.can_edit(request.user, layer)}
        return TemplateResponse(request, "admin/layers/feature/history.html", context)

    def revert_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:layers_feature_history",
                                                args=[object_id]))
        layer = _history_layer(object_id)
        if layer is None or not permissions.can_view(request.user, layer):
            raise Http404
        if not permissions.can_edit(request.user, layer):
            raise PermissionDenied
        try:
            version = int(request.POST.get("version", ""))
            history.revert_feature(layer, int(object_id), version, user=request.user)
            messages.success(request, _("Feature %(id)s is back at version %(v)d.")
                             % {"id": object_id, "v": version})
        except (ValueError, history.RevertError, editing.EditError) as exc:
            messages.error(request, _("Revert refused: %(reason)s") % {"reason": exc})
        return HttpResponseRedirect(reverse("admin:layers_feature_history", args=[object_id]))


def _history_layer(feature_id) -> Layer | None:
    if not str(feature_id).isdigit():
        return None
    entry = FeatureHistory.objects.filter(feature_id=int(feature_id)).select_related(
        "layer").first()
    return entry.layer if entry and entry.layer.deleted_at is None else None


# --- history and imports --------------------------------------------------------------------

class StaffReadOnly(NoManualEdits):
    """Records (history, import runs) that staff read but nobody edits by hand: they change
    only through the editing service and reverts."""

    def has_module_permission(self, request):
        return permissions.is_staff(request.user)

    def has_view_permission(self, request, obj=None):
        return permissions.is_staff(request.user)


@admin.register(FeatureHistory)
class FeatureHistoryAdmin(StaffReadOnly, admin.ModelAdmin):
    list_display = ("at", "layer", "feature_link", "action", "version", "user", "channel",
                    "batch")
    list_filter = (("layer", VisibleLayerFilter), "action", "channel")
    search_fields = ("=feature_id", "=batch")
    readonly_fields = [f.name for f in FeatureHistory._meta.fields]
    list_select_related = ("layer", "user")
    actions = ["revert_batches"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(
            layer__in=permissions.visible_layers(request.user))

    @admin.display(description=gettext_lazy("feature"), ordering="feature_id")
    def feature_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:layers_feature_history",
                                                          args=[obj.feature_id]),
                           obj.feature_id)

    @admin.action(description=gettext_lazy("Revert the whole batch of the selected entries"))
    def revert_batches(self, request, queryset):
        _revert_batches(request, {(e.layer, e.batch) for e in queryset if e.batch})


def _revert_batches(request, batches):
    for layer, batch in batches:
        if not permissions.can_edit(request.user, layer):
            messages.error(request, _("You are not an editor of %(layer)s.") % {"layer": layer})
            continue
        try:
            result = history.revert_batch(layer, batch, user=request.user)
        except history.RevertError as exc:
            messages.error(request, _("Revert refused: %(reason)s") % {"reason": exc})
            continue
        messages.success(request, _("Batch %(batch)s reverted: %(d)d features removed, "
                                    "%(r)d restored, %(u)d changed back.")
                         % {"batch": batch, "d": result["deleted"], "r": result["restored"],
                            "u": result["updated"]})


@admin.register(ImportRun)
class ImportRunAdmin(StaffReadOnly, admin.ModelAdmin):
    list_display = ("at", "layer", "filename", "mode", "features", "user", "reverted_at",
                    "history_link")
    list_filter = (("layer", VisibleLayerFilter),)
    readonly_fields = ("layer", "batch", "user", "filename", "mode", "features", "report", "at",
                       "reverted_at", "reverted_by")
    actions = ["revert_imports"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(
            layer__in=permissions.visible_layers(request.user)).select_related("layer", "user")

    @admin.display(description=gettext_lazy("changes"))
    def history_link(self, obj):
        return format_html('<a href="{}?q={}">{}</a>',
                           reverse("admin:layers_featurehistory_changelist"), obj.batch,
                           _("history"))

    @admin.action(description=gettext_lazy("Revert the selected imports"))
    def revert_imports(self, request, queryset):
        _revert_batches(request, [(run.layer, run.batch) for run in queryset])


@admin.register(SchemaChangeLog)
class SchemaChangeLogAdmin(StaffReadOnly, admin.ModelAdmin):
    list_display = ("at", "layer", "what", "user", "channel", "history_link")
    list_filter = (("layer", VisibleLayerFilter), "channel")
    readonly_fields = ("layer", "at", "user", "channel", "what", "summary", "before", "after",
                       "batch")
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(
            layer__in=permissions.visible_layers(request.user)).select_related("layer", "user")

    @admin.display(description=gettext_lazy("what changed"))
    def what(self, obj):
        return describe(obj.summary)

    @admin.display(description=gettext_lazy("changes"))
    def history_link(self, obj):
        if not obj.batch:
            return "—"
        return format_html('<a href="{}?q={}">{}</a>',
                           reverse("admin:layers_featurehistory_changelist"), obj.batch,
                           _("history"))
