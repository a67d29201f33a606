"""Long work as jobs: the API that task code and views use.

    @jobs.task("layers.export")                      # declares a kind (a procrastinate task)
    def export_layer(job, progress):
        progress.update("written", done=0, total=n)  # throttled; pollers see it at once
        ...
        return {"features": n, "links": {...}}      # the job's result (JSON)

    job = jobs.submit("layers.export", {"layer": 7}, user=request.user, concerns=layer)
    # -> a Job (queued); /api/jobs/<job.pk>/ follows it

Code that is not a declared kind can report through a Job itself:
`with jobs.running(job) as progress: ...; progress.result = {...}`.

The contract every task keeps (and that `running` enforces):

- **All of a task's database writes happen in one transaction**, opened by `running` around the
  task's body. The job's success is written in that same transaction, so a job is "succeeded"
  exactly when its work is committed. When the task raises, or its worker is killed (SIGKILL,
  OOM, a restart), PostgreSQL rolls the transaction back: nothing is left half-written. Files
  are written to a temporary name and given their final name only at the end (media storage
  does this); work outside the database that cannot be undone (a mail sent) may be repeated by
  a retry, never lost.
- Progress, the start and failures are written on a separate connection in short transactions
  of their own, so that `/api/jobs/<id>/` shows them while the work's transaction is still open.
- A failure is recorded as a precise message for the person who asked (`JobError`'s text, or
  the kind's declared error types'); any other exception is recorded by its class alone and
  logged in full for staff: never a traceback or a server path in the job.
- A job whose worker stops (killed, crashed, restarted) is found by procrastinate's worker
  heartbeats: once its worker has been silent for JOBS_STALLED_SECONDS, the job is recorded as
  failed with a message that says so (jobs.stalls), or queued again for kinds declared
  `retry_stalled` (mail). It is never left "running".
- Cancelling (jobs.cancel) stops a queued job at once; a running one stops at its next progress
  update, and its transaction is rolled back.
"""

import datetime
import json
import logging
import smtplib
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone
from procrastinate import exceptions as procrastinate_exceptions
from procrastinate.contrib.django import app
from procrastinate.job_context import AbortReason

from jobs.models import Job

log = logging.getLogger("sdi.jobs")

JOBS_TABLE = Job._meta.db_table
QUEUE = "default"


class JobError(Exception):
    """A failure to report to the person who asked, word for word: say precisely what went wrong
    (which object, which value, why), with no server paths or internals."""


class JobCancelled(Exception):
    """Raised in the task by a progress update once someone cancelled the job."""


class JobSettled(Exception):
    """The job is no longer queued (cancelled, or settled after a stall) and must not run."""


@dataclass
class Kind:
    name: str
    func: Callable
    errors: tuple = ()
    retry_stalled: bool = False
    periodic: str | None = None
    task: object = field(default=None, repr=False)


KINDS: dict[str, Kind] = {}


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise LookupError(f"no job kind {name!r}; known: {', '.join(sorted(KINDS))}") from None


# --- errors ---------------------------------------------------------------------------------

def describe(exc: BaseException, errors: tuple = ()) -> str:
    """The message a job records for `exc`: the text of errors meant for people, otherwise the
    kind of failure without its details (those may hold paths or data; they go to the log)."""
    if isinstance(exc, (JobError, JobCancelled, *errors)):
        return str(exc) or exc.__class__.__name__
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        return f"the mail server refused the message: {exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"the mail server refused {len(exc.recipients)} recipient(s)"
    if isinstance(exc, smtplib.SMTPException):
        return f"mail could not be sent ({exc.__class__.__name__}: {exc})"
    if isinstance(exc, OSError) and exc.strerror:
        # strerror alone: the filename an OSError carries is a server path.
        return f"{exc.__class__.__name__}: {exc.strerror}"
    return (f"unexpected error ({exc.__class__.__name__}); the details are in the worker's log "
            "for staff")


# --- submitting -----------------------------------------------------------------------------

def submit(kind_name: str, payload: dict | None = None, *, user=None, concerns=None,
           label: str = "", priority: int = 0) -> Job:
    """Queue a job of `kind_name` with `payload` (JSON) for `user`, concerning `concerns` (any
    model instance). The job and its queue entry are written in the caller's transaction: if
    the caller rolls back, no job was ever queued."""
    kind(kind_name)
    payload = payload or {}
    json.dumps(payload)  # a payload the queue cannot carry fails here, not in the worker
    with transaction.atomic():
        job = Job(kind=kind_name, payload=payload,
                  user=user if user is not None and user.is_authenticated else None,
                  concerns_label=(label or (str(concerns) if concerns is not None else ""))[:200])
        if concerns is not None:
            job.concerns_type = ContentType.objects.get_for_model(concerns)
            job.concerns_id = str(concerns.pk)
        job.save()
        job.procrastinate_id = app.configure_task(name=kind_name, queue=QUEUE,
                                                  priority=priority).defer(job_id=job.pk)
        Job.objects.filter(pk=job.pk).update(procrastinate_id=job.procrastinate_id)
    return job


def cancel(job: Job, *, by=None) -> bool:
    """Cancel `job`: a queued one at once, a running one at its next progress update (its
    writes are rolled back). False when it had already finished."""
    who = f" by {by.get_username()}" if by is not None and by.is_authenticated else ""
    with transaction.atomic():
        locked = Job.objects.select_for_update().filter(pk=job.pk).first()
        if locked is None or locked.finished:
            return False
        if locked.state == Job.State.QUEUED and locked.procrastinate_id and \
                app.job_manager.cancel_job_by_id(locked.procrastinate_id):
            Job.objects.filter(pk=job.pk).update(
                state=Job.State.CANCELLED, finished_at=timezone.now(),
                error=f"cancelled{who} before it started", cancel_requested=True)
        else:
            Job.objects.filter(pk=job.pk).update(cancel_requested=True,
                                                 error=f"cancellation requested{who}")
    job.refresh_from_db()
    return True


# --- running --------------------------------------------------------------------------------

class Progress:
    """What a running task reports: stages with counts, a 0-1 fraction where known, a message;
    and, at the end, its result. Writes go through a connection of their own, at most every
    JOBS_PROGRESS_SECONDS (a new stage is written at once)."""

    def __init__(self, job: Job, *,
                 should_abort: Callable[[], AbortReason | None] | None = None):
        self.job = job
        self.result = None
        self.state = dict(job.progress or {})
        self.state.setdefault("stages", [])
        self._should_abort = should_abort
        self._written = 0.0
        self._connection = None

    # The task's side -----------------------------------------------------------------------

    def update(self, stage: str | None = None, done: int | None = None,
               total: int | None = None, *, fraction: float | None = None,
               message: str | None = None, force: bool = False) -> None:
        """Report `done` of `total` in `stage` (totals may be unknown: None). The overall
        `fraction` defaults to the stage's done/total when it has a total."""
        new_stage = stage is not None and stage != self.state.get("stage")
        if stage is not None:
            entry = self._stage(stage)
            if done is not None:
                entry["done"] = int(done)
            if total is not None:
                entry["total"] = int(total)
            self.state["stage"] = stage
            if fraction is None and entry.get("total"):
                fraction = min(1.0, entry.get("done", 0) / entry["total"])
        if fraction is not None:
            self.state["fraction"] = round(max(0.0, min(1.0, float(fraction))), 4)
        if message is not None:
            self.state["message"] = message[:500]
        if force or new_stage or time.monotonic() - self._written >= settings.JOBS_PROGRESS_SECONDS:
            self.flush()

    def advance(self, stage: str, n: int = 1, **kwargs) -> None:
        """Add `n` to the stage's count."""
        self.update(stage, self._stage(stage).get("done", 0) + n, **kwargs)

    def _stage(self, name: str) -> dict:
        for entry in self.state["stages"]:
            if entry["name"] == name:
                return entry
        entry = {"name": name, "done": 0, "total": None}
        self.state["stages"].append(entry)
        return entry

    def flush(self) -> None:
        """Write the progress now (committed at once), then stop if the job was cancelled or
        the worker is shutting down."""
        self._written = time.monotonic()
        row = self._execute(f"UPDATE {JOBS_TABLE} SET progress = %s, updated_at = now() "
                            "WHERE id = %s AND state = 'running' RETURNING cancel_requested",
                            [json.dumps(self.state), self.job.pk])
        if row is None:
            raise JobSettled(f"job {self.job.pk} was settled while it ran (taken for stalled); "
                             "its writes are rolled back")
        if row[0]:
            raise JobCancelled("cancelled while running; nothing it wrote was kept")
        reason = self._should_abort() if self._should_abort else None
        if reason is not None:
            raise procrastinate_exceptions.JobAborted(reason.value)

    # The framework's side ------------------------------------------------------------------

    def _execute(self, sql: str, params: list):
        if self._connection is None:
            # A connection of its own, in autocommit: each write is committed at once, whatever
            # the task's transaction on the default connection is doing.
            self._connection = connections.create_connection(DEFAULT_DB_ALIAS)
        with self._connection.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone() if cur.description else None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def start(self, procrastinate_id: int | None) -> None:
        row = self._execute(
            f"UPDATE {JOBS_TABLE} SET state = 'running', started_at = coalesce(started_at, now()),"
            " attempts = attempts + 1, updated_at = now(), error = '',"
            " procrastinate_id = coalesce(%s, procrastinate_id) "
            "WHERE id = %s AND state = 'queued' AND NOT cancel_requested RETURNING attempts",
            [procrastinate_id, self.job.pk])
        if row is None:
            self._execute(f"UPDATE {JOBS_TABLE} SET state = 'cancelled', finished_at = now(), "
                          "updated_at = now() WHERE id = %s AND state = 'queued'",
                          [self.job.pk])
            raise JobSettled(f"job {self.job.pk} is no longer queued")
        self.job.state = Job.State.RUNNING
        self.job.attempts = row[0]

    def succeed(self) -> None:
        """Inside the task's transaction: the job succeeded exactly when its work commits."""
        if "fraction" in self.state or self.state["stages"]:
            self.state["fraction"] = 1.0
        done = Job.objects.filter(pk=self.job.pk, state=Job.State.RUNNING).update(
            state=Job.State.SUCCEEDED, result=self.result, progress=self.state, error="",
            finished_at=timezone.now())
        if not done:
            # Settled meanwhile (its worker was taken for dead): keep the record true.
            raise JobSettled(f"job {self.job.pk} was settled while it ran; its writes are "
                             "rolled back")
        self.job.state = Job.State.SUCCEEDED

    def fail(self, state: str, error: str, *, finished: bool = True) -> None:
        self._execute(
            f"UPDATE {JOBS_TABLE} SET state = %s, error = %s, progress = %s, updated_at = now(),"
            f" finished_at = {'now()' if finished else 'NULL'} "
            "WHERE id = %s AND state = 'running'",
            [state, error[:2000], json.dumps(self.state), self.job.pk])
        self.job.state, self.job.error = state, error


@contextmanager
def running(job: Job, *, procrastinate_id: int | None = None,
            will_retry: Callable[[BaseException], datetime.datetime | None] | None = None,
            should_abort: Callable[[], AbortReason | None] | None = None,
            errors: tuple = ()):
    """Run the body as `job`'s work: in one transaction, reporting through the Progress it
    yields, recording success (with `progress.result`) or failure. Raises JobSettled (before
    the body) when the job is no longer queued."""
    progress = Progress(job, should_abort=should_abort)
    try:
        progress.start(procrastinate_id)
        try:
            with transaction.atomic():
                yield progress
                progress.succeed()
        except JobSettled:
            raise
        except JobCancelled as exc:
            progress.fail(Job.State.CANCELLED, str(exc))
            raise
        except procrastinate_exceptions.JobAborted as exc:
            if str(exc) == AbortReason.USER_REQUEST.value:
                progress.fail(Job.State.CANCELLED, "cancelled while running; nothing it wrote "
                                                   "was kept")
            else:
                progress.fail(Job.State.FAILED, "interrupted: the worker was shut down before "
                                                "the job finished; nothing it wrote was kept. "
                                                "Submit it again.")
            raise
        except BaseException as exc:
            message = describe(exc, errors)
            retry_at = will_retry(exc) if will_retry else None
            if retry_at is not None:
                when = timezone.localtime(retry_at).strftime("%Y-%m-%d %H:%M:%S")
                progress.fail(Job.State.QUEUED, f"attempt {job.attempts} failed: {message}; "
                                                f"next attempt at {when}", finished=False)
            else:
                progress.fail(Job.State.FAILED, message if job.attempts <= 1 else
                              f"failed after {job.attempts} attempts: {message}")
            log.warning("job %s (%s) attempt %s failed: %s", job.pk, job.kind, job.attempts,
                        message)  # procrastinate logs the traceback itself
            raise
    finally:
        progress.close()


# --- declaring kinds ------------------------------------------------------------------------

def task(name: str, *, errors: tuple = (), retry=None, retry_stalled: bool = False,
         periodic: str | None = None, priority: int = 0):
    """Declare `func(job, progress) -> result` as the work of jobs of kind `name`.

    errors: exception types whose text is meant for people (recorded as is, like JobError).
    retry: a procrastinate retry strategy (attempts, backoff); between attempts the job is
        "queued" again with the last error.
    retry_stalled: queue the job again when its worker dies mid-run, instead of failing it
        (for idempotent work such as mail).
    periodic: a cron schedule, in UTC (5 fields, or 6 with seconds last): the worker runs the
        kind on that schedule, each run recorded as a Job without a user.
    """
    def decorate(func):
        def run(context, job_id: int | None = None, timestamp: int | None = None):
            if job_id is None:  # a periodic run: its record is made here
                scheduled = datetime.datetime.fromtimestamp(timestamp or time.time(), datetime.UTC)
                job = Job.objects.create(kind=name, payload={"scheduled": scheduled.isoformat()},
                                         procrastinate_id=context.job.id,
                                         concerns_label="scheduled run")
            else:
                job = Job.objects.filter(pk=job_id).first()
                if job is None:
                    log.warning("job %s (%s) no longer exists; nothing to run", job_id, name)
                    return None

            def will_retry(exc):
                strategy = context.task.retry_strategy
                decision = strategy.get_retry_exception(exc, context.job) if strategy else None
                if decision is None:
                    return None
                return decision.retry_decision.retry_at or timezone.now()

            try:
                with running(job, procrastinate_id=context.job.id, will_retry=will_retry,
                             should_abort=context.abort_reason, errors=errors) as progress:
                    progress.result = func(job, progress)
            except JobSettled as exc:
                log.info("%s", exc)
                return None
            except JobCancelled as exc:
                raise procrastinate_exceptions.JobAborted(str(exc)) from exc
            return {"job": job.pk, "state": str(job.state)}

        run.__name__ = run.__qualname__ = func.__name__
        run.__module__ = func.__module__
        registered = app.task(name=name, queue=QUEUE, pass_context=True, retry=retry or False,
                              priority=priority,
                              # one periodic run at a time waits in the queue
                              queueing_lock=name if periodic else None)(run)
        if periodic:
            registered = app.periodic(cron=periodic)(registered)
        KINDS[name] = Kind(name, func, errors, retry_stalled, periodic, registered)
        return func
    return decorate
