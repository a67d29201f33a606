"""The job queue without a worker: submitting, the job API and its rights, cancelling, the
transaction contract of `jobs.running`, stalled-job settling, the schedule, mail retries, the
admin. Tests with a real worker process are in test_jobs_worker.py."""

import datetime
import json
import threading

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob
from procrastinate.jobs import Job as QueueJob

import jobs
from jobs import stalls
from jobs.mail import MailRetry
from jobs.models import Job
from jobs.service import KINDS, Progress, describe
from layers.models import Feature, Layer
from tests import jobs_tasks  # noqa: F401 - the test kinds
from tests.layers_fixtures import api_client, make_layer, make_user
from tests.live_users import committed


@pytest.fixture
def people(db):
    return {"owner": make_user("job-owner"), "other": make_user("job-other"),
            "staff": make_user("job-staff", staff=True)}


def queue_row(job: Job) -> ProcrastinateJob:
    return ProcrastinateJob.objects.get(pk=job.procrastinate_id)


# --- submitting ---------------------------------------------------------------------------

def test_submit_records_a_queued_job_and_its_queue_entry(people):
    layer = make_layer("jobs-submit", n=1)
    job = jobs.submit("layers.export", {"layer": layer.pk, "slug": layer.slug,
                                        "format": "gpkg"}, user=people["owner"], concerns=layer)
    job.refresh_from_db()
    assert job.state == "queued" and job.user == people["owner"] and job.concerns == layer
    assert job.concerns_label == "Warstwa jobs-submit"
    row = queue_row(job)
    assert (row.task_name, row.status, row.args) == ("layers.export", "todo", {"job_id": job.pk})


def test_submit_refuses_unknown_kinds_and_payloads_json_cannot_carry(people):
    with pytest.raises(LookupError, match="no job kind 'layers.nope'"):
        jobs.submit("layers.nope", {})
    with pytest.raises(TypeError):
        jobs.submit("layers.export", {"when": datetime.date(2026, 1, 1)})
    assert not Job.objects.exists() and not ProcrastinateJob.objects.exists()


def test_a_job_submitted_in_a_transaction_that_rolls_back_was_never_queued(people):
    with pytest.raises(RuntimeError), transaction.atomic():
        jobs.submit("mail.send", {"subject": "s", "message": "m", "to": ["a@example.org"]})
        raise RuntimeError("the caller changed its mind")
    assert not Job.objects.exists() and not ProcrastinateJob.objects.exists()


def test_anonymous_users_are_not_recorded_as_the_requester(people):
    from django.contrib.auth.models import AnonymousUser

    job = jobs.submit("mail.send", {"subject": "s", "message": "m", "to": ["a@example.org"]},
                      user=AnonymousUser())
    assert job.user is None


# --- the job API --------------------------------------------------------------------------

def make_job(user, **fields) -> Job:
    return Job.objects.create(kind="layers.export", user=user, **fields)


def test_the_owner_reads_state_progress_result_and_links(people):
    job = make_job(people["owner"], state="succeeded", attempts=1,
                   progress={"stage": "features", "fraction": 1.0,
                             "stages": [{"name": "features", "done": 5, "total": 5}]},
                   result={"features": 5, "links": {"download": "/api/layers/x/exports/1/file"}})
    response = api_client(people["owner"]).get(f"/api/jobs/{job.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "succeeded" and body["kind"] == "layers.export"
    assert body["progress"]["stages"] == [{"name": "features", "done": 5, "total": 5}]
    assert body["result"]["features"] == 5 and body["error"] == ""
    assert body["user"] == "job-owner"
    assert body["links"]["self"] == f"http://testserver/api/jobs/{job.pk}/"
    assert body["links"]["download"] == "http://testserver/api/layers/x/exports/1/file"
    assert "cancel" not in body["links"]


def test_another_users_job_does_not_exist_for_them_staff_read_every_job(people):
    job = make_job(people["owner"])
    assert api_client(people["other"]).get(f"/api/jobs/{job.pk}/").status_code == 404
    assert api_client(people["other"]).get("/api/jobs/999999/").status_code == 404
    assert api_client(people["staff"]).get(f"/api/jobs/{job.pk}/").status_code == 200
    assert api_client(people["other"]).post(f"/api/jobs/{job.pk}/cancel/").status_code == 404
    assert make_job(people["owner"]).state == "queued"


def test_anonymous_requests_are_401_and_change_nothing(people):
    job = make_job(people["owner"])
    for response in (api_client().get(f"/api/jobs/{job.pk}/"),
                     api_client().post(f"/api/jobs/{job.pk}/cancel/")):
        assert response.status_code == 401
    job.refresh_from_db()
    assert job.state == "queued" and not job.cancel_requested


def test_cancelling_a_queued_job_cancels_its_queue_entry(people):
    job = jobs.submit("mail.send", {"subject": "s", "message": "m", "to": ["a@example.org"]},
                      user=people["owner"])
    response = api_client(people["owner"]).post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 202 and response.json()["state"] == "cancelled"
    assert response.json()["error"] == "cancelled by job-owner before it started"
    assert queue_row(job).status == "cancelled"
    again = api_client(people["owner"]).post(f"/api/jobs/{job.pk}/cancel/")
    assert again.status_code == 409 and again.json()["detail"] == f"job {job.pk} already cancelled"


def test_cancelling_a_running_job_asks_it_to_stop(people):
    job = make_job(people["owner"], state="running")
    response = api_client(people["staff"]).post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 202 and response.json()["state"] == "running"
    job.refresh_from_db()
    assert job.cancel_requested and job.error == "cancellation requested by job-staff"


def test_the_job_api_is_in_the_openapi_document(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert "/api/jobs/{id}/" in paths and "/api/jobs/{id}/cancel/" in paths
    assert "/api/layers/{slug}/exports/" in paths
    job = schema["components"]["schemas"]["Job"]["properties"]
    for name in ("state", "progress", "result", "error", "links"):
        assert name in job
    assert set(schema["components"]["schemas"]["StateEnum"]["enum"]) == {
        "queued", "running", "succeeded", "failed", "cancelled"}


# --- the transaction contract (committed data: `running` reports on its own connection) ----

@pytest.fixture
def committed_layer(django_db_blocker):
    with django_db_blocker.unblock():
        layer = Layer.objects.create(slug="jobs-contract", title_pl="Warstwa testowa",
                                     geometry_type="Point")
        try:
            yield layer
        finally:
            Job.objects.filter(kind__startswith="test.").delete()
            Layer.all_objects.filter(pk=layer.pk).delete()


def other_connection(sql, params=()):
    with committed() as cur:
        cur.execute(sql, params)
        # Django's psycopg2 set-up hands jsonb over as text
        return [json.loads(v) if isinstance(v, str) and v[:1] == "{" else v
                for v in cur.fetchone()]


def test_progress_is_seen_by_others_while_the_work_is_uncommitted(committed_layer, settings):
    settings.JOBS_PROGRESS_SECONDS = 0
    job = Job.objects.create(kind="test.slow_write", payload={})
    seen = {}
    with jobs.running(job) as progress:
        Feature.objects.create(layer=committed_layer, geom="POINT(20.6 50.85)", properties={})
        progress.update("written", 1, 4)
        seen["progress"], seen["state"] = other_connection(
            "SELECT progress, state FROM jobs_job WHERE id = %s", [job.pk])
        seen["features"] = other_connection(
            "SELECT count(*) FROM layers_feature WHERE layer_id = %s", [committed_layer.pk])[0]
        progress.result = {"written": 1}
    assert seen["state"] == "running"
    assert seen["progress"]["stages"] == [{"name": "written", "done": 1, "total": 4}]
    assert seen["progress"]["fraction"] == 0.25
    assert seen["features"] == 0  # the work itself is not visible until it commits
    job.refresh_from_db()
    assert (job.state, job.result, job.attempts) == ("succeeded", {"written": 1}, 1)
    assert job.progress["fraction"] == 1.0 and job.finished_at is not None
    assert committed_layer.features.count() == 1


def test_progress_writes_are_throttled(committed_layer, settings):
    settings.JOBS_PROGRESS_SECONDS = 3600
    job = Job.objects.create(kind="test.slow_write", payload={})
    with jobs.running(job) as progress:
        progress.update("written", 0, 100)  # a new stage: written at once
        for i in range(1, 50):
            progress.update("written", i, 100)
        stored = other_connection("SELECT progress FROM jobs_job WHERE id = %s", [job.pk])[0]
        assert stored["stages"][0]["done"] == 0
        progress.update("written", 50, 100, force=True)
        stored = other_connection("SELECT progress FROM jobs_job WHERE id = %s", [job.pk])[0]
        assert stored["stages"][0]["done"] == 50


def test_a_failing_task_leaves_nothing_written_and_records_a_precise_error(committed_layer):
    job = Job.objects.create(kind="test.fail", payload={})
    with pytest.raises(jobs.JobError), jobs.running(job):
        Feature.objects.create(layer=committed_layer, geom="POINT(20.6 50.85)", properties={})
        raise jobs.JobError("row 3, field 'count': expected an integer, got 'abc'")
    job.refresh_from_db()
    assert job.state == "failed" and job.finished_at is not None
    assert job.error == "row 3, field 'count': expected an integer, got 'abc'"
    assert committed_layer.features.count() == 0


@pytest.mark.parametrize("exc, message", [
    (ZeroDivisionError("at /srv/app/x.py"),
     "unexpected error (ZeroDivisionError); the details are in the worker's log for staff"),
    (FileNotFoundError(2, "No such file or directory", "/srv/media/secret.gpkg"),
     "FileNotFoundError: No such file or directory"),
])
def test_unexpected_errors_are_recorded_without_paths_or_tracebacks(exc, message):
    assert describe(exc) == message


def test_a_cancelled_running_job_stops_at_its_next_progress_update_and_keeps_nothing(
        committed_layer, settings):
    settings.JOBS_PROGRESS_SECONDS = 0
    job = Job.objects.create(kind="test.slow_write", payload={})
    with pytest.raises(jobs.service.JobCancelled), jobs.running(job) as progress:
        Feature.objects.create(layer=committed_layer, geom="POINT(20.6 50.85)", properties={})
        # Another request cancels it meanwhile (its own connection, its own transaction).
        thread = threading.Thread(target=lambda: (jobs.cancel(Job.objects.get(pk=job.pk)),
                                                  connection.close()))
        thread.start()
        thread.join()
        progress.update("written", 1, 2)
    job.refresh_from_db()
    assert job.state == "cancelled"
    assert job.error == "cancelled while running; nothing it wrote was kept"
    assert committed_layer.features.count() == 0


def test_a_job_settled_while_it_runs_keeps_nothing_and_its_record(committed_layer, settings):
    """A worker taken for dead (its heartbeat late) that was in fact alive must not commit."""
    settings.JOBS_PROGRESS_SECONDS = 0
    job = Job.objects.create(kind="test.slow_write", payload={})
    with pytest.raises(jobs.service.JobSettled), jobs.running(job) as progress:
        Feature.objects.create(layer=committed_layer, geom="POINT(20.6 50.85)", properties={})
        with committed() as cur:
            cur.execute("UPDATE jobs_job SET state = 'failed', error = 'interrupted' "
                        "WHERE id = %s", [job.pk])
        progress.update("written", 1, 2)
    job.refresh_from_db()
    assert (job.state, job.error) == ("failed", "interrupted")
    assert committed_layer.features.count() == 0


def test_a_job_no_longer_queued_does_not_run(committed_layer):
    job = Job.objects.create(kind="test.slow_write", payload={}, state="cancelled")
    ran = []
    with pytest.raises(jobs.service.JobSettled), jobs.running(job):
        ran.append(True)
    assert not ran and Job.objects.get(pk=job.pk).state == "cancelled"


# --- stalled jobs -------------------------------------------------------------------------

@pytest.fixture
def stalled_queue_job(django_db_blocker):
    """A queue entry "doing" on a worker that last reported a minute ago, and our record."""
    with django_db_blocker.unblock():
        with committed() as cur:
            cur.execute("INSERT INTO procrastinate_workers (last_heartbeat) "
                        "VALUES (now() - interval '60 seconds') RETURNING id")
            worker = cur.fetchone()[0]
        job = Job.objects.create(kind="test.slow_write", payload={}, state="running",
                                 attempts=1)
        with committed() as cur:
            cur.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, "
                        "worker_id) VALUES ('default', 'test.slow_write', %s, 'doing', %s) "
                        "RETURNING id", [json.dumps({"job_id": job.pk}), worker])
            queue_id = cur.fetchone()[0]
        Job.objects.filter(pk=job.pk).update(procrastinate_id=queue_id)
        try:
            yield job, queue_id
        finally:
            job.delete()
            with committed() as cur:
                cur.execute("DELETE FROM procrastinate_jobs WHERE id = %s", [queue_id])
                cur.execute("DELETE FROM procrastinate_workers WHERE id = %s", [worker])


def test_a_job_of_a_silent_worker_is_recorded_failed(stalled_queue_job, settings,
                                                     django_db_blocker):
    job, queue_id = stalled_queue_job
    settings.JOBS_STALLED_SECONDS = 3600
    with django_db_blocker.unblock():
        assert stalls.settle() == []  # silent for a minute: not yet stalled by this measure
        settings.JOBS_STALLED_SECONDS = 30
        assert stalls.settle() == [job.pk]
        job.refresh_from_db()
        assert job.state == "failed" and job.finished_at is not None
        assert job.error.startswith("interrupted: the worker running this job stopped "
                                    "(killed, crashed or restarted) at ")
        assert job.error.endswith("nothing it wrote was kept. Submit it again.")
        assert ProcrastinateJob.objects.get(pk=queue_id).status == "failed"
        assert stalls.settle() == []


def test_reading_a_stalled_job_through_the_api_settles_it(stalled_queue_job, settings,
                                                          django_db_blocker):
    job, _ = stalled_queue_job
    settings.JOBS_STALLED_SECONDS = 30
    with django_db_blocker.unblock():
        staff = User.objects.create_user("stall-reader", is_staff=True)
        try:
            body = api_client(staff).get(f"/api/jobs/{job.pk}/").json()
        finally:
            staff.auth_token.delete()
            staff.delete()
    assert body["state"] == "failed" and body["error"].startswith("interrupted:")


def test_a_retrying_kind_is_queued_again_when_its_worker_dies(stalled_queue_job, settings,
                                                              django_db_blocker):
    job, queue_id = stalled_queue_job
    settings.JOBS_STALLED_SECONDS = 30
    KINDS["test.slow_write"].retry_stalled = True
    try:
        with django_db_blocker.unblock():
            stalls.settle()
            job.refresh_from_db()
            assert job.state == "queued" and "It will be tried again." in job.error
            assert ProcrastinateJob.objects.get(pk=queue_id).status == "todo"
    finally:
        KINDS["test.slow_write"].retry_stalled = False


def test_a_record_whose_queue_entry_vanished_is_settled(people):
    job = make_job(people["owner"], state="running", procrastinate_id=987654321)
    assert stalls.settle([job.pk]) == [job.pk]
    job.refresh_from_db()
    assert job.state == "failed" and "without recording its outcome" in job.error


# --- schedule, mail, admin ----------------------------------------------------------------

def test_the_worker_schedule_holds_the_periodic_upkeep():
    schedule = {task_name: periodic.cron for (task_name, _), periodic
                in app.periodic_registry.periodic_tasks.items()}
    assert schedule["layers.purge_deleted"] == "10 3 * * *"  # daily, as the README asks
    assert schedule["indicators.recompute_stale"] == "0 2 * * *"  # nightly
    assert schedule["layers.purge_exports"] == "20 3 * * *"
    assert schedule["jobs.purge"] == "40 3 * * *"
    assert schedule["jobs.settle_stalled"].startswith("* * * * * */")


def test_mail_is_retried_with_exponential_backoff_then_given_up(settings):
    settings.JOBS_MAIL_ATTEMPTS, settings.JOBS_MAIL_RETRY_SECONDS = 4, 60
    strategy = MailRetry()

    def wait(attempts, exc=None):
        exc = exc or OSError(111, "Connection refused")
        decision = strategy.get_retry_decision(exception=exc, job=QueueJob(
            id=1, queue="default", lock=None, queueing_lock=None, task_name="mail.send",
            attempts=attempts))
        return None if decision is None else round(
            (decision.retry_at - timezone.now()).total_seconds())

    assert [wait(0), wait(1), wait(2)] == [60, 120, 240]
    assert wait(3) is None  # the fourth attempt was the last
    assert wait(0, ValueError("bad header")) is None  # malformed: fails the same every time
    settings.JOBS_MAIL_RETRY_SECONDS = 1000
    assert wait(2) == 3600  # at most an hour


def test_send_mail_later_needs_a_recipient_and_queues_a_job(people):
    with pytest.raises(ValueError, match="at least one recipient"):
        jobs.send_mail_later("Temat", "Treść", ["", None])
    job = jobs.send_mail_later("Zgłoszenie 6", "Dziękujemy", ["mieszkaniec@example.org"])
    assert job.kind == "mail.send" and job.payload["to"] == ["mieszkaniec@example.org"]
    assert queue_row(job).task_name == "mail.send"


def test_staff_list_failed_mails_read_only_and_resubmit_them(people):
    failed = Job.objects.create(kind="mail.send", state="failed", attempts=3,
                                payload={"subject": "s", "message": "m", "to": ["a@example.org"]},
                                error="failed after 3 attempts: the mail server refused the "
                                      "message: 451 4.3.0 try again later")
    export = Job.objects.create(kind="layers.export", state="succeeded")
    staff = people["staff"]
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="jobs"))
    browser = Client()
    browser.force_login(staff)
    page = browser.get("/admin/jobs/job/?kind=mail.send&state=failed")
    assert page.status_code == 200
    html = page.content.decode()
    assert "451 4.3.0 try again later" in html
    assert f"/admin/jobs/job/{failed.pk}/change/" in html
    assert f"/admin/jobs/job/{export.pk}/change/" not in html
    assert browser.get(f"/admin/jobs/job/{failed.pk}/change/").status_code == 200
    assert browser.get("/admin/jobs/job/add/").status_code == 403
    response = browser.post("/admin/jobs/job/", {"action": "submit_again",
                                                 "_selected_action": [failed.pk]})
    assert response.status_code == 302
    again = Job.objects.filter(kind="mail.send", state="queued").get()
    assert again.payload == failed.payload and again.procrastinate_id


def test_progress_reports_stage_counts_and_fraction():
    progress = Progress(Job(pk=1, kind="x"))
    progress.flush = lambda: None
    progress.update("read", 10, 40)
    progress.advance("read", 10)
    progress.update("validated", 5)
    assert progress.state["stages"] == [{"name": "read", "done": 20, "total": 40},
                                        {"name": "validated", "done": 5, "total": None}]
    assert progress.state["stage"] == "validated" and progress.state["fraction"] == 0.5
    progress.update(fraction=2)
    assert progress.state["fraction"] == 1.0
