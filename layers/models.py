"""The layer registry and feature storage.

One `Layer` row per dataset, carrying its attribute schema and catalogue metadata; features of
every layer share one table, with their attributes in JSONB validated against the layer schema.
"""

from django.contrib.auth.models import Group
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import F

from layers.schema import validate_properties

# How long a deleted layer can be restored before `purge_deleted_layers` removes it for good.
LAYER_RETENTION_DAYS = 30


class LiveLayerManager(models.Manager):
    """Layers not deleted. The default manager, so that every channel (REST, OGC, tiles, pages,
    downloads) forgets a deleted layer without having to know about soft deletion."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Layer(models.Model):
    class GeometryType(models.TextChoices):
        POINT = "Point"
        LINESTRING = "LineString"
        POLYGON = "Polygon"
        MULTIPOINT = "MultiPoint"
        MULTILINESTRING = "MultiLineString"
        MULTIPOLYGON = "MultiPolygon"
        GEOMETRY = "Geometry"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "public"
        STAFF = "staff", "staff only"

    class Role(models.TextChoices):
        DATA = "data", "data"
        AREAS = "areas", "areas (units for indicators)"
        BOUNDARY = "boundary", "city boundary"

    class PublisherType(models.TextChoices):
        # The ADMS publisher type vocabulary (http://purl.org/adms/publishertype/<value>), which
        # DCAT-AP asks for; national portals sort publishers by it.
        LOCAL_AUTHORITY = "LocalAuthority", "local authority"
        REGIONAL_AUTHORITY = "RegionalAuthority", "regional authority"
        NATIONAL_AUTHORITY = "NationalAuthority", "national authority"
        SUPRANATIONAL_AUTHORITY = "SupraNationalAuthority", "supra-national authority"
        ACADEMIA = "Academia-ScientificOrganisation", "academia / scientific organisation"
        COMPANY = "Company", "company"
        INDUSTRY_CONSORTIUM = "IndustryConsortium", "industry consortium"
        NON_PROFIT = "NonProfitOrganisation", "non-profit organisation"
        NON_GOVERNMENTAL = "NonGovernmentalOrganisation", "non-governmental organisation"
        PRIVATE_INDIVIDUALS = "PrivateIndividual(s)", "private individual(s)"
        STANDARDISATION_BODY = "StandardisationBody", "standardisation body"

    slug = models.SlugField(max_length=63, unique=True)
    title_pl = models.CharField(max_length=200)
    title_en = models.CharField(max_length=200, blank=True)
    description_pl = models.TextField(blank=True)
    description_en = models.TextField(blank=True)
    geometry_type = models.CharField(max_length=20, choices=GeometryType.choices,
                                     default=GeometryType.GEOMETRY)
    schema = models.JSONField(default=dict, blank=True,
                              help_text='{"fields": [{"name", "type", "required", "choices"}]}')
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.DATA)
    name_field = models.CharField(max_length=100, blank=True,
                                  help_text="Property that names a feature (e.g. a district name).")
    visibility = models.CharField(max_length=10, choices=Visibility.choices,
                                  default=Visibility.PUBLIC)
    editor_groups = models.ManyToManyField(Group, blank=True, related_name="editable_layers")

    # Catalogue metadata: one source of truth for admin, catalogue page, OGC Records, downloads.
    publisher = models.CharField(max_length=200, blank=True)
    publisher_type = models.CharField(max_length=40, blank=True, choices=PublisherType.choices,
                                      help_text="Kind of publisher (ADMS), for DCAT-AP.")
    source = models.TextField(blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    licence = models.CharField(max_length=300, blank=True)
    attribution = models.CharField(max_length=500, blank=True)
    update_frequency = models.CharField(max_length=50, blank=True)
    data_date = models.DateField(null=True, blank=True,
                                 help_text="Date the data describes (its reference date).")
    issued = models.DateField(null=True, blank=True,
                              help_text="Date the source first published the data (not when "
                                        "they were loaded here).")
    last_updated = models.DateTimeField(null=True, blank=True)
    quality_notes = models.TextField(blank=True, help_text="Known limits of the data (Polish).")
    quality_notes_en = models.TextField(blank=True, help_text="The same in English.")
    keywords = ArrayField(models.CharField(max_length=80), default=list, blank=True)
    theme = models.CharField(max_length=80, blank=True)
    native_crs = models.CharField(max_length=30, blank=True, help_text="e.g. EPSG:2178")
    synthetic = models.BooleanField(default=False,
                                    help_text="Generated data (benchmarks, demos), not real.")
    # Vector tiles (tiles app): the zooms at which the layer is in tiles, and how many features
    # one tile may carry (which ones are kept: tiles/queries.py). No limit when empty.
    tile_minzoom = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(22)],
        help_text="Smallest zoom at which the layer is in vector tiles.")
    tile_maxzoom = models.PositiveSmallIntegerField(
        default=22, validators=[MaxValueValidator(22)],
        help_text="Largest zoom at which the layer is in vector tiles.")
    tile_feature_limit = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="At most this many features per tile (larger ones first); empty: no limit.")

    # Bumped on every change to the layer's features; every cache keys on it.
    version = models.BigIntegerField(default=1)
    source_checksum = models.CharField(max_length=64, blank=True, editable=False)
    load_report = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Soft deletion: set when deleted, cleared when restored; purged after LAYER_RETENTION_DAYS.
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    deleted_by = models.ForeignKey("auth.User", null=True, blank=True, editable=False,
                                   on_delete=models.SET_NULL, related_name="+")

    objects = LiveLayerManager()
    all_objects = models.Manager()

    class Meta:
        ordering = ["slug"]
        base_manager_name = "all_objects"

    def __str__(self):
        return self.title_pl or self.slug

    @property
    def fields(self) -> list[dict]:
        return list(self.schema.get("fields", []))

    def field_names(self) -> list[str]:
        return [f["name"] for f in self.fields]

    def validate_properties(self, properties: dict) -> list[str]:
        return validate_properties(self.schema, properties)

    def bump_version(self) -> None:
        Layer.objects.filter(pk=self.pk).update(version=F("version") + 1)
        self.refresh_from_db(fields=["version"])


class Feature(models.Model):
    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="features")
    geom = models.GeometryField(srid=4326)
    properties = models.JSONField(default=dict, blank=True)
    version = models.IntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["layer", "id"], name="feature_layer_id"),
            GinIndex(fields=["properties"], name="feature_properties_gin"),
        ]

    def __str__(self):
        name = self.properties.get(self.layer.name_field) if self.layer.name_field else None
        return f"{self.layer.slug} #{self.pk}" + (f" {name}" if name else "")

    @property
    def name(self) -> str:
        if self.layer.name_field and self.properties.get(self.layer.name_field) is not None:
            return str(self.properties[self.layer.name_field])
        return f"#{self.pk}"


class FeatureHistory(models.Model):
    """One row per change of a feature, whatever the channel (admin, REST, OGC, import)."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="history")
    # Not a foreign key: the history of a deleted feature must outlive it.
    feature_id = models.BigIntegerField(db_index=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    version = models.IntegerField(help_text="Feature version after the change")
    user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    channel = models.CharField(max_length=20, blank=True, help_text="admin, api, ogc, import…")
    batch = models.UUIDField(null=True, blank=True, db_index=True,
                             help_text="Groups the changes of one import or bulk edit.")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "feature history"

    def __str__(self):
        return f"{self.action} {self.layer.slug}#{self.feature_id} v{self.version}"


class DeletedLayerManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=False)


class DeletedLayer(Layer):
    """Deleted layers awaiting restore or purge (the admin's wastebasket)."""

    objects = DeletedLayerManager()

    class Meta:
        proxy = True
        verbose_name = "deleted layer"


class ImportRun(models.Model):
    """One file import into a layer: its report, and the history batch it wrote (for revert)."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="imports")
    batch = models.UUIDField(unique=True)
    user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    filename = models.CharField(max_length=255)
    mode = models.CharField(max_length=10, default="append")
    features = models.IntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey("auth.User", null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.filename} → {self.layer.slug} ({self.at:%Y-%m-%d %H:%M})"


class SchemaChangeLog(models.Model):
    """One change of a layer's attribute schema (added, renamed, retyped or removed fields):
    who, when, through which channel, the schema before and after, and the history batch of the
    features changed with it. Written only through layers.schema_changes.log_change."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="schema_changes")
    user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    channel = models.CharField(max_length=20, blank=True, help_text="admin, api, import…")
    summary = models.JSONField(default=dict, blank=True,
                               help_text="added, renamed, retyped, dropped, features_changed")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    batch = models.UUIDField(null=True, blank=True,
                             help_text="History batch of the features changed with it "
                                       "(values migrated, or the import that added fields).")
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "schema change"

    def __str__(self):
        return f"{self.layer.slug} schema ({self.at:%Y-%m-%d %H:%M})"
