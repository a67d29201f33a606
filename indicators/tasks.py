"""Indicator work run by the job queue (jobs)."""

from indicators.computing import compute_all
from indicators.methods import MethodError
from jobs import JobError, task


@task("indicators.recompute_stale", periodic="0 2 * * *")
def recompute_stale(job, progress):
    """Nightly: recompute the indicators whose inputs changed since their values were computed
    (what `manage.py compute_indicators --stale --no-definitions` does)."""
    try:
        counts = compute_all(only_stale=True)
    except MethodError as exc:
        raise JobError(str(exc)) from exc
    return {"recomputed": counts}
