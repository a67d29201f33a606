"""What a city deploys, checked without Docker: the compose file against the Compose
Specification, the image's build context and requirements, the entrypoints, the documentation
of every variable, and the local runner's reading of the compose file (ops/compose_local.py).
The running topology itself is drilled in test_ops_topology.py."""

import copy
import json
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from ops import compose_local

ROOT = Path(__file__).resolve().parent.parent
# The session's Kielce fixture needs the test database even when only these tests run
# (pytest-django creates it only for tests that ask); they never touch it.
pytestmark = pytest.mark.django_db
SCHEMA = json.loads((ROOT / "tests/compose_spec/compose-spec.json").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
# What an operator's .env holds (docs/deploy.md), with passwords that break naive quoting.
OPERATOR_ENV = {"POSTGRES_PASSWORD": "p@ss/w:rd%#? 'x'", "REPLICATION_PASSWORD": "r'; DROP --",
                "DJANGO_SECRET_KEY": "k" * 50, "DJANGO_ALLOWED_HOSTS": "mapa.kielce.eu"}


def _errors(model) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(model)]


def test_compose_file_follows_the_compose_specification():
    assert _errors(COMPOSE) == []
    # And as Compose sees it once the variables are filled in.
    project = compose_local.Project(ROOT / "var" / "unused", OPERATOR_ENV)
    assert _errors(project.model) == []
    # The schema does bite: a misspelt condition or an unknown key is an error.
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["web"]["depends_on"]["migrate"]["condition"] = "service_finished"
    broken["services"]["nginx"]["helthcheck"] = broken["services"]["nginx"].pop("healthcheck")
    errors = " ".join(_errors(broken))
    assert "service_finished" in errors and "helthcheck" in errors


def test_required_variables_stop_compose_with_a_message():
    env = {k: v for k, v in OPERATOR_ENV.items() if k != "POSTGRES_PASSWORD"}
    with pytest.raises(compose_local.ComposeError, match="POSTGRES_PASSWORD"):
        compose_local.Project(ROOT / "var" / "unused", env)


@pytest.mark.parametrize("text, env, expected", [
    ("${A:-x}", {}, "x"), ("${A:-x}", {"A": ""}, "x"), ("${A-x}", {"A": ""}, ""),
    ("${A-x}", {}, "x"), ("${A:-${B:-y}}", {}, "y"), ("$$A and $${A}", {"A": "1"}, "$A and ${A}"),
    ("${A:+set}", {"A": "1"}, "set"), ("${A:+set}", {"A": ""}, ""), ("a-$A-b", {"A": "1"}, "a-1-b"),
    ("${BASEMAP_URL-https://t/{z}/{x}/{y}.png}", {}, "https://t/{z}/{x}/{y}.png"),
])
def test_interpolation_follows_compose(text, env, expected):
    assert compose_local.interpolate(text, env) == expected


def test_dotenv_values_are_read_as_compose_reads_them(tmp_path):
    (tmp_path / ".env").write_text(
        "# comment\nA=plain # comment\nB='single $X # kept'\nC=\"dq 'x' \\\" $X\"\nX=1\n"
        "export D=e\n")
    assert compose_local.read_dotenv(tmp_path / ".env") == {
        "A": "plain", "B": "single $X # kept", "C": "dq 'x' \" ", "X": "1", "D": "e"}


def test_the_runner_maps_addresses_paths_and_secrets_explicitly(tmp_path):
    env = {**OPERATOR_ENV, "PROD_PG_PORT": "6001", "PROD_REPLICA_PORT": "6002",
           "PROD_REDIS_PORT": "6003", "PROD_WEB_PORT": "6004", "PROD_TILES_PORT": "6005",
           "PROD_HTTP_PORT": "6006"}
    project = compose_local.Project(tmp_path, env)
    web = project.services["web"].process_env()
    assert web["DATABASE_URL"] == "postgres://sdi@127.0.0.1:6001/sdi"  # no password in a URL
    assert web["DATABASE_REPLICA_URL"] == "postgres://sdi@127.0.0.1:6002/sdi"
    assert web["DATABASE_PASSWORD"] == OPERATOR_ENV["POSTGRES_PASSWORD"]
    assert web["REDIS_URL"] == "redis://127.0.0.1:6003/0"
    assert web["GUNICORN_BIND"] == "127.0.0.1:6004"
    assert web["MEDIA_ROOT"] == str(tmp_path / "volumes" / "media")
    assert web["STATIC_ROOT"] == str(tmp_path / "volumes" / "static")
    assert web["CITY_DATA_DIRS"] == str(ROOT / "fixtures")
    assert web["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "run" / "web" / "tmp" / "prometheus")
    # Production settings are kept, not relaxed for the host.
    assert web["DJANGO_SSL_REDIRECT"] == "true" and web["DJANGO_SECURE_COOKIES"] == "true"
    assert web["DJANGO_NUM_PROXIES"] == "2" and web["DJANGO_ALLOWED_HOSTS"] == "mapa.kielce.eu"
    db = project.services["db"]
    archive = str(tmp_path / "volumes" / "wal-archive")
    assert f"archive_command=test ! -f {archive}/%f && cp %p {archive}/%f" in db.argv()
    assert db.argv()[:2] == ["/bin/sh", str(ROOT / "deploy/postgres/primary-entrypoint.sh")]
    assert project.services["replica"].process_env()["PRIMARY"] == "127.0.0.1:6001"
    nginx = project.services["nginx"]
    assert nginx.process_env()["NGINX_LISTEN"] == "127.0.0.1:6006 default_server"
    assert nginx.healthcheck()["argv"][-1] == "http://127.0.0.1:6006/healthz"
    assert project.services["redis"].healthcheck()["argv"] == [
        "redis-cli", "-u", "redis://127.0.0.1:6003", "ping"]
    # The order and conditions of `up` are the file's.
    order = project.order(project.active())
    assert order.index("db") < order.index("migrate") < order.index("web") < order.index("nginx")
    assert "backup" not in order and project.services["migrate"].one_shot
    assert project.services["web"].depends_on == {
        "migrate": "service_completed_successfully", "redis": "service_healthy",
        "replica": "service_healthy"}


def test_compose_settings_reach_django_with_any_password():
    """DATABASE_PASSWORD (the compose file passes the password on its own) is used for the
    primary and the replica as it is, whatever characters it holds."""
    code = ("from django.conf import settings; import json; print(json.dumps({a: [d['HOST'], "
            "d['PORT'], d['USER'], d['PASSWORD']] for a, d in settings.DATABASES.items()}))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(DATABASE_URL="postgres://sdi@db:5432/sdi",
               DATABASE_REPLICA_URL="postgres://sdi@replica:5432/sdi",
               DATABASE_PASSWORD=OPERATOR_ENV["POSTGRES_PASSWORD"])
    done = subprocess.run([str(ROOT / ".venv/bin/python"), "-c",
                           f"import django; django.setup(); {code}"], cwd=ROOT, text=True,
                          env={**env, "DJANGO_SETTINGS_MODULE": "sdi.settings"},
                          capture_output=True, check=True)
    password = OPERATOR_ENV["POSTGRES_PASSWORD"]
    assert json.loads(done.stdout) == {"default": ["db", 5432, "sdi", password],
                                       "replica": ["replica", 5432, "sdi", password]}


# --- the image ---------------------------------------------------------------------------------

def _docker_ignores(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or one of its parent
    folders decides; `*` stays within a folder, `**` spans any number of them; `!` re-includes."""

    def regex(pattern: str) -> re.Pattern:
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif pattern[i] == "*":
                out, i = out + "[^/]*", i + 1
            elif pattern[i] == "?":
                out, i = out + "[^/]", i + 1
            else:
                out, i = out + re.escape(pattern[i]), i + 1
        return re.compile(out + r"\Z")

    parts = path.split("/")
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw.lstrip("!").strip("/")
        if any(regex(pattern).match("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_secrets_tests_and_state_out_of_the_image():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for path in (".env", ".env.production", "env.sh", ".git/HEAD", "tests/test_ops.py",
                 "tests/e2e/browser.py", "bench/load.py", "var/prod/.env",
                 "var/prod/volumes/pgdata/PG_VERSION", "artifacts/x.png", ".venv/bin/python",
                 "requirements-dev.txt", "sdi/__pycache__/settings.cpython-312.pyc",
                 "staticfiles/admin/css/base.css", "docs/deploy.md", "docker-compose.yml"):
        assert _docker_ignores(patterns, path), path
    for path in ("manage.py", "requirements.txt", "fixtures/kielce/city.yaml",
                 "fixtures/kielce/SOURCES.md", "deploy/app-entrypoint.sh",
                 "deploy/gunicorn.conf.py", "deploy/tiles-server.sh",
                 "locale/pl/LC_MESSAGES/django.po", "sdi/settings.py", "ops/compose_local.py",
                 "portal/static/portal/map.js"):
        assert not _docker_ignores(patterns, path), path
    # Everything the repository holds that the image needs is kept: every tracked file outside
    # the ignored folders.
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    kept = [p for p in tracked if not _docker_ignores(patterns, p)]
    assert "fixtures/kielce/indicators.yaml" in kept and not any(
        p.startswith(("tests/", "bench/", ".ci/")) for p in kept)


def test_the_image_installs_the_runtime_requirements_only():
    runtime = (ROOT / "requirements.txt").read_text()
    dev = (ROOT / "requirements-dev.txt").read_text()
    pins = {}
    for name, text in (("runtime", runtime), ("dev", dev)):
        for line in text.splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r"):
                package, _, version = line.partition("==")
                assert version, f"{name}: {line} is not pinned"
                assert package.lower() not in pins, f"{package} pinned twice"
                pins[package.lower()] = name
    assert "-r requirements.txt" in dev.splitlines()
    for tool in ("pytest", "pytest-django", "playwright", "schemathesis", "locust", "ruff",
                 "pip-audit", "owslib"):
        assert pins[tool] == "dev", tool
    for package in ("django", "gunicorn", "granian", "psycopg2-binary", "pygeoapi", "rasterio"):
        assert pins[package] == "runtime", package
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.txt" in dockerfile and "requirements-dev" not in dockerfile
    assert "collectstatic" not in dockerfile  # migrate collects into the static volume
    bootstrap = (ROOT / "scripts/bootstrap.sh").read_text()
    assert "pip install -q -r requirements-dev.txt" in bootstrap
    assert "cat requirements.txt requirements-dev.txt | sha256sum" in bootstrap


@pytest.mark.skipif(os.geteuid() != 0, reason="the entrypoint hands folders over as root")
def test_the_app_entrypoint_hands_root_owned_volumes_over_and_drops_root(tmp_path):
    """deploy/app-entrypoint.sh as Docker runs it: root, fresh root-owned volumes; the command
    runs as the service user, who owns the folders it writes. A read-only one is left alone."""
    folders = {name: tmp_path / name for name in ("static", "media", "backups")}
    for folder in folders.values():
        folder.mkdir()
    env = {"PATH": os.environ["PATH"], "SDI_USER": "nobody", "STATIC_ROOT": str(folders["static"]),
           "MEDIA_ROOT": str(folders["media"]), "BACKUP_DIR": str(tmp_path / "new" / "backups")}
    done = subprocess.run([str(ROOT / "deploy/app-entrypoint.sh"), "id", "-un"], env=env,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "nobody"
    for path in (folders["static"], folders["media"], tmp_path / "new" / "backups"):
        assert path.owner() == "nobody", path
    # Started as the user already (docker run --user), it only runs the command.
    done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           str(ROOT / "deploy/app-entrypoint.sh"), "id", "-un"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "nobody", done.stderr


def test_healthchecks_probe_the_container_itself_over_tcp():
    services = COMPOSE["services"]
    # The database only counts as up when it listens on the network (not during initdb).
    for name in ("db", "replica"):
        assert "-h 127.0.0.1" in services[name]["healthcheck"]["test"][1], name
    # The probes go to the container's own address with no site host name: Django answers them
    # whatever the Host (sdi/health.py ProbeMiddleware).
    assert services["web"]["healthcheck"]["test"][-1] == "http://127.0.0.1:8000/healthz"
    assert services["tiles"]["healthcheck"]["test"][-1] == "http://127.0.0.1:8001/healthz"
    nginx = services["nginx"]
    assert "./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    main = (ROOT / "deploy/nginx/nginx.conf").read_text()
    includes = re.findall(r"^\s*include\s+(\S+);", main, re.M)
    assert includes == ["/etc/nginx/mime.types", "/etc/nginx/conf.d/sdi.conf"]
    # The migrate job reads rasters from media and writes static files; city data is in the
    # image (fixtures/), no host folder is needed.
    migrate = services["migrate"]
    assert {"static:/srv/static", "media:/app/var/media"} <= set(migrate["volumes"])
    assert COMPOSE["x-web-env"]["CITY_DATA_DIRS"] == "/app/fixtures"
    assert all(not v.startswith("..") for s in services.values() for v in s.get("volumes", []))


def test_every_variable_of_the_compose_file_is_explained_in_docs_deploy():
    text = (ROOT / "docker-compose.yml").read_text()
    names = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    assert {"POSTGRES_PASSWORD", "REPLICATION_PASSWORD", "DJANGO_SECRET_KEY", "HTTP_PORT",
            "DJANGO_ALLOWED_HOSTS", "DJANGO_CSRF_TRUSTED_ORIGINS"} <= names
    doc = (ROOT / "docs/deploy.md").read_text()
    table = {m for m in re.findall(r"^\| `([A-Z_][A-Z0-9_]*)`", doc, re.M)}
    assert names <= table, sorted(names - table)
    # One description of production: the README and docs/scaling.md point to it.
    assert "docs/deploy.md" in (ROOT / "README.md").read_text()
    assert "deploy.md" in (ROOT / "docs/scaling.md").read_text()
