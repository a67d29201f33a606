"""Citizen reports: categories (managed by staff), reports, their photos, "me too"s and history.

Personal data is the reporter's and supporters' email only. It is kept here and used for update
emails; nothing public (pages, the `zgloszenia` layer, Open311) ever reads it. Reports change
only through `reports.services`, which records every change in `ReportEvent` and keeps the
layer in sync.
"""

import uuid

from django.contrib.auth.models import User
from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from reports.questions import validate_questions
from sdi.language import localized


class Department(models.Model):
    name_pl = models.CharField(_("name (Polish)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    email = models.EmailField(_("email"), blank=True,
                              help_text=_("Where new reports assigned to it are announced."))

    class Meta:
        ordering = ["name_pl"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self):
        return self.name_pl

    @property
    def name(self) -> str:
        return localized(self, "name")


class Category(models.Model):
    slug = models.SlugField(max_length=63, unique=True,
                            help_text=_("Also the Open311 service_code."))
    name_pl = models.CharField(_("name (Polish)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120, blank=True)
    description_pl = models.TextField(_("description (Polish)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    questions = models.JSONField(
        _("extra questions"), default=list, blank=True,
        help_text=_('A list of {"name", "label_pl", "label_en", "type": text | number | '
                    'boolean | choice, "required", "choices": [{"key", "label_pl", '
                    '"label_en"}]}.'))
    photo_required = models.BooleanField(_("photo required"), default=False)
    duplicate_radius_m = models.PositiveIntegerField(
        _("duplicate radius (m)"), default=50,
        validators=[MinValueValidator(1), MaxValueValidator(5000)],
        help_text=_("Open reports of this category this close are offered as duplicates."))
    trusted = models.BooleanField(
        _("trusted"), default=False,
        help_text=_("Reports are published at once, without waiting for moderation."))
    department = models.ForeignKey(Department, verbose_name=_("department"), null=True,
                                   blank=True, on_delete=models.SET_NULL,
                                   help_text=_("New reports are assigned to it."))
    active = models.BooleanField(_("active"), default=True)
    order = models.IntegerField(_("order"), default=0)

    class Meta:
        ordering = ["order", "name_pl"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self):
        return self.name_pl

    @property
    def name(self) -> str:
        return localized(self, "name")

    @property
    def description(self) -> str:
        return localized(self, "description")

    def clean(self):
        errors = validate_questions(self.questions)
        if errors:
            raise ValidationError({"questions": errors})


class Report(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("new")
        CONFIRMED = "confirmed", _("confirmed")
        IN_PROGRESS = "in_progress", _("in progress")
        FIXED = "fixed", _("fixed")
        REJECTED = "rejected", _("rejected")

    class State(models.TextChoices):
        PENDING = "pending", _("awaiting moderation")
        PUBLISHED = "published", _("published")
        HIDDEN = "hidden", _("hidden")

    OPEN_STATUSES = (Status.NEW, Status.CONFIRMED, Status.IN_PROGRESS)

    category = models.ForeignKey(Category, verbose_name=_("category"),
                                 on_delete=models.PROTECT, related_name="reports")
    geom = models.PointField(srid=4326)
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"))
    answers = models.JSONField(default=dict, blank=True)
    email = models.EmailField(_("email"))
    lang = models.CharField(max_length=8, default="pl")
    channel = models.CharField(max_length=20, default="web")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    status_reason = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    department = models.ForeignKey(Department, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="reports")
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="duplicates")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    fixed_at = models.DateTimeField(null=True, blank=True)
    # The feature of the reports layer mirroring this report while it is public.
    feature_id = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        permissions = [("moderate_report", "Can moderate citizen reports")]
        indexes = [models.Index(fields=["state", "status"])]

    def __str__(self):
        return f"#{self.pk} {self.title}"

    @property
    def is_public(self) -> bool:
        return self.state == self.State.PUBLISHED and self.merged_into_id is None

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @classmethod
    def public(cls):
        return cls.objects.filter(state=cls.State.PUBLISHED, merged_into__isnull=True)


def _photo_path(instance, filename):
    return f"reports/photos/{instance.key}.jpg"


class Photo(models.Model):
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="photos")
    # In the public URL instead of the file name; a redaction gives the photo a new key, so no
    # cache anywhere keeps serving the unredacted image.
    key = models.UUIDField(default=uuid.uuid4, unique=True)
    file = models.FileField(upload_to=_photo_path, max_length=200)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    has_location = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self):
        return f"photo {self.order + 1} of report {self.report_id}"


class Supporter(models.Model):
    """A resident's "me too" on a report; the email (optional) only for update emails."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="supporters")
    email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class ReportEvent(models.Model):
    """One change of a report. `public` events make up the history on the report's page; `data`
    (e.g. the text before an edit) is for moderators only."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", _("reported")
        PUBLISHED = "published", _("published after moderation")
        HIDDEN = "hidden", _("hidden by a moderator")
        STATUS = "status", _("status changed")
        REPLY = "reply", _("reply from the city")
        EDITED = "edited", _("text edited by a moderator")
        ASSIGNED = "assigned", _("assigned to a department")
        MERGED = "merged", _("merged into another report")
        MERGED_FROM = "merged_from", _("duplicate report merged in")
        REDACTED = "redacted", _("photo redacted")
        PHOTO_REMOVED = "photo_removed", _("photo removed")
        ME_TOO = "me_too", _("someone else reported it too")

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    public = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=Report.Status.choices, blank=True)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.kind} #{self.report_id} {self.at:%Y-%m-%d %H:%M}"
