"""Starting gunicorn (the production server) against the test database, for live tests."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def current_database_url() -> str:
    """The URL of the database the tests run on (pytest-django's test database)."""
    from django.db import connection

    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@contextmanager
def live_gunicorn(log_name: str, extra_env: dict | None = None, **options):
    """gunicorn on a free port serving the test database (call it where database access is
    unblocked), with no basemap and no persistent connections, plus `extra_env`."""
    env = {"DATABASE_URL": current_database_url(), "BASEMAP_URL": "", "DB_CONN_MAX_AGE": "0",
           **(extra_env or {})}
    with gunicorn(free_port(), env, log_name, **options) as url:
        yield url


@contextmanager
def gunicorn(port: int, env: dict, log_name: str, workers: int = 2, threads: int = 4,
             start_timeout: float = 60):
    """Yield the base URL once /healthz answers; stop the server afterwards."""
    log = open(ROOT / "var" / log_name, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "sdi.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
         "--timeout", "60", "--no-control-socket"],
        cwd=ROOT, env=dict(os.environ, **env), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                raise RuntimeError(f"gunicorn did not start; see {log.name}") from None
            time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
