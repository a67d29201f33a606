"""Test set-up: a real PostGIS test database with the real Kielce data, and a live gunicorn.

The Kielce fixtures and indicators are loaded once per session and committed; tests using the
`db` fixture run inside a transaction that is rolled back, so they see the data and leave it
as it was. Tests must not use `transactional_db` (it would flush the session's data); a test
that has to commit (to be seen by the live server) restores what it changed itself.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="session", autouse=True)
def kielce(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        call_command("load_city", "kielce", verbosity=0)
        call_command("compute_indicators", verbosity=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.fixture(scope="session")
def live_url(kielce, django_db_blocker):
    """Base URL of gunicorn (the production server) serving the test database."""
    with django_db_blocker.unblock():
        db_url = _database_url()
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=db_url, BASEMAP_URL="", WHITENOISE_USE_FINDERS="1",
               DB_CONN_MAX_AGE="0")
    log = open(ROOT / "var" / "test-gunicorn.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "sdi.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--timeout", "60",
         "--no-control-socket"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"gunicorn did not start; see {log.name}") from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
