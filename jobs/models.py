"""The record every long job reports through: what it is, who asked, what it concerns, where it
stands (state, progress), and how it ended (result or a precise error).

procrastinate keeps its own queue rows (`procrastinate_jobs`); this is ours, for people: it is
what `/api/jobs/<id>/` and the admin show, and it outlives procrastinate's rows.
"""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _


class Job(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)
    UNFINISHED = (State.QUEUED, State.RUNNING)

    kind = models.CharField(_("kind"), max_length=100, db_index=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices,
                             default=State.QUEUED, db_index=True)
    # The task's arguments (JSON), as given to jobs.submit.
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    # {"stage": name, "stages": [{"name", "done", "total"}...], "fraction": 0..1 or null,
    #  "message": text}; written by the running task (jobs.progress), throttled.
    progress = models.JSONField(_("progress"), default=dict, blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)
    # What went wrong, for the person who asked: never a traceback or a server path.
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("requested by"),
                             null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="jobs")
    # The object the job concerns (a layer, a report...): a generic link, so that this app
    # depends on none of the apps whose work it runs. The label survives the object.
    concerns_type = models.ForeignKey(ContentType, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    concerns_id = models.CharField(max_length=64, blank=True)
    concerns = GenericForeignKey("concerns_type", "concerns_id")
    concerns_label = models.CharField(_("concerns"), max_length=200, blank=True)
    procrastinate_id = models.BigIntegerField(_("queue job id"), null=True, blank=True,
                                              db_index=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Last write by the job itself (start, progress, end).
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        indexes = [models.Index(fields=["concerns_type", "concerns_id"],
                                name="job_concerns")]

    def __str__(self):
        return f"{self.kind} #{self.pk} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in self.FINISHED

    @property
    def fraction(self) -> float | None:
        return (self.progress or {}).get("fraction")
