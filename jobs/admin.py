"""Jobs for staff, read-only: every long job with its state and progress, failures first to the
eye (filter by state and kind: failed mails are kind `mail.send`, state failed). A failed or
cancelled job can be submitted again (same kind and payload) by users allowed to add jobs."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from jobs.models import Job
from jobs.service import KINDS, submit
from sdi.admin_readonly import NoManualEdits


def describe_progress(job: Job) -> str:
    progress = job.progress or {}
    stage = next((s for s in progress.get("stages", []) if s["name"] == progress.get("stage")),
                 None)
    parts = []
    if stage:
        total = f" / {stage['total']:,}" if stage.get("total") else ""
        parts.append(f"{stage['name']}: {stage.get('done', 0):,}{total}".replace(",", "\u202f"))
    if progress.get("fraction") is not None:
        parts.append(f"{progress['fraction'] * 100:.0f}%")
    return " · ".join(parts)


@admin.register(Job)
class JobAdmin(NoManualEdits, admin.ModelAdmin):
    list_display = ("id", "kind", "state_badge", "progress_bar", "concerns_label", "user",
                    "attempts", "created_at", "finished_at", "short_error")
    list_filter = ("state", "kind")
    search_fields = ("kind", "concerns_label", "error", "user__username")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    fields = ("kind", "state", "progress_text", "error", "attempts", "user", "concerns_type",
              "concerns_id", "concerns_label", "payload_json", "result_json", "created_at",
              "started_at", "finished_at", "updated_at", "procrastinate_id", "cancel_requested")
    readonly_fields = fields
    actions = ["submit_again"]

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, job):
        colour = {"failed": "#ba2121", "succeeded": "#2b7a0b", "cancelled": "#777"}.get(
            job.state, "#205067")
        return format_html('<strong style="color:{}">{}</strong>', colour,
                           job.get_state_display())

    @admin.display(description=_("progress"))
    def progress_bar(self, job):
        fraction = (job.progress or {}).get("fraction")
        text = describe_progress(job)
        if fraction is None:
            return text
        return format_html('<progress max="100" value="{}"></progress> {}',
                           round(fraction * 100), text)

    @admin.display(description=_("progress"))
    def progress_text(self, job):
        return describe_progress(job) or "-"

    @admin.display(description=_("error"))
    def short_error(self, job):
        return job.error if len(job.error) <= 120 else job.error[:119] + "…"

    @admin.display(description=_("payload"))
    def payload_json(self, job):
        return format_html("<pre>{}</pre>", json.dumps(job.payload, indent=2,
                                                       ensure_ascii=False))

    @admin.display(description=_("result"))
    def result_json(self, job):
        return format_html("<pre>{}</pre>", json.dumps(job.result, indent=2,
                                                       ensure_ascii=False))

    def has_resubmit_permission(self, request):
        return request.user.has_perm("jobs.add_job")

    @admin.action(description=_("Submit the selected failed or cancelled jobs again"),
                  permissions=["resubmit"])
    def submit_again(self, request, queryset):
        again = 0
        for job in queryset.filter(state__in=(Job.State.FAILED, Job.State.CANCELLED)):
            if job.kind in KINDS and not KINDS[job.kind].periodic:
                submit(job.kind, job.payload, user=job.user, concerns=job.concerns,
                       label=job.concerns_label)
                again += 1
        self.message_user(request, ngettext("%d job submitted again.",
                                            "%d jobs submitted again.", again) % again,
                          messages.SUCCESS if again else messages.WARNING)
