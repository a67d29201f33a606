"""The job queue with real workers (`manage.py procrastinate worker` processes) on the test
database, and gunicorn answering `/api/jobs/<id>/`: a large export from 202 to its file, precise
errors, a worker killed mid-job (its writes rolled back, the job failed after the stall timeout),
cancelling, a shutdown, mail retried until delivered, the periodic schedule running.

Everything here is committed (the workers and gunicorn are other processes) and removed again.
"""

import io
import json
import os
import shutil
import signal
import sqlite3
import time
import urllib.error
import urllib.request
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from procrastinate.contrib.django.models import ProcrastinateJob, ProcrastinatePeriodicDefer

import jobs
from jobs.models import Job
from layers import exporting
from layers.models import Layer
from layers.tasks import EXPORT_FOLDER
from tests import jobs_tasks  # noqa: F401 - the test kinds
from tests.live_users import committed, live_user
from tests.servers import ROOT, live_gunicorn
from tests.workers import WORKER_ENV, live_worker, smtp_server

BIG = 100_000  # points in the layer exported through a job
STALLED = float(WORKER_ENV["JOBS_STALLED_SECONDS"])


@pytest.fixture(scope="module")
def unblocked(django_db_blocker, kielce):
    (ROOT / "var" / "test-jobs-worker.log").write_text("")  # this run's workers append to it
    with django_db_blocker.unblock():
        yield
        # What the workers left in the queue's own tables.
        with committed() as cur:
            cur.execute("DELETE FROM procrastinate_periodic_defers")
            cur.execute("DELETE FROM procrastinate_jobs")
            cur.execute("DELETE FROM procrastinate_workers")


@pytest.fixture(scope="module")
def jobs_url(unblocked):
    """gunicorn with the tests' stall timeout, so that reading a job can settle it."""
    with live_gunicorn("test-jobs-gunicorn.log", {"JOBS_STALLED_SECONDS": str(STALLED),
                                                  "EXPORT_GPKG_SYNC_MAX_FEATURES": "50000"}) as url:
        yield url


@pytest.fixture(scope="module")
def people(unblocked):
    with live_user("jobs-owner", token=True) as owner, \
            live_user("jobs-other", token=True) as other:
        yield {"owner": owner, "other": other, "owner_user": User.objects.get(pk=owner.id)}
        Job.objects.filter(user_id__in=[owner.id, other.id]).delete()


@pytest.fixture(scope="module")
def big_layer(unblocked):
    layer = Layer.objects.create(
        slug="jobs-big", title_pl="Punkty syntetyczne", title_en="Synthetic points",
        geometry_type="Point", synthetic=True, licence="CC0 1.0", attribution="tests",
        schema={"fields": [{"name": "name", "type": "string"},
                           {"name": "count", "type": "integer"}]})
    with committed() as cur:
        cur.execute("""INSERT INTO layers_feature (layer_id, geom, properties, version,
                                                   created_at, updated_at)
                       SELECT %s, ST_SetSRID(ST_MakePoint(20.5 + (g %% 1000) / 5000.0,
                                                          50.8 + (g / 1000) / 1000.0), 4326),
                              jsonb_build_object('name', 'p' || g, 'count', g), 1, now(), now()
                       FROM generate_series(1, %s) g""", [layer.pk, BIG])
    # Ids start again in each run's test database: no file of an earlier run may stand in.
    exporting.gpkg_path(layer).unlink(missing_ok=True)
    yield layer
    exporting.gpkg_path(layer).unlink(missing_ok=True)
    for job in Job.objects.filter(kind="layers.export", payload__layer=layer.pk):
        shutil.rmtree(Path(django_settings.MEDIA_ROOT) / EXPORT_FOLDER / str(job.pk),
                      ignore_errors=True)
    with committed() as cur:
        cur.execute("DELETE FROM layers_feature WHERE layer_id = %s", [layer.pk])
    Job.objects.filter(kind__startswith="layers.").delete()
    Layer.all_objects.filter(pk=layer.pk).delete()


@pytest.fixture
def slow_layer(unblocked):
    """A layer for the test kinds to write into."""
    layer = Layer.objects.create(slug="jobs-slow", title_pl="Zapis powolny",
                                 geometry_type="Point")
    yield layer
    Job.objects.filter(kind__startswith="test.").delete()
    Layer.all_objects.filter(pk=layer.pk).delete()


def call(method, url, token=None, data=None):
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def wait_for(predicate, timeout=60.0, every=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s")
        time.sleep(every)


def finished(job_id):
    job = Job.objects.get(pk=job_id)
    return job if job.finished else None


def done_so_far(job_id, stage="written"):
    stages = Job.objects.get(pk=job_id).progress.get("stages", [])
    return next((s["done"] for s in stages if s["name"] == stage), 0)


def test_a_large_export_is_a_job_whose_progress_grows_until_its_file_downloads(
        jobs_url, people, big_layer, tmp_path):
    owner, other = people["owner"], people["other"]
    with live_worker("test-jobs-worker.log"):
        status, headers, body = call("POST", f"{jobs_url}/api/layers/jobs-big/exports/",
                                     owner.token, {"format": "gpkg"})
        assert status == 202, body
        address = headers["Location"]
        assert address == f"{jobs_url}/api/jobs/{json.loads(body)['id']}/"
        seen = []
        while True:
            status, _, body = call("GET", address, owner.token)
            assert status == 200
            job = json.loads(body)
            stages = job["progress"].get("stages", [])
            seen.append((job["state"], stages[0]["done"] if stages else None,
                         job["progress"].get("fraction")))
            if job["state"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.05)
    assert job["state"] == "succeeded", job["error"]
    counts = [done for state, done, _ in seen if done is not None]
    assert counts == sorted(counts), "progress never goes back"
    assert any(0 < done < BIG for done in counts), f"no progress seen between 0 and {BIG}"
    assert seen[-1][1:] == (BIG, 1.0)
    assert job["result"]["features"] == BIG and job["result"]["format"] == "gpkg"
    assert job["concerns"]["label"] == "jobs-big"

    download = job["links"]["download"]
    assert download == f"{jobs_url}/api/layers/jobs-big/exports/{job['id']}/file"
    status, headers, data = call("GET", download, owner.token)
    assert status == 200 and headers["Content-Type"] == "application/geopackage+sqlite3"
    path = tmp_path / "jobs-big.gpkg"
    path.write_bytes(data)
    with sqlite3.connect(path) as gpkg:
        assert gpkg.execute('SELECT count(*) FROM "jobs-big"').fetchone()[0] == BIG
        metadata = "".join(m for (m,) in gpkg.execute("SELECT metadata FROM gpkg_metadata"))
    assert "CC0 1.0" in metadata and "Synthetic points" in metadata

    # Nobody else reads the job or its file.
    assert call("GET", address, other.token)[0] == 404
    assert call("GET", download, other.token)[0] == 404
    assert call("GET", address)[0] == 401
    assert call("GET", download)[0] == 401


def test_data_gpkg_of_a_large_layer_is_built_by_a_job_then_served(jobs_url, big_layer,
                                                                  tmp_path):
    url = f"{jobs_url}/data/jobs-big.gpkg"
    status, headers, body = call("GET", url)
    assert status == 503 and headers["Retry-After"] == "30", body
    with live_worker("test-jobs-worker.log"):
        built = wait_for(lambda: Job.objects.filter(kind="layers.gpkg_download",
                                                    state="succeeded").first())
    assert built.result["features"] == BIG
    status, headers, data = call("GET", url)
    assert status == 200 and headers["Content-Disposition"] == \
        'attachment; filename="jobs-big.gpkg"'
    (tmp_path / "jobs-big.gpkg").write_bytes(data)
    with sqlite3.connect(tmp_path / "jobs-big.gpkg") as gpkg:
        assert gpkg.execute('SELECT count(*) FROM "jobs-big"').fetchone()[0] == BIG


def test_failures_are_recorded_precisely_and_write_nothing(jobs_url, people, slow_layer):
    owner = people["owner_user"]
    submitted = {
        "deleted layer": jobs.submit("layers.export", {"layer": 0, "slug": "gone",
                                                       "format": "gpkg"}, user=owner),
        "job error": jobs.submit("test.fail", {"layer": "jobs-slow", "how": "job_error"},
                                 user=owner),
        "os error": jobs.submit("test.fail", {"layer": "jobs-slow", "how": "os_error"},
                                user=owner),
        "bug": jobs.submit("test.fail", {"layer": "jobs-slow", "how": "bug"}, user=owner),
    }
    with live_worker("test-jobs-worker.log"):
        results = {name: wait_for(lambda j=job: finished(j.pk))
                   for name, job in submitted.items()}
    errors = {name: job.error for name, job in results.items()}
    assert {job.state for job in results.values()} == {"failed"}
    assert errors == {
        "deleted layer": "layer 'gone' was deleted before its export ran",
        "job error": "row 3, field 'count': expected an integer, got 'abc'",
        "os error": "FileNotFoundError: No such file or directory",
        "bug": "unexpected error (ZeroDivisionError); the details are in the worker's log "
               "for staff",
    }
    assert slow_layer.features.count() == 0
    status, _, body = call("GET", f"{jobs_url}/api/jobs/{submitted['bug'].pk}/",
                           people["owner"].token)
    assert status == 200 and json.loads(body)["error"] == errors["bug"]
    assert b"Traceback" not in body and b"/srv/" not in body


def slow_job(user, n=400, pause=0.05):
    return jobs.submit("test.slow_write", {"layer": "jobs-slow", "n": n, "pause": pause},
                       user=user)


def test_a_killed_worker_leaves_nothing_written_and_its_job_is_reported_failed(
        jobs_url, people, slow_layer):
    job = slow_job(people["owner_user"])
    version = slow_layer.version
    with live_worker("test-jobs-worker.log") as worker:
        wait_for(lambda: done_so_far(job.pk) >= 5)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        killed = time.monotonic()
    assert Job.objects.get(pk=job.pk).state == "running"  # nobody has noticed yet
    assert slow_layer.features.count() == 0  # the transaction died with its connection

    # No worker runs now: reading the job is what finds it stalled.
    def failed_through_the_api():
        body = json.loads(call("GET", f"{jobs_url}/api/jobs/{job.pk}/",
                               people["owner"].token)[2])
        return body if body["state"] != "running" else None
    body = wait_for(failed_through_the_api, timeout=30, every=0.2)
    assert time.monotonic() - killed >= STALLED - 1
    assert body["state"] == "failed"
    assert body["error"].startswith("interrupted: the worker running this job stopped (killed, "
                                    "crashed or restarted) at ")
    assert body["error"].endswith("nothing it wrote was kept. Submit it again.")
    assert ProcrastinateJob.objects.get(pk=job.procrastinate_id).status == "failed"
    slow_layer.refresh_from_db()
    assert slow_layer.features.count() == 0 and slow_layer.version == version


def test_another_worker_settles_the_job_of_a_killed_one(people, slow_layer):
    job = slow_job(people["owner_user"])
    with live_worker("test-jobs-worker.log") as worker:
        wait_for(lambda: done_so_far(job.pk) >= 3)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    with live_worker("test-jobs-worker.log"):
        settled = wait_for(lambda: finished(job.pk), timeout=30, every=0.2)
    assert settled.state == "failed" and settled.error.startswith("interrupted:")
    assert slow_layer.features.count() == 0


def test_cancelling_a_running_job_stops_it_and_keeps_nothing(jobs_url, people, slow_layer):
    job = slow_job(people["owner_user"])
    with live_worker("test-jobs-worker.log"):
        wait_for(lambda: done_so_far(job.pk) >= 3)
        status, _, body = call("POST", f"{jobs_url}/api/jobs/{job.pk}/cancel/",
                               people["owner"].token)
        assert status == 202
        cancelled = wait_for(lambda: finished(job.pk))
        queue_status = wait_for(lambda: ProcrastinateJob.objects.get(
            pk=job.procrastinate_id).status != "doing" and ProcrastinateJob.objects.get(
            pk=job.procrastinate_id).status)
    assert cancelled.state == "cancelled"
    assert cancelled.error == "cancelled while running; nothing it wrote was kept"
    assert done_so_far(job.pk) < 400 and slow_layer.features.count() == 0
    assert queue_status == "aborted"


def test_a_worker_shut_down_mid_job_rolls_it_back_and_says_so(people, slow_layer):
    job = slow_job(people["owner_user"])
    with live_worker("test-jobs-worker.log", {"JOBS_SHUTDOWN_SECONDS": "1"}) as worker:
        wait_for(lambda: done_so_far(job.pk) >= 3)
        worker.terminate()
        assert worker.wait(timeout=30) == 0
    stopped = Job.objects.get(pk=job.pk)
    assert stopped.state == "failed"
    assert stopped.error == ("interrupted: the worker was shut down before the job finished; "
                             "nothing it wrote was kept. Submit it again.")
    assert slow_layer.features.count() == 0


def test_mail_is_retried_after_a_failing_server_then_delivered_or_reported(people):
    with smtp_server(failures=2) as server, live_worker(
            "test-jobs-worker.log", {"TEST_SMTP_PORT": str(server.port)}):
        started = time.time()
        job = jobs.send_mail_later("Zgłoszenie nr 6", "Dziękujemy za zgłoszenie.",
                                   ["mieszkaniec@example.org"], from_email="sdi@example.org")
        retrying = wait_for(lambda: Job.objects.filter(pk=job.pk, state="queued",
                                                       attempts__gte=1).first())
        delivered = wait_for(lambda: finished(job.pk))
        assert server.refused == 2 and len(server.messages) == 1
        server.failures += 10  # from now on the server refuses everything
        doomed = jobs.send_mail_later("Nie dojdzie", "…", ["ktos@example.org"])
        given_up = wait_for(lambda: finished(doomed.pk))
        call_command("jobs_health", stdout=io.StringIO())  # a worker is alive: no error
        # The worker defers its periodic upkeep (here: settling stalled jobs) as scheduled.
        defers = ProcrastinatePeriodicDefer.objects.filter(
            task_name="jobs.settle_stalled", defer_timestamp__gte=int(started) - 1)
        assert defers.exists()
    assert retrying.error.startswith("attempt 1 failed: the mail server refused the message: "
                                     "451 4.3.0 try again later; next attempt at ")
    assert (delivered.state, delivered.attempts, delivered.error) == ("succeeded", 3, "")
    assert delivered.result == {"sent": 1, "recipients": 1}
    mail = server.messages[0]
    assert mail["To"] == "mieszkaniec@example.org" and mail["From"] == "sdi@example.org"
    assert str(make_header(decode_header(mail["Subject"]))) == "Zgłoszenie nr 6"
    assert (given_up.state, given_up.attempts) == ("failed", 3)
    assert given_up.error == ("failed after 3 attempts: the mail server refused the message: "
                              "451 4.3.0 try again later")
    Job.objects.filter(pk__in=[job.pk, doomed.pk]).delete()


def test_the_health_command_fails_without_a_live_worker(unblocked, settings):
    settings.JOBS_STALLED_SECONDS = STALLED  # the killed workers above have been silent longer
    time.sleep(STALLED)
    with pytest.raises(CommandError, match="no worker has sent a heartbeat in the last"):
        call_command("jobs_health", stdout=io.StringIO())
