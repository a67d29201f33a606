"""Test set-up: a real PostGIS test database with the real Kielce data, and a live gunicorn.

The Kielce fixtures and indicators are loaded once per session and committed; tests using the
`db` fixture run inside a transaction that is rolled back, so they see the data and leave it
as it was. Tests must not use `transactional_db` (it would flush the session's data); a test
that has to commit (to be seen by the live server) restores what it changed itself.
"""

from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command

from tests.servers import live_gunicorn

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="session", autouse=True)
def kielce(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        call_command("load_city", "kielce", verbosity=0)
        call_command("compute_indicators", verbosity=0)


@pytest.fixture(scope="session")
def live_url(kielce, django_db_blocker):
    """Base URL of gunicorn (the production server) serving the test database."""
    with django_db_blocker.unblock(), live_gunicorn(
            "test-gunicorn.log", {"WHITENOISE_USE_FINDERS": "1"}) as url:
        yield url


@pytest.fixture
def empty_cache():
    """Tests roll back the database but not the cache: a layer version reused by the next test
    would otherwise find this test's tiles."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
