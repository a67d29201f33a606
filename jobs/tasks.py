"""The queue's own upkeep, run by every worker: settling jobs whose worker died, and forgetting
finished jobs after JOBS_KEEP_DAYS. Mail through the queue is declared in jobs.mail."""

import datetime

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone
from procrastinate.contrib.django import app

from jobs import mail, stalls  # noqa: F401 - mail declares its kind on import
from jobs.models import Job
from jobs.service import task


@app.periodic(cron=f"* * * * * */{settings.JOBS_SETTLE_EVERY_SECONDS}")
@app.task(name="jobs.settle_stalled", queueing_lock="jobs.settle_stalled")
def settle_stalled_jobs(timestamp: int):
    return {"settled": stalls.settle()}


@task("jobs.purge", periodic="40 3 * * *")
def purge_finished_jobs(job, progress):
    """Daily: finished jobs older than JOBS_KEEP_DAYS go (with the personal data their payloads
    may hold, such as mail addresses), and so do procrastinate's rows of them."""
    cutoff = timezone.now() - datetime.timedelta(days=settings.JOBS_KEEP_DAYS)
    deleted, _ = Job.objects.filter(state__in=Job.FINISHED, finished_at__lt=cutoff).delete()
    async_to_sync(stalls.queue_manager().delete_old_jobs)(
        nb_hours=settings.JOBS_KEEP_DAYS * 24, include_failed=True, include_cancelled=True,
        include_aborted=True)
    return {"deleted": deleted, "older_than": cutoff.isoformat()}
