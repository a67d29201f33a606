"""Job kinds for the tests alone (loaded by the test workers through tests/worker_settings.py
and by the tests themselves): work that writes slowly, so that a test can kill its worker or
cancel it mid-way, and work that fails."""

import time

from django.contrib.gis.geos import Point

from jobs import JobError, task
from layers.models import Feature, Layer


@task("test.slow_write")
def slow_write(job, progress):
    """Adds `n` features to the layer, one every `pause` seconds, in the job's transaction."""
    layer = Layer.objects.get(slug=job.payload["layer"])
    n, pause = job.payload["n"], job.payload["pause"]
    progress.update("written", 0, n, force=True)
    for i in range(n):
        Feature.objects.create(layer=layer, geom=Point(20.6 + i / 1000, 50.85, srid=4326),
                               properties={"name": f"slow {i}"})
        progress.advance("written", force=True)
        time.sleep(pause)
    return {"written": n}


@task("test.fail")
def fail(job, progress):
    """Writes a feature, then fails the way the payload says."""
    layer = Layer.objects.get(slug=job.payload["layer"])
    Feature.objects.create(layer=layer, geom=Point(20.6, 50.85, srid=4326),
                           properties={"name": "never kept"})
    if job.payload["how"] == "job_error":
        raise JobError("row 3, field 'count': expected an integer, got 'abc'")
    if job.payload["how"] == "os_error":
        open("/var/secret/server/path/missing.txt")  # noqa: SIM115 - fails, as intended
    raise ZeroDivisionError("details with /srv/secret/path")
