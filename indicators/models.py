"""Urban-audit indicators: definitions and values per (indicator, area, period, source)."""

from django.db import models

from layers.models import Feature, Layer


class Indicator(models.Model):
    class Polarity(models.TextChoices):
        HIGHER_IS_BETTER = "higher", "higher is better"
        LOWER_IS_BETTER = "lower", "lower is better"
        NEUTRAL = "neutral", "neutral"

    code = models.SlugField(max_length=80, unique=True)
    name_pl = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200, blank=True)
    description_pl = models.TextField(blank=True)
    description_en = models.TextField(blank=True)
    unit = models.CharField(max_length=40, blank=True)
    theme = models.CharField(max_length=80, blank=True, help_text="ISO 37120:2018 theme")
    iso_reference = models.CharField(max_length=120, blank=True)
    polarity = models.CharField(max_length=10, choices=Polarity.choices,
                                default=Polarity.NEUTRAL)
    methodology = models.TextField(blank=True)
    # Declarative method, e.g. {"kind": "density", "layer": "placowki-oswiatowe",
    # "where": {"amenity": "school"}}; see indicators.methods for the kinds.
    method = models.JSONField(default=dict)
    area_layers = models.ManyToManyField(Layer, related_name="indicators",
                                         limit_choices_to={"role": "areas"})
    source = models.CharField(max_length=300, blank=True,
                              help_text="Where the value comes from, shown next to every value.")
    decimals = models.PositiveSmallIntegerField(default=2)
    classes = models.PositiveSmallIntegerField(default=5)
    classification = models.CharField(max_length=20, default="quantiles")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "code"]

    def __str__(self):
        return self.name_pl


class IndicatorValue(models.Model):
    class Status(models.TextChoices):
        OK = "ok"
        STALE = "stale"
        DISPUTED = "disputed"
        MISSING = "missing"

    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="values")
    area = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="indicator_values")
    period = models.CharField(max_length=20)
    source = models.CharField(max_length=300)
    value = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OK)
    computed_at = models.DateTimeField(auto_now=True)
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
