"""One job queue for long work (procrastinate on the project's PostgreSQL). Task code uses:

    import jobs
    jobs.submit(kind, payload, user=..., concerns=...) -> Job
    @jobs.task(kind) / with jobs.running(job) as progress: progress.update(...)
    jobs.JobError, jobs.cancel(job), jobs.send_mail_later(...)

The contract a task keeps (one transaction, precise errors, stalls) is in jobs.service.
"""

_API = {"submit": "service", "task": "service", "running": "service", "cancel": "service",
        "JobError": "service", "Progress": "service", "send_mail_later": "mail"}


def __getattr__(name):
    # Lazily, so that `import jobs` works before Django's apps are ready.
    if name in _API:
        from importlib import import_module

        return getattr(import_module(f"jobs.{_API[name]}"), name)
    raise AttributeError(f"module 'jobs' has no attribute {name!r}")
