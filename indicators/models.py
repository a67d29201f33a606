"""Urban-audit indicators: definitions, values per (indicator, area, period, source), the
disagreements between sources, and the datasets the city knows it lacks."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from layers.models import Feature, Layer

# ISO 37120:2018 "Sustainable cities and communities — Indicators for city services and quality
# of life", its 19 themes (clauses 5–23), in the standard's order.
ISO_37120_THEMES = (
    "Economy", "Education", "Energy", "Environment and climate change", "Finance",
    "Governance", "Health", "Housing", "Population and social conditions", "Recreation",
    "Safety", "Solid waste", "Sport and culture", "Telecommunication", "Transportation",
    "Urban/local agriculture and food security", "Urban planning", "Wastewater", "Water",
)


class Indicator(models.Model):
    class Polarity(models.TextChoices):
        HIGHER_IS_BETTER = "higher", "higher is better"
        LOWER_IS_BETTER = "lower", "lower is better"
        NEUTRAL = "neutral", "neutral"

    class Classification(models.TextChoices):
        QUANTILES = "quantiles", "quantiles"
        EQUAL_INTERVAL = "equal_interval", "equal intervals"
        NATURAL_BREAKS = "natural_breaks", "natural breaks (Fisher-Jenks)"

    code = models.SlugField(max_length=80, unique=True)
    name_pl = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200, blank=True)
    description_pl = models.TextField(blank=True)
    description_en = models.TextField(blank=True)
    unit = models.CharField(max_length=40, blank=True)
    theme = models.CharField(max_length=80, choices=[(t, t) for t in ISO_37120_THEMES],
                             help_text="ISO 37120:2018 theme")
    iso_reference = models.CharField(
        max_length=200, blank=True,
        help_text="ISO 37120 / ISO 37122 indicator this one corresponds to, if any.")
    eurostat_reference = models.CharField(
        max_length=200, blank=True,
        help_text="Eurostat City Statistics (Urban Audit) variable, if one corresponds.")
    polarity = models.CharField(max_length=10, choices=Polarity.choices,
                                default=Polarity.NEUTRAL)
    methodology = models.TextField(blank=True)
    # Declarative method, e.g. {"kind": "density", "layer": "placowki-oswiatowe",
    # "where": {"amenity": "school"}}; indicators.methods documents and validates the kinds.
    method = models.JSONField(default=dict)
    area_layers = models.ManyToManyField(Layer, related_name="indicators",
                                         limit_choices_to={"role": "areas"})
    city_wide = models.BooleanField(
        default=True,
        help_text="Also compute one value for the whole city, over the city boundary layer, "
                  "with the same method (so it is weighted, never an average of averages).")
    source = models.CharField(max_length=300, blank=True,
                              help_text="Where the value comes from, shown next to every value "
                                        "(in Polish; also the source name its values carry).")
    source_en = models.CharField(max_length=300, blank=True,
                                 help_text="The same in English, for the English pages.")
    licence = models.CharField(max_length=300, blank=True,
                               help_text="Licence of the input data the values derive from.")
    decimals = models.PositiveSmallIntegerField(default=2)
    classes = models.PositiveSmallIntegerField(default=5)
    classification = models.CharField(max_length=20, choices=Classification.choices,
                                      default=Classification.QUANTILES)
    colour_scheme = models.CharField(
        max_length=20, blank=True,
        help_text="ColorBrewer scheme (e.g. YlGnBu, RdYlGn); empty: chosen by polarity.")
    tolerance = models.FloatField(
        default=0, help_text="Two sources may differ by this much (in the unit) without a "
                             "discrepancy being recorded.")
    tolerance_relative = models.FloatField(
        default=0, help_text="… or by this percentage of the larger value, whichever is more.")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "code"]

    def __str__(self):
        return self.name_pl

    def clean(self):
        from indicators.definitions import RESERVED_CODES
        from indicators.methods import input_layers, validate
        if self.code in RESERVED_CODES:
            raise ValidationError({"code": f"{self.code!r} is reserved (an API path)"})
        errors = validate(self.method)
        for slug in input_layers(self.method) if not errors else []:
            if not (Layer.objects.filter(slug=slug).exists()
                    or WantedDataset.objects.filter(layer_slug=slug).exists()):
                errors.append(f"input layer {slug!r} neither exists nor is a wanted dataset")
        if errors:
            raise ValidationError({"method": errors})
        if self.tolerance < 0 or self.tolerance_relative < 0:
            raise ValidationError("tolerances cannot be negative")

    def allowed_difference(self, a: float, b: float) -> float:
        return max(self.tolerance, self.tolerance_relative / 100 * max(abs(a), abs(b)))


class IndicatorValue(models.Model):
    class Status(models.TextChoices):
        OK = "ok"
        STALE = "stale"
        DISPUTED = "disputed"
        MISSING = "missing"

    class Origin(models.TextChoices):
        COMPUTED = "computed"
        IMPORTED = "imported"

    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="values")
    area = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="indicator_values")
    period = models.CharField(max_length=20)
    source = models.CharField(max_length=300)
    value = models.FloatField(null=True, blank=True)
    # One status, by precedence: missing (no value) > stale (an input changed since) >
    # disputed (another source disagrees beyond the tolerance) > ok.
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OK)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.COMPUTED)
    note = models.CharField(max_length=300, blank=True,
                            help_text="Why a value is missing, or what it was derived from.")
    computed_at = models.DateTimeField(auto_now=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    # {layer slug: layer version} the value was computed from: staleness is a comparison.
    input_versions = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["indicator", "area", "period", "source"],
                                    name="indicator_value_unique"),
        ]
        indexes = [models.Index(fields=["indicator", "period"])]

    def __str__(self):
        return f"{self.indicator.code} {self.area_id} {self.period}: {self.value}"


class Discrepancy(models.Model):
    """Two or more sources give one indicator, area and period values further apart than the
    indicator's tolerance. The figures are shown side by side, never silently merged; staff
    write why they differ before the record can be marked reviewed."""

    class Status(models.TextChoices):
        OPEN = "open", "open (needs an explanation)"
        REVIEWED = "reviewed", "reviewed (explained)"
        RESOLVED = "resolved", "resolved (the sources agree again)"

    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE,
                                  related_name="discrepancies")
    area = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=20)
    values = models.JSONField(default=dict, help_text="{source: value} when last detected")
    spread = models.FloatField(help_text="largest minus smallest value")
    allowed = models.FloatField(help_text="the indicator's tolerance for these values")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    explanation = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "discrepancies"
        ordering = ["status", "indicator", "area_id", "period"]
        constraints = [
            models.UniqueConstraint(fields=["indicator", "area", "period"],
                                    name="discrepancy_unique"),
            # The rule holds for every write path, not only the admin form.
            models.CheckConstraint(
                condition=~Q(status="reviewed") | ~Q(explanation__regex=r"^\s*$"),
                name="discrepancy_reviewed_needs_explanation"),
        ]

    def __str__(self):
        return f"{self.indicator.code} {self.area_id} {self.period}: {self.values}"

    def clean(self):
        if self.status == self.Status.REVIEWED and not self.explanation.strip():
            raise ValidationError({"explanation": "Write why the sources differ before "
                                                  "marking the discrepancy reviewed."})


class WantedDataset(models.Model):
    """A dataset the city needs for its indicators but does not have (declared in the city's
    fixtures, never filled with invented data). The gap matrix names it where it would help."""

    code = models.SlugField(max_length=80, unique=True)
    title_pl = models.CharField(max_length=200)
    title_en = models.CharField(max_length=200, blank=True)
    description_pl = models.TextField(blank=True)
    description_en = models.TextField(blank=True)
    owner = models.CharField(max_length=300, blank=True,
                             help_text="Who holds (or should produce) the data.")
    where_to_get = models.TextField(blank=True)
    layer_slug = models.SlugField(max_length=63, blank=True,
                                  help_text="Slug of the layer it would become, if spatial.")
    indicators = models.ManyToManyField(Indicator, blank=True, related_name="wanted_datasets",
                                        help_text="Indicators it would fill.")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "code"]

    def __str__(self):
        return self.title_pl
