"""gunicorn settings for production (docker-compose `web`, scripts/prod-local.sh).

Everything tunable comes from the environment. Prometheus needs one directory shared by the
workers (PROMETHEUS_MULTIPROC_DIR): it is emptied when the master starts, and a dead worker's
live gauges are dropped when it exits.
"""

import os
import shutil
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", "4"))
# Threads let a worker overlap database waits; the GIL makes more than a few useless.
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 30
# Longer than a proxy in front may keep idle connections (nginx's upstream keepalive is 60 s when
# one is configured): a connection it reuses must not have been closed by gunicorn meanwhile.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "75"))
# Off by default so that memory growth shows in the load test instead of being hidden by
# recycling; set e.g. WEB_MAX_REQUESTS=5000 as a safety net if a leak ever appears.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# The request log is written by Django (sdi.observability) as JSON with the request id.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Django is imported once in the master and the workers fork from it: they start in a
# fraction of the time and share the imported code's memory.
preload_app = True

# Emptied here, before the application is imported (preload) and creates its metric files.
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "sdi-prometheus"))
shutil.rmtree(_metrics_dir, ignore_errors=True)
os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def when_ready(server):
    # Anything the preloaded application opened (an app's ready() reading the database) must
    # not be inherited by the workers: a shared socket would interleave their queries.
    from django.db import connections

    connections.close_all()
