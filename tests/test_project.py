"""Project-level checks: health endpoints, the production compose file, the README contract."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "cache": "ok"}


def test_compose_file_describes_the_production_stack():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "redis", "web", "migrate"} <= set(services)
    assert services["db"]["image"].startswith("postgis/postgis")
    assert "gunicorn" in services["web"]["command"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    env = compose["x-web-env"]
    assert env["DATABASE_URL"].startswith("postgres://") and env["DJANGO_DEBUG"] == "false"


def test_docker_compose_config_parses_when_the_client_has_compose():
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"],
                                    capture_output=True).returncode != 0:
        pytest.skip("docker compose plugin not installed on this machine")
    result = subprocess.run(
        [docker, "compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True,
        env={"POSTGRES_PASSWORD": "x", "REPLICATION_PASSWORD": "y", "DJANGO_SECRET_KEY": "x",
             "DJANGO_ALLOWED_HOSTS": "mapa.kielce.eu", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr


def test_readme_shows_the_two_commands_and_the_data_sources():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    head = readme[:4000]
    assert "make run" in head and "make test" in head
    for url in ("/ogc/", "/tiles/", "/admin/", "/api/"):
        assert url in head
    assert "SOURCES.md" in readme and "OpenStreetMap" in readme


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
