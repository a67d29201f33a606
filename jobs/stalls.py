"""Jobs cut off by a dead worker: found by procrastinate's worker heartbeats, never left running.

Every worker writes a heartbeat every few seconds (procrastinate_workers). A job in procrastinate's
"doing" state whose worker has been silent for JOBS_STALLED_SECONDS (or whose worker row is gone)
was cut off: SIGKILL, a crash, the machine restarting. Its transaction died with its connection,
so nothing it wrote remains (jobs.service); here it is recorded as failed, with a message that
says what happened, or queued again for kinds that ask for it (mail).

`settle()` runs on a schedule in every worker (jobs.tasks.settle_stalled_jobs) and on each read
of an unfinished job through the API, so a job is reported failed even while no worker runs.
It also settles records whose queue entry ended or vanished without the task recording its
outcome (the database went away at the worst moment).
"""

import datetime
import logging

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from procrastinate import jobs as procrastinate_jobs
from procrastinate import manager
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.contrib.django.models import ProcrastinateJob, ProcrastinateWorker

from jobs.models import Job
from jobs.service import KINDS

log = logging.getLogger("sdi.jobs")

UNFINISHED = Job.UNFINISHED
ENDED = ("succeeded", "failed", "cancelled", "aborted")


def queue_manager() -> manager.JobManager:
    # procrastinate's job manager on Django's own connection (also inside a worker, whose app
    # runs on an asynchronous pool), so that this works the same from any synchronous code.
    return manager.JobManager(DjangoConnector(alias="default"))


def stalled_message(since: datetime.datetime | None) -> str:
    when = f" at {timezone.localtime(since):%Y-%m-%d %H:%M:%S}" if since else ""
    return ("interrupted: the worker running this job stopped (killed, crashed or restarted)"
            f"{when} before the job finished; nothing it wrote was kept. Submit it again.")


def stalled_queue_jobs(seconds: float | None = None):
    """procrastinate jobs "doing" on a worker silent for `seconds` (or gone)."""
    seconds = settings.JOBS_STALLED_SECONDS if seconds is None else seconds
    cutoff = timezone.now() - datetime.timedelta(seconds=seconds)
    return ProcrastinateJob.objects.filter(status="doing").filter(
        Q(worker__isnull=True) | Q(worker__last_heartbeat__lt=cutoff))


def settle(job_ids: list[int] | None = None) -> list[int]:
    """Settle the stalled jobs (of `job_ids`, or all); returns the ids of our jobs settled."""
    stalled = stalled_queue_jobs().select_related("worker")
    if job_ids is not None:
        wanted = Job.objects.filter(pk__in=job_ids, state__in=UNFINISHED,
                                    procrastinate_id__isnull=False)
        stalled = stalled.filter(id__in=wanted.values("procrastinate_id"))
    settled = []
    mgr = queue_manager()
    for queue_job in stalled:
        ours = Job.objects.filter(procrastinate_id=queue_job.id, state__in=UNFINISHED).first()
        kind = KINDS.get(queue_job.task_name)
        since = queue_job.worker.last_heartbeat if queue_job.worker_id else None
        if kind is not None and kind.retry_stalled:
            mgr.retry_job_by_id(queue_job.id, retry_at=timezone.now())
            if ours is not None:
                Job.objects.filter(pk=ours.pk, state__in=UNFINISHED).update(
                    state=Job.State.QUEUED,
                    error=f"attempt {ours.attempts} was cut off: {stalled_message(since)}"
                          .replace(" Submit it again.", " It will be tried again."))
        else:
            with transaction.atomic():
                async_to_sync(mgr.finish_job_by_id_async)(
                    job_id=queue_job.id, status=procrastinate_jobs.Status.FAILED,
                    delete_job=False)
                if ours is not None:
                    Job.objects.filter(pk=ours.pk, state__in=UNFINISHED).update(
                        state=Job.State.FAILED, error=stalled_message(since),
                        finished_at=timezone.now())
        log.warning("job %s (%s, queue job %s) stalled: its worker stopped reporting",
                    ours.pk if ours else "-", queue_job.task_name, queue_job.id)
        if ours is not None:
            settled.append(ours.pk)
    settled += _settle_orphans(job_ids)
    return settled


def _settle_orphans(job_ids: list[int] | None) -> list[int]:
    """Our records still unfinished although their queue entry ended or is gone."""
    unfinished = Job.objects.filter(state__in=UNFINISHED, procrastinate_id__isnull=False)
    if job_ids is not None:
        unfinished = unfinished.filter(pk__in=job_ids)
    ended = ProcrastinateJob.objects.filter(status__in=ENDED)
    orphans = unfinished.filter(
        Q(procrastinate_id__in=ended.values("id"))
        | ~Q(procrastinate_id__in=ProcrastinateJob.objects.values("id")))
    settled = []
    for job in orphans:
        done = Job.objects.filter(pk=job.pk, state__in=UNFINISHED).update(
            state=Job.State.FAILED, finished_at=timezone.now(),
            error="the job ended without recording its outcome (its worker lost the "
                  "database); nothing it wrote was kept. Submit it again.")
        if done:
            settled.append(job.pk)
    return settled


def live_workers(seconds: float | None = None) -> int:
    """Workers that sent a heartbeat within `seconds` (JOBS_STALLED_SECONDS)."""
    seconds = settings.JOBS_STALLED_SECONDS if seconds is None else seconds
    cutoff = timezone.now() - datetime.timedelta(seconds=seconds)
    return ProcrastinateWorker.objects.filter(last_heartbeat__gte=cutoff).count()
