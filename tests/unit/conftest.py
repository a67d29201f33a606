"""The unit layer: pure logic, no database. `pytest tests/unit` runs in seconds without PostGIS.

tests/conftest.py loads Kielce into the test database once per session for every test under
tests/; this folder overrides that fixture with one that does nothing, and pytest-django
refuses any database access from a test here (none asks for `db`).
"""

import pytest


@pytest.fixture(scope="session", autouse=True)
def kielce():
    """No Kielce here: nothing in this folder touches the database."""
