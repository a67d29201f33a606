"""Admin forms built from a layer's schema: each declared attribute is a proper form field
(text, number, yes/no, date, choice list), the geometry a Leaflet map that draws only what the
layer holds. Validation is the editing service's, so the admin says what the API says."""

import json
from decimal import Decimal

from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.contrib.gis import forms as gis_forms
from django.utils.translation import gettext_lazy as _
from leaflet.admin import LeafletAdminWidget
from leaflet.templatetags import leaflet_tags

from layers import editing, importing
from layers.models import Feature, Layer
from layers.schema import validate_schema

ATTR = "attr_"


class CSPMapWidget(LeafletAdminWidget):
    """django-leaflet's admin map widget without inline script: its settings go to
    layers/static/layers/map_widget.js in a data- attribute (the site's Content-Security-Policy
    allows scripts from static files only)."""

    template_name = "layers/map_widget.html"

    @property
    def media(self):
        return super().media + forms.Media(js=["layers/map_widget.js"])

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        options = leaflet_tags.leaflet_map(
            context["id_map"], loadevent=context["loadevent"],
            settings_overrides=context.get("settings_overrides") or {})
        context["sdi_widget_config"] = json.dumps({
            "name": context["id_map"], "fieldid": context["id_css"],
            "modifiable": bool(context["modifiable"]),
            "geom_type": context["widget"]["attrs"]["geom_name"],
            "srid": context["widget"]["attrs"]["map_srid"],
            "djoptions": json.loads(options["djoptions"]),
            "loadevents": json.loads(options["loadevents"]),
            "globals": not options["NO_GLOBALS"]})
        return context


def map_widget(geometry_type: str):
    class LayerMap(CSPMapWidget):
        geom_type = geometry_type.upper()
        modifiable = True
        display_raw = False
    return LayerMap


def attribute_field(spec: dict) -> forms.Field:
    """The form field for one schema field."""
    name, ftype = spec["name"], spec["type"]
    required = bool(spec.get("required"))
    common = {"label": name, "required": required}
    choices = spec.get("choices")
    if choices:
        cast = {"integer": int, "decimal": float}.get(ftype, str)
        return forms.TypedChoiceField(choices=[("", "—")] + [(c, c) for c in choices],
                                      coerce=cast, empty_value=None, **common)
    if ftype == "integer":
        return forms.IntegerField(**common)
    if ftype == "decimal":
        # localize: Polish users type 12,5
        return forms.DecimalField(localize=True, **common)
    if ftype == "boolean":
        options = [("", "—"), ("true", _("yes")), ("false", _("no"))]
        return forms.TypedChoiceField(choices=options, coerce=lambda v: v == "true",
                                      empty_value=None, **common)
    if ftype == "date":
        return forms.DateField(widget=AdminDateWidget, **common)
    return forms.CharField(**common)


def _json_value(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) \
            else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class FeatureForm(forms.ModelForm):
    """Base of the per-layer forms (see `feature_form_for`)."""

    layer_obj: Layer = None

    class Meta:
        model = Feature
        fields = ("geom",)

    # The version the editor opened: saving over a newer one is refused (optimistic locking,
    # as If-Match does for the API), so two editors never silently overwrite each other.
    edit_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.pk:
            self.initial.setdefault("edit_version", self.instance.version)
        props = self.instance.properties if self.instance and self.instance.pk else {}
        for i, spec in enumerate(self.layer_obj.fields):
            value = props.get(spec["name"])
            if spec["type"] == "boolean" and value is not None:
                value = "true" if value else "false"
            self.initial.setdefault(f"{ATTR}{i}", value)

    def properties(self) -> dict:
        declared = {f["name"] for f in self.layer_obj.fields}
        # Properties outside the schema are kept (and then refused by validation, visibly)
        # rather than dropped without a word.
        props = {k: v for k, v in (self.instance.properties or {}).items()
                 if k not in declared} if self.instance.pk else {}
        for i, spec in enumerate(self.layer_obj.fields):
            value = self.cleaned_data.get(f"{ATTR}{i}")
            if value not in (None, ""):
                props[spec["name"]] = _json_value(value)
        return props

    def clean(self):
        cleaned = super().clean()
        opened = cleaned.get("edit_version")
        if self.instance.pk and opened is not None:
            current = Feature.objects.filter(pk=self.instance.pk).values_list(
                "version", flat=True).first()
            if current is not None and current != opened:
                raise forms.ValidationError(_(
                    "Someone else saved this feature after you opened it (version %(opened)s, "
                    "now %(current)s). Reload the page and make your change again.")
                    % {"opened": opened, "current": current})
        if self.errors:
            return cleaned
        props = self.properties()
        names = {spec["name"]: f"{ATTR}{i}" for i, spec in enumerate(self.layer_obj.fields)}
        for error in self.layer_obj.validate_properties(props):
            field = names.get(error.split(":", 1)[0])
            self.add_error(field, error)
        if cleaned.get("geom") is not None:
            for error in editing.check_geometry(self.layer_obj, cleaned["geom"]):
                self.add_error("geom", error)
        cleaned["properties"] = props
        return cleaned


def feature_form_for(layer: Layer) -> type[FeatureForm]:
    # Any geometry passes the form field, so that the editing service's check gives its
    # precise message ("LineString given, layer holds Point"); the map draws only the layer's
    # geometry type.
    geom = gis_forms.GeometryField(widget=map_widget(layer.geometry_type), srid=4326,
                                   label=_("geometry"), required=True)
    geom.widget.attrs["geom_type"] = layer.geometry_type.upper()
    attrs = {"layer_obj": layer, "geom": geom}
    for i, spec in enumerate(layer.fields):
        attrs[f"{ATTR}{i}"] = attribute_field(spec)
    return type(f"FeatureForm_{layer.slug.replace('-', '_')}", (FeatureForm,), attrs)


def attribute_field_names(layer: Layer) -> list[str]:
    return [f"{ATTR}{i}" for i in range(len(layer.fields))]


class LayerForm(forms.ModelForm):
    """The layer form: the schema as JSON, plus the two things a schema change may need said
    explicitly (renames, and consent to drop values)."""

    schema_renames = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("rename fields"),
        help_text=_("One per line: old name = new name. Values move to the new name."))
    schema_allow_drop = forms.BooleanField(
        required=False, label=_("allow dropping values"),
        help_text=_("Needed to remove a field that still has values."))

    class Meta:
        model = Layer
        fields = ("slug", "schema")  # the admin passes the full list (its fieldsets)

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        # Django's unique check asks the default manager, which does not see deleted layers.
        if Layer.all_objects.filter(slug=slug, deleted_at__isnull=False).exclude(
                pk=self.instance.pk).exists():
            raise forms.ValidationError(_(
                "%(slug)s belongs to a deleted layer, restorable for 30 days: restore it from "
                "Deleted layers, or choose another slug.") % {"slug": slug})
        return slug

    def clean_schema(self):
        schema = self.cleaned_data.get("schema") or {}
        if not isinstance(schema, dict) or not isinstance(schema.get("fields", []), list):
            raise forms.ValidationError(_('expected {"fields": [{"name", "type", ...}]}'))
        errors = validate_schema(schema)
        if errors:
            raise forms.ValidationError(errors)
        return schema

    def clean_schema_renames(self):
        renames = {}
        for line in (self.cleaned_data.get("schema_renames") or "").splitlines():
            if not line.strip():
                continue
            old, sep, new = line.partition("=")
            if not sep or not old.strip() or not new.strip():
                raise forms.ValidationError(_("expected lines like: old name = new name"))
            renames[old.strip()] = new.strip()
        return renames

    def clean(self):
        from layers.schema_changes import SchemaChangeError, change_schema

        cleaned = super().clean()
        if self.instance.pk and "schema" in cleaned and not self.errors:
            old = Layer.all_objects.get(pk=self.instance.pk)
            if cleaned["schema"] != old.schema or cleaned.get("schema_renames"):
                try:
                    change_schema(old, cleaned["schema"], renames=cleaned["schema_renames"],
                                  allow_drop=cleaned.get("schema_allow_drop"), dry_run=True)
                except SchemaChangeError as exc:
                    self.add_error("schema", exc.errors)
        return cleaned


class ImportForm(forms.Form):
    file = forms.FileField(label=_("file"), help_text=_(
        "GeoJSON, GeoPackage, zipped Shapefile (.shp, .shx, .dbf, .prj) or CSV"))
    crs = forms.CharField(required=False, label=_("CRS"), help_text=_(
        "EPSG code, e.g. EPSG:2178 (PL-2000 zone 7) or EPSG:2180 (PUWG 1992). Needed for CSV "
        "X/Y and a Shapefile without .prj; overrides the file's own."))
    x = forms.CharField(required=False, label=_("X / longitude column (CSV)"))
    y = forms.CharField(required=False, label=_("Y / latitude column (CSV)"))
    encoding = forms.ChoiceField(required=False, label=_("text encoding"), choices=[
        ("", _("detect")), ("utf-8", "UTF-8"), ("cp1250", "CP1250 (Windows)"),
        ("iso-8859-2", "ISO-8859-2")])
    invalid = forms.ChoiceField(label=_("invalid geometries"), initial="reject", choices=[
        ("reject", _("reject (list them as errors)")),
        ("repair", _("repair with ST_MakeValid (and count them)"))])
    mode = forms.ChoiceField(label=_("mode"), initial="append", choices=[
        ("append", _("append to the layer")),
        ("replace", _("replace all features of the layer"))])
    add_fields = forms.BooleanField(required=False, label=_("add unknown fields to the schema"))
    mapping = forms.CharField(required=False, label=_("field mapping"), widget=forms.Textarea(
        attrs={"rows": 2}), help_text=_('JSON: {"file field": "layer field"}; "" skips a field'))

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                cleaned["options"] = importing.ImportOptions.from_form(
                    {k: v for k, v in cleaned.items() if k != "file"})
            except importing.ImportError_ as exc:
                raise forms.ValidationError(exc.errors) from None
        return cleaned


def options_to_json(options: importing.ImportOptions) -> str:
    return json.dumps({"mode": options.mode, "crs": options.srid, "x": options.x,
                       "y": options.y, "encoding": options.encoding,
                       "invalid": options.invalid, "mapping": options.mapping,
                       "add_fields": options.add_fields, "layer": options.source_layer})


def options_from_json(text: str) -> importing.ImportOptions:
    data = json.loads(text)
    data["mapping"] = json.dumps(data.get("mapping") or {})
    data["add_fields"] = "true" if data.get("add_fields") else "false"
    data = {k: ("" if v is None else v) for k, v in data.items()}
    return importing.ImportOptions.from_form(data)
