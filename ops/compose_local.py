"""docker-compose.yml, run on this machine without Docker: the local production topology.

    python -m ops.compose_local up | down | ps | env [SERVICE] | run SERVICE [ARG...] | config
    (scripts/prod-local.sh start | stop | status | env | run calls this)

The compose file itself is read: services, their entrypoints, commands and environment (with
`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}` interpolation from the caller's
environment over PROD_DIR/.env, as `docker compose --env-file PROD_DIR/.env` does), healthchecks
(run as written, with their intervals, start periods and retries), volumes, profiles and
depends_on with its conditions. `up` starts the same processes, as the same users, in the same
order, each once its dependencies are started, healthy or completed as the file says. What
cannot be the same on one host without containers is mapped here, explicitly:

- Addresses (HOST_PORTS): every service is on 127.0.0.1 with a port of its own. "db:5432" in a
  value becomes "127.0.0.1:5541"; a service's own "0.0.0.0:8000" or "127.0.0.1:8000" becomes its
  host port; the published nginx port is HTTP_PORT, which is PROD_HTTP_PORT here.
- Paths (Image.paths and the volumes): an image's paths map to folders. /app is this checkout;
  a named volume is PROD_DIR/volumes/<name>, created empty and owned by root as Docker creates
  it, or with the owner and mode of the image's folder it is first mounted over (Docker copies
  them); a container's /tmp is a private folder. Container paths in values, commands and
  healthchecks are rewritten to those folders.
- Users: each process runs as the user its image runs it as: the images' entrypoints start as
  root here too and hand over (the application's to `sdi`, created here as the Dockerfile
  creates it; postgres; redis; nginx's workers to the host nginx's default user).
- Images: the application image is this checkout and its virtualenv (the Dockerfile's ENTRYPOINT,
  CMD, WORKDIR and ENV are read from it; its RUN steps are scripts/bootstrap.sh and
  compilemessages). The postgis, redis and nginx images are Debian's packages of the same
  software; their entrypoints are done by image_entrypoint() below, step by step as the images
  do them, and installed where the image's docker-entrypoint.sh would be.
- Not emulated: networks and DNS (see addresses), read-only mounts (":ro" is not enforced),
  resource limits, and restart policies: `up` again starts whatever is down, as a restart would.
"""

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PGBIN = "/usr/lib/postgresql/15/bin"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Host ports of the services' container ports: (service, container port) -> PROD_* variable and
# its default. nginx's published port comes from its `ports:` (HTTP_PORT = PROD_HTTP_PORT).
HOST_PORTS = {
    ("web", 8000): ("PROD_WEB_PORT", 8181),
    ("tiles", 8001): ("PROD_TILES_PORT", 8182),
    ("db", 5432): ("PROD_PG_PORT", 5541),
    ("replica", 5432): ("PROD_REPLICA_PORT", 5542),
    ("redis", 6379): ("PROD_REDIS_PORT", 6391),
}
HTTP_PORT = ("PROD_HTTP_PORT", 8180)

# The images' own paths on this host (a service's mounts are added to these): {root} is this
# checkout, {prod} PROD_DIR, {run} the service's folder in PROD_DIR/run. A named volume is
# PROD_DIR/volumes/<name>.
IMAGE_PATHS = {
    "app": {
        "/app": "{root}",                  # WORKDIR: the code, as COPY . . puts it
        "/tmp": "{run}/tmp",               # each container has its own
    },
    "postgis": {
        "/var/run/postgresql": "{prod}/pgrun",  # the socket folder compiled into libpq
    },
    "redis": {
        "/data": "{run}/data",             # WORKDIR, an anonymous volume of the image
    },
    "nginx": {
        "/var/log/nginx": "{prod}/log/nginx",  # in the image: links to the container's output
        "/var/run": "{run}",               # nginx.pid
        "/etc/nginx/conf.d": "{run}/conf.d",   # the rendered templates
        "/docker-entrypoint.sh": "{run}/bin/docker-entrypoint.sh",
    },
}
# Host programs the images' PATH finds: the app image's Python is the virtualenv's; the
# postgis image has the PostgreSQL 15 tools on its PATH, as Debian has them in PGBIN. A
# service's {run}/bin holds its image's docker-entrypoint.sh (image_entrypoint below).
IMAGE_PATH_ENV = {
    "app": "{root}/.venv/bin:" + SYSTEM_PATH,
    "postgis": "{run}/bin:" + PGBIN + ":" + SYSTEM_PATH,
    "redis": "{run}/bin:" + SYSTEM_PATH,
    "nginx": SYSTEM_PATH,
}


class ComposeError(Exception):
    pass


# --- the compose file: interpolation and .env ---------------------------------------------------

_VAR = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}"
                  r"|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(text: str, env: dict, where: str = "") -> str:
    """Compose's variable syntax: $$ is a dollar; ${VAR:-default} (unset or empty), ${VAR-default}
    (unset), ${VAR:?error} / ${VAR?error} (stop with the error), ${VAR:+alt} / ${VAR+alt}."""

    def one(m):
        if m[1]:
            return "$"
        name = m[2] or m[5]
        op, arg = m[3], m[4] or ""
        value = env.get(name)
        unset, empty = value is None, not value
        if op in (":-", "-"):
            if (op == ":-" and empty) or unset:
                return interpolate(arg, env, where)
        elif op in (":?", "?"):
            if (op == ":?" and empty) or unset:
                raise ComposeError(f"{where}: required variable {name} is missing a value: "
                                   f"{interpolate(arg, env, where)}")
        elif op in (":+", "+"):
            return interpolate(arg, env, where) if not ((op == ":+" and empty) or unset) else ""
        return value or ""

    return _VAR.sub(one, text)


def _interpolate_tree(node, env, where=""):
    if isinstance(node, str):
        return interpolate(node, env, where)
    if isinstance(node, list):
        return [_interpolate_tree(v, env, where) for v in node]
    if isinstance(node, dict):
        return {k: _interpolate_tree(v, env, f"{where}.{k}" if where else str(k))
                for k, v in node.items()}
    return node


def read_dotenv(path: Path) -> dict:
    """A compose .env file: KEY=value lines; 'single quotes' keep the value as it is, "double
    quotes" understand \\n, \\" and \\\\; an unquoted value ends before ' #'."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key):
            raise ComposeError(f"{path}:{number}: not KEY=value")
        value = value.strip()
        if value[:1] == "'" and value.endswith("'") and len(value) > 1:
            value = value[1:-1]
        elif value[:1] == '"' and value.endswith('"') and len(value) > 1:
            value = re.sub(r'\\(["\\n])', lambda m: "\n" if m[1] == "n" else m[1], value[1:-1])
            value = interpolate(value, {**out, **os.environ})
        else:
            value = interpolate(re.split(r"\s+#", value, maxsplit=1)[0].strip(),
                                {**out, **os.environ})
        out[key] = value
    return out


def _dotenv_line(key: str, value: str) -> str:
    assert '"' not in value and "\\" not in value and "$" not in value and "\n" not in value
    return f'{key}="{value}"'


def _duration(value, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, (int, float)):
        return float(value)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ComposeError(f"not a duration: {value!r}")
    return sum(float(n) * units[u] for n, u in parts)


# --- images: what a container would have, and where it is on this host -----------------------

@dataclass
class Image:
    """An image as this host plays it."""

    kind: str                        # app, postgis, redis, nginx
    entrypoint: list[str]
    cmd: list[str]
    env: dict                         # the image's ENV (container paths)
    workdir: str = "/"
    stop_signal: int = signal.SIGTERM
    # Folders the image itself has, with their owner and mode: Docker copies them into a new,
    # empty named volume mounted there.
    owned_paths: dict = field(default_factory=dict)


def _dockerfile() -> dict:
    """ENTRYPOINT, CMD, WORKDIR, USER, ENV and STOPSIGNAL of the application's Dockerfile."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = {"ENV": {}, "USER": "root", "WORKDIR": "/", "ENTRYPOINT": [], "CMD": [],
           "STOPSIGNAL": "SIGTERM"}
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if word in ("ENTRYPOINT", "CMD"):
            out[word] = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
        elif word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                out["ENV"][key] = value
        elif word in ("WORKDIR", "USER", "STOPSIGNAL"):
            out[word] = rest
    if out["USER"] != "root":
        # The entrypoint must start as root to hand the volumes over (deploy/app-entrypoint.sh).
        raise ComposeError(f"Dockerfile: USER {out['USER']}: this runner starts the image as root")
    return out


def images() -> dict[str, Image]:
    d = _dockerfile()
    return {
        "app": Image("app", d["ENTRYPOINT"], d["CMD"], d["ENV"], d["WORKDIR"],
                     getattr(signal, d["STOPSIGNAL"])),
        # postgres:15 (Debian) with PostGIS: ENV PGDATA, the server's socket folder, STOPSIGNAL
        # SIGINT (fast shutdown); its data folder is postgres-owned, mode 1777.
        "postgis": Image("postgis", ["docker-entrypoint.sh"], ["postgres"],
                         {"PGDATA": "/var/lib/postgresql/data", "LANG": "en_US.utf8"},
                         stop_signal=signal.SIGINT,
                         owned_paths={"/var/lib/postgresql/data": ("postgres", 0o1777)}),
        "redis": Image("redis", ["docker-entrypoint.sh"], ["redis-server"], {}, "/data"),
        "nginx": Image("nginx", ["/docker-entrypoint.sh"], ["nginx", "-g", "daemon off;"], {},
                       stop_signal=signal.SIGQUIT),
    }


def image_kind(spec: dict) -> str:
    if "build" in spec:
        return "app"
    name = spec.get("image", "")
    for prefix, kind in (("postgis/postgis:", "postgis"), ("postgres:", "postgis"),
                         ("redis:", "redis"), ("nginx:", "nginx")):
        if name.startswith(prefix):
            return kind
    raise ComposeError(f"image {name!r}: no way to run it on this host (ops/compose_local.py)")


# --- the project: the compose file with this host's addresses, paths and users -------------------

@dataclass
class Mount:
    target: str
    source: Path
    volume: str | None
    read_only: bool


def ensure_env_file(prod_dir: Path) -> None:
    """The operator's .env (docs/deploy.md) for this copy: new random secrets on first use.
    The passwords hold characters that break URLs and SQL unless they are handled right."""
    env_file = prod_dir / ".env"
    if env_file.exists():
        return
    prod_dir.mkdir(parents=True, exist_ok=True)

    def password():
        return secrets.token_urlsafe(18) + " '@/:%#?&"

    lines = ["# Generated by ops/compose_local.py on first start: this local topology's secrets",
             "# (the operator's .env of docs/deploy.md). Variables set in the environment win.",
             _dotenv_line("POSTGRES_PASSWORD", password()),
             _dotenv_line("REPLICATION_PASSWORD", password()),
             _dotenv_line("DJANGO_SECRET_KEY", secrets.token_urlsafe(50)),
             "# Requests come as through the city's balancer: Host: localhost and",
             "# X-Forwarded-Proto: https (or set DJANGO_SSL_REDIRECT=false for a browser).",
             "DJANGO_ALLOWED_HOSTS=localhost"]
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")


def prod_dir_of(environ: dict) -> Path:
    return Path(environ.get("PROD_DIR") or ROOT / "var" / "prod").resolve()


class Project:
    def __init__(self, prod_dir: Path | None = None, environ: dict | None = None,
                 compose_file: Path = COMPOSE_FILE):
        self.environ = dict(os.environ if environ is None else environ)
        self.dir = Path(prod_dir).resolve() if prod_dir else prod_dir_of(self.environ)
        self.env_file = self.dir / ".env"
        raw = yaml.safe_load(compose_file.read_text())
        self.ports = {key: int(self.environ.get(var) or default)
                      for key, (var, default) in HOST_PORTS.items()}
        values = {**read_dotenv(self.env_file), **self.environ,
                  "HTTP_PORT": str(self.environ.get(HTTP_PORT[0]) or HTTP_PORT[1])}
        self.model = _interpolate_tree(raw, values)
        self.images = images()
        self.services = {name: Service(self, name, spec)
                         for name, spec in self.model["services"].items()}
        for name, service in self.services.items():
            for cport, hport in service.published.items():
                self.ports[(name, cport)] = hport

    # the compose file's order of things
    def active(self) -> list[str]:
        """Services `up` starts: those without a profile (COMPOSE_PROFILES adds profiles)."""
        profiles = set(filter(None, self.environ.get("COMPOSE_PROFILES", "").split(",")))
        return [n for n, s in self.services.items()
                if not s.spec.get("profiles") or profiles & set(s.spec["profiles"])]

    def order(self, names: list[str]) -> list[str]:
        done: list[str] = []

        def visit(name, path=()):
            if name in path:
                raise ComposeError(f"depends_on cycle: {' -> '.join((*path, name))}")
            if name not in done:
                for dep in self.services[name].depends_on:
                    visit(dep, (*path, name))
                done.append(name)

        for name in names:
            visit(name)
        return done

    def host_port(self, service: str, port: int) -> int:
        try:
            return self.ports[(service, port)]
        except KeyError:
            raise ComposeError(f"{service}:{port}: no host port for it (HOST_PORTS in "
                               "ops/compose_local.py)") from None

    def volume(self, name: str) -> Path:
        if name not in (self.model.get("volumes") or {}):
            raise ComposeError(f"volume {name!r} is not declared under volumes:")
        return self.dir / "volumes" / name


class Service:
    def __init__(self, project: Project, name: str, spec: dict):
        self.project, self.name, self.spec = project, name, spec
        self.image = project.images[image_kind(spec)]
        self.run_dir = project.dir / "run" / name
        self.log = project.dir / "log" / f"{name}.log"
        self.published = {}
        for entry in spec.get("ports", []):
            host, _, container = str(entry).rpartition(":")
            self.published[int(container)] = int(host.rpartition(":")[2])

    # --- what the compose file says ---
    @property
    def depends_on(self) -> dict[str, str]:
        deps = self.spec.get("depends_on") or {}
        if isinstance(deps, list):
            return {d: "service_started" for d in deps}
        return {d: (c or {}).get("condition", "service_started") for d, c in deps.items()}

    @property
    def one_shot(self) -> bool:
        """A job that runs to completion: another service waits for it to complete."""
        return any(s.depends_on.get(self.name) == "service_completed_successfully"
                   for s in self.project.services.values())

    @property
    def mounts(self) -> list[Mount]:
        out = []
        for entry in self.spec.get("volumes", []):
            if isinstance(entry, dict):
                source, target = entry.get("source", ""), entry["target"]
                read_only = bool(entry.get("read_only"))
            else:
                parts = entry.split(":")
                source, target = parts[0], parts[1]
                read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            if source.startswith((".", "/", "~")):
                path = (ROOT / source).resolve() if source.startswith(".") else Path(source)
                out.append(Mount(target, path, None, read_only))
            else:
                out.append(Mount(target, self.project.volume(source), source, read_only))
        return out

    @property
    def environment(self) -> dict[str, str]:
        env = self.spec.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.partition("=")[::2] for item in env)
        return {k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in env.items()}

    # --- this host's version of it ---
    def _host(self, template: str) -> str:
        return template.format(root=ROOT, prod=self.project.dir, run=self.run_dir)

    def paths(self) -> dict[str, Path]:
        """Container path -> host path: the image's own (IMAGE_PATHS), then the mounts."""
        table = {k: Path(self._host(v)) for k, v in IMAGE_PATHS[self.image.kind].items()}
        for mount in self.mounts:
            table[mount.target] = mount.source
        return table

    def map(self, text: str) -> str:
        """A value, argument or healthcheck as it must read on this host."""
        for (service, cport), hport in self.project.ports.items():
            if service != self.name:
                text = re.sub(rf"(?<![\w.-]){re.escape(service)}:{cport}(?!\d)",
                              f"127.0.0.1:{hport}", text)
        for (service, cport), hport in self.project.ports.items():
            if service == self.name:
                text = re.sub(rf"(?<![\w.-])(?:0\.0\.0\.0|127\.0\.0\.1|localhost):{cport}(?!\d)",
                              f"127.0.0.1:{hport}", text)
        table = self.paths()
        if table:
            pattern = "|".join(re.escape(p) for p in sorted(table, key=len, reverse=True))
            text = re.sub(rf"(?<![\w./-])({pattern})(?![\w.-])",
                          lambda m: str(table[m[1]]), text)
        return text

    def own_port(self) -> int | None:
        ports = [h for (s, _), h in self.project.ports.items() if s == self.name]
        return ports[0] if ports else None

    def process_env(self) -> dict[str, str]:
        """The container's environment: the image's ENV, then the service's, mapped."""
        extra = {}
        if self.image.kind == "postgis":
            # Port and socket: the image's server listens on 5432 in its own network, and its
            # tools find it through the compiled-in socket folder; here both are the host's.
            extra = {"PGPORT": str(self.own_port()), "PGHOST": self.map("/var/run/postgresql")}
        env = {"PATH": self._host(IMAGE_PATH_ENV[self.image.kind]), "HOME": "/root",
               "LANG": "C.UTF-8"}
        for key, value in {**self.image.env, **self.environment}.items():
            env[key] = self.map(value)
        if self.image.kind == "postgis":
            env["LANG"] = "C.UTF-8"  # the image's en_US.utf8 is not generated on every host
        env.update(extra)
        return env

    def argv(self, command: list[str] | None = None) -> list[str]:
        entrypoint = self.spec.get("entrypoint", self.image.entrypoint)
        if isinstance(entrypoint, str):
            entrypoint = shlex.split(entrypoint)
        if command is None:
            command = self.spec.get("command", self.image.cmd if "entrypoint" not in self.spec
                                    else [])
        if isinstance(command, str):
            command = shlex.split(command)
        return [self.map(a) for a in [*entrypoint, *command]]

    def healthcheck(self) -> dict | None:
        check = self.spec.get("healthcheck")
        if not check or check.get("disable"):
            return None
        test = check["test"]
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        if test[0] == "NONE":
            return None
        argv = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
        return {"argv": [self.map(a) for a in argv],
                "interval": _duration(check.get("interval"), 30),
                "timeout": _duration(check.get("timeout"), 30),
                "retries": int(check.get("retries", 3)),
                "start_period": _duration(check.get("start_period"), 0),
                "start_interval": _duration(check.get("start_interval"), 5)}

    # --- its process ---
    @property
    def pid_file(self) -> Path:
        return self.run_dir / "pid"

    def pid(self) -> int | None:
        """The main process, if it runs. A postgres server records itself in its data folder
        (and a `pg_ctl restart` makes a new one there)."""
        if self.image.kind == "postgis":
            pgdata = Path(self.process_env()["PGDATA"]) / "postmaster.pid"
            try:
                pid = int(pgdata.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = None
            if pid and _alive(pid):
                return pid
        try:
            pid, start = (int(x) for x in self.pid_file.read_text().split())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and _start_time(pid) == start else None

    def prepare(self) -> None:
        """Folders and volumes, as Docker would have them when the container is created."""
        for folder in (self.run_dir, self.log.parent):
            folder.mkdir(parents=True, exist_ok=True)
        # The image's working folder exists in the image (redis: its /data volume).
        Path(self.map(self.spec.get("working_dir", self.image.workdir))).mkdir(
            parents=True, exist_ok=True)
        if self.image.kind == "app":
            tmp = self.run_dir / "tmp"
            tmp.mkdir(exist_ok=True)
            tmp.chmod(0o1777)
        for mount in self.mounts:
            if mount.volume is None:
                if not mount.source.exists():
                    raise ComposeError(f"{self.name}: bind mount source {mount.source} missing")
                continue
            path = mount.source
            if not path.exists():
                path.mkdir(parents=True)
                path.chmod(0o755)  # Docker's local driver: root, 755
            if not any(path.iterdir()) and mount.target in self.image.owned_paths:
                user, mode = self.image.owned_paths[mount.target]
                shutil.chown(path, user, user)
                path.chmod(mode)
        if self.image.kind in ("postgis", "redis", "nginx"):
            self._install_entrypoint()

    def _install_entrypoint(self) -> None:
        """Where the image has its docker-entrypoint.sh: a stand-in running image_entrypoint()."""
        bin_dir = self.run_dir / "bin"
        bin_dir.mkdir(exist_ok=True)
        spec = self.run_dir / "container.json"
        spec.write_text(json.dumps({
            "service": self.name, "kind": self.image.kind, "port": self.own_port(),
            "paths": {k: str(v) for k, v in self.paths().items()},
            "mounts": [{"target": m.target, "source": str(m.source)} for m in self.mounts],
        }, indent=1))
        shim = bin_dir / "docker-entrypoint.sh"
        shim.write_text("#!/bin/sh\n# The image's entrypoint, done on this host "
                        "(ops/compose_local.py image_entrypoint).\n"
                        f"exec {shlex.quote(sys.executable)} {shlex.quote(__file__)} entrypoint "
                        f"{shlex.quote(str(spec))} \"$@\"\n")
        shim.chmod(0o755)

    def start(self, command: list[str] | None = None, foreground: bool = False):
        self.prepare()
        argv, env = self.argv(command), self.process_env()
        workdir = self.map(self.spec.get("working_dir", self.image.workdir))
        if foreground:
            return subprocess.run(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL)
        with open(self.log, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start: "
                      f"{shlex.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.pid_file.write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
        return proc

    def check_health(self, timeout: float | None = None) -> bool:
        check = self.healthcheck()
        if check is None:
            return self.pid() is not None
        try:
            done = subprocess.run(check["argv"], env=self.process_env(),
                                  cwd=self.map(self.image.workdir), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout or check["timeout"])
        except (subprocess.TimeoutExpired, OSError):
            return False
        return done.returncode == 0

    def stop(self, grace: float | None = None) -> None:
        grace = _duration(self.spec.get("stop_grace_period"), 10) if grace is None else grace
        pid = self.pid()
        if pid is not None:
            os.kill(pid, self.image.stop_signal)
            deadline = time.monotonic() + grace
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                _kill_group(pid)
        self.pid_file.unlink(missing_ok=True)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])


def _alive(pid: int) -> bool:
    """Running, not a zombie (nobody may reap what this runner left behind)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# --- building the application "image" ------------------------------------------------------------

def build_app_image(project: Project) -> None:
    """The Dockerfile's RUN steps, as this host has them: the virtualenv (scripts/bootstrap.sh,
    run by prod-local.sh), the compiled translations, and the `sdi` user."""
    if not list((ROOT / "locale").glob("*/LC_MESSAGES/*.mo")):
        subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", "compilemessages",
                        "--ignore=.venv", "-v", "0"], cwd=ROOT, check=True)
    if subprocess.run(["id", "-u", "sdi"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/nonexistent",
                        "--no-create-home", "--shell", "/usr/sbin/nologin", "sdi"], check=True)
    # The image's Python is /usr/local/bin/python and its code /app; here they are the
    # virtualenv's interpreter and this checkout, which may live under a folder only root may
    # enter (pyenv in /root): `sdi` may pass through such folders (x, no listing), nothing more.
    interpreter = Path(os.path.realpath(ROOT / ".venv/bin/python"))
    for target in (interpreter, Path(os.path.realpath(ROOT / ".venv")), ROOT):
        for folder in [*reversed(target.parents), *([target] if target.is_dir() else [])]:
            if not folder.stat().st_mode & 0o001:
                subprocess.run(["setfacl", "-m", "u:sdi:x", str(folder)], check=True)
    for path in (ROOT / "manage.py", interpreter):
        if subprocess.run([*_as("sdi"), "test", "-r", str(path)]).returncode != 0:
            raise ComposeError(f"the application's user (sdi) cannot read {path}: the image's "
                               "files are readable by all (check this checkout's umask)")


# --- up, down, ps --------------------------------------------------------------------------------

def say(message: str) -> None:
    print(f"compose-local [{time.strftime('%H:%M:%S')}]: {message}", flush=True)


def _need_root() -> None:
    if os.geteuid() != 0:
        raise ComposeError("run as root: the images' entrypoints start as root and hand the "
                           "servers to their own users (sdi, postgres, redis), as in Docker")


def up(project: Project, names: list[str] | None = None) -> None:
    """`docker compose up -d`: every service once its dependencies are as depends_on says;
    what runs already is left running; one-shot services run (again) to completion."""
    _need_root()
    wanted = project.order(names or project.active())
    if any(project.services[n].image.kind == "app" for n in wanted):
        build_app_image(project)
    state: dict[str, str] = {}        # started, healthy, completed
    started_at: dict[str, float] = {}
    procs: dict[str, subprocess.Popen] = {}
    next_check: dict[str, float] = {}
    failures: dict[str, int] = {}
    deadline = time.monotonic() + float(project.environ.get("PROD_START_TIMEOUT", 900))

    def satisfied(dep: str, condition: str) -> bool:
        s = state.get(dep)
        if condition == "service_completed_successfully":
            return s == "completed"
        if condition == "service_healthy":
            return s == "healthy"
        return s in ("started", "healthy", "completed")

    while True:
        if all(state.get(n) in ("healthy", "completed") or
               (state.get(n) == "started" and project.services[n].healthcheck() is None)
               for n in wanted):
            break
        if time.monotonic() > deadline:
            raise ComposeError("not up after PROD_START_TIMEOUT seconds: "
                               + ", ".join(f"{n}: {state.get(n, 'waiting')}" for n in wanted))
        for name in wanted:
            svc = project.services[name]
            if name not in state and all(satisfied(d, c) for d, c in svc.depends_on.items()):
                if svc.one_shot:
                    say(f"{name}: running {shlex.join(svc.argv())}")
                    procs[name] = svc.start()
                elif svc.pid() is None:
                    say(f"{name}: starting")
                    procs[name] = svc.start()
                state[name] = "started"
                started_at[name] = time.monotonic()
                next_check[name] = 0.0
        now = time.monotonic()
        for name in list(state):
            svc = project.services[name]
            if state[name] != "started":
                continue
            if svc.one_shot:
                code = procs[name].poll()
                if code is None:
                    continue
                (svc.run_dir / "exit").write_text(f"{code}\n")
                if code != 0:
                    raise ComposeError(f"{name} exited with {code}; {svc.log}:\n{svc.tail()}")
                say(f"{name}: completed")
                state[name] = "completed"
                continue
            if name in procs and procs[name].poll() is not None and svc.pid() is None:
                raise ComposeError(f"{name} exited with {procs[name].returncode}; "
                                   f"{svc.log}:\n{svc.tail()}")
            check = svc.healthcheck()
            if check is None or now < next_check[name]:
                continue
            in_start = now - started_at[name] < check["start_period"]
            if svc.check_health():
                say(f"{name}: healthy")
                state[name] = "healthy"
                continue
            if not in_start:
                failures[name] = failures.get(name, 0) + 1
                if failures[name] >= check["retries"]:
                    raise ComposeError(f"{name} is unhealthy ({shlex.join(check['argv'])} "
                                       f"failed {failures[name]} times); {svc.log}:\n"
                                       f"{svc.tail()}")
            next_check[name] = now + (check["start_interval"] if in_start else check["interval"])
        time.sleep(0.2)


def down(project: Project) -> None:
    for name in reversed(project.order(list(project.services))):
        svc = project.services[name]
        if svc.pid() is not None:
            say(f"{name}: stopping")
            svc.stop()


def ps(project: Project) -> dict[str, str]:
    out = {}
    for name in project.order(project.active()):
        svc = project.services[name]
        if svc.pid() is None:
            code = (svc.run_dir / "exit").read_text().strip() if (
                svc.run_dir / "exit").exists() else None
            out[name] = f"exited ({code})" if svc.one_shot and code else "not running"
        else:
            out[name] = ("running, healthy" if svc.healthcheck() and svc.check_health()
                         else "running" if not svc.healthcheck() else "running, unhealthy")
    return out


def run(project: Project, name: str, command: list[str]) -> int:
    """`docker compose run --rm SERVICE [COMMAND]`: its dependencies up, then it, here."""
    _need_root()
    svc = project.services[name]
    deps = [d for d in project.order([name]) if d != name]
    if deps:
        up(project, deps)
    if svc.image.kind == "app":
        build_app_image(project)
    return svc.start(command or None, foreground=True).returncode


# --- the images' entrypoints, done on this host ---------------------------------------------

def _as(user: str) -> list[str]:
    # setpriv execs (gosu and su-exec in the images do too): signals reach the server itself.
    import pwd

    gid = pwd.getpwnam(user).pw_gid
    return ["setpriv", f"--reuid={user}", f"--regid={gid}", "--init-groups", "--"]


def image_entrypoint(spec_file: str, args: list[str]) -> None:
    spec = json.loads(Path(spec_file).read_text())
    kind = spec["kind"]
    {"postgis": _postgis_entrypoint, "redis": _redis_entrypoint,
     "nginx": _nginx_entrypoint}[kind](spec, args)


def _postgis_entrypoint(spec: dict, args: list[str]) -> None:
    """postgres' docker-entrypoint.sh and postgis' initdb-postgis.sh: on an empty data folder,
    initdb with POSTGRES_USER / POSTGRES_PASSWORD, a temporary server on the socket only,
    POSTGRES_DB, PostGIS, then /docker-entrypoint-initdb.d; then the server as `postgres`.
    This host's differences: the locale (C.UTF-8), the port and socket folder, the server
    listening on 127.0.0.1, and loopback connections checked with passwords (in the image
    they are trusted, and other containers come from other addresses: here they come over the
    loopback)."""
    if args and args[0].startswith("-"):
        args = ["postgres", *args]
    if not args or args[0] != "postgres":
        os.execvp(args[0], args)
    env = os.environ
    pgdata = Path(env["PGDATA"])
    port = str(spec["port"])
    sock = Path(env["PGHOST"])
    as_pg = _as("postgres")
    for folder, mode in ((pgdata, 0o700), (sock, 0o3777)):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, "postgres", "postgres")
        folder.chmod(mode)
    if not (pgdata / "PG_VERSION").exists():
        user = env.get("POSTGRES_USER", "postgres")
        dbname = env.get("POSTGRES_DB", user)
        pwfile = sock / ".initdb-pw"
        pwfile.write_text(env["POSTGRES_PASSWORD"] + "\n")
        shutil.chown(pwfile, "postgres")
        pwfile.chmod(0o600)
        try:
            subprocess.run([*as_pg, f"{PGBIN}/initdb", "-D", str(pgdata), f"--username={user}",
                            f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8",
                            "--auth-local=trust", "--auth-host=scram-sha-256"], check=True)
        finally:
            pwfile.unlink(missing_ok=True)
        with open(pgdata / "postgresql.conf", "a") as conf:
            conf.write("\n# ops/compose_local.py: this host's address and socket folder\n"
                       f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{sock}'\n")
        with open(pgdata / "pg_hba.conf", "a") as hba:
            hba.write("\nhost all all all scram-sha-256\n")  # POSTGRES_HOST_AUTH_METHOD
        subprocess.run([*as_pg, f"{PGBIN}/pg_ctl", "-D", str(pgdata), "-w", "-o",
                        f"-c listen_addresses='' -p {port}", "start"], check=True,
                       stdout=subprocess.DEVNULL)
        psql = [*as_pg, f"{PGBIN}/psql", "-v", "ON_ERROR_STOP=1", "-q", "-h", str(sock),
                "-p", port, "--username", user, "--no-password"]
        if dbname != "postgres":
            subprocess.run([*psql, "-d", "postgres", "-v", f"db={dbname}"],
                           input='CREATE DATABASE :"db";', text=True, check=True)
        # The postgis image's 10_postgis.sh.
        subprocess.run([*psql, "-d", "postgres"], check=True, text=True,
                       input="CREATE DATABASE template_postgis IS_TEMPLATE true;")
        for db in ("template_postgis", dbname):
            subprocess.run([*psql, "-d", db], check=True, text=True, input=(
                "CREATE EXTENSION IF NOT EXISTS postgis;\n"
                "CREATE EXTENSION IF NOT EXISTS postgis_topology;\n\\c\n"
                "CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;\n"
                "CREATE EXTENSION IF NOT EXISTS postgis_tiger_geocoder;\n"))
        init = sorted((m["target"], m["source"]) for m in spec["mounts"]
                      if m["target"].startswith("/docker-entrypoint-initdb.d/"))
        for target, source in init:
            if target.endswith(".sh"):
                subprocess.run([*as_pg, "/bin/sh", source], check=True,
                               env={**env, "PGPASSWORD": env["POSTGRES_PASSWORD"]})
            elif target.endswith(".sql"):
                subprocess.run([*psql, "-d", dbname, "-f", source], check=True)
        subprocess.run([*as_pg, f"{PGBIN}/pg_ctl", "-D", str(pgdata), "-m", "fast", "-w",
                        "stop"], check=True, stdout=subprocess.DEVNULL)
    argv = [*as_pg, f"{PGBIN}/postgres", "-D", str(pgdata), *args[1:], "-p", port]
    os.execvp(argv[0], argv)


def _redis_entrypoint(spec: dict, args: list[str]) -> None:
    """The redis image's entrypoint: as root, its folder to `redis` and the server as `redis`.
    Here the server also gets this host's port, address and folder."""
    if args and (args[0].startswith("-") or args[0].endswith(".conf")):
        args = ["redis-server", *args]
    data = Path(spec["paths"]["/data"])
    data.mkdir(parents=True, exist_ok=True)
    shutil.chown(data, "redis", "redis")
    if args and args[0] == "redis-server":
        args = [*args, "--port", str(spec["port"]), "--bind", "127.0.0.1", "--dir", str(data),
                "--daemonize", "no"]
        args = [*_as("redis"), *args]
    os.execvp(args[0], args)


def _nginx_entrypoint(spec: dict, args: list[str]) -> None:
    """The nginx image's /docker-entrypoint.sh for `nginx ...`: 20-envsubst-on-templates.sh
    writes every /etc/nginx/templates/*.template to /etc/nginx/conf.d/ with the variables of
    the environment filled in (10-listen-on-ipv6-by-default.sh edits only default.conf, which
    deploy/nginx/nginx.conf does not include). Here the main configuration mounted over
    /etc/nginx/nginx.conf is written out with this host's paths for its container paths."""
    if not args or args[0] not in ("nginx", "nginx-debug"):
        os.execvp(args[0], args)
    paths = spec["paths"]
    conf_d = Path(paths["/etc/nginx/conf.d"])
    run_dir = Path(paths["/var/run"])
    for folder in (conf_d, Path(paths["/var/log/nginx"])):
        folder.mkdir(parents=True, exist_ok=True)
    defined = " ".join(f"${{{name}}}" for name in os.environ)
    for m in spec["mounts"]:
        if m["target"].startswith("/etc/nginx/templates/") and m["target"].endswith(".template"):
            name = Path(m["target"]).name.removesuffix(".template")
            rendered = subprocess.run(["envsubst", defined], input=Path(m["source"]).read_text(),
                                      text=True, capture_output=True, check=True).stdout
            (conf_d / name).write_text(rendered)
    main = next((m["source"] for m in spec["mounts"] if m["target"] == "/etc/nginx/nginx.conf"),
                None)
    if main is None:
        raise ComposeError("nginx: this runner needs nginx.conf mounted (deploy/nginx/nginx.conf)")
    pattern = "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True))
    text = re.sub(rf"(?<![\w./-])({pattern})(?![\w.-])", lambda m: paths[m[1]],
                  Path(main).read_text())
    (run_dir / "nginx.conf").write_text(text)
    argv = [args[0], "-c", str(run_dir / "nginx.conf"),
            "-e", str(Path(paths["/var/log/nginx"]) / "error.log"), *args[1:]]
    subprocess.run([*argv[:5], "-t", "-q"], check=True)
    os.execvp(argv[0], argv)


# --- command line --------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.compose_local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start what is down, in dependency order (docker compose up -d)")
    sub.add_parser("down", help="stop every service (volumes stay)")
    sub.add_parser("ps", help="each service: running, healthy")
    p_env = sub.add_parser("env", help="a service's environment as it runs here (default web)")
    p_env.add_argument("service", nargs="?", default="web")
    p_run = sub.add_parser("run", help="docker compose run --rm SERVICE [COMMAND...]")
    p_run.add_argument("service")
    p_run.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("config", help="the compose file as interpolated here (JSON)")
    p_entry = sub.add_parser("entrypoint", help=argparse.SUPPRESS)
    p_entry.add_argument("spec")
    p_entry.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)

    if opts.command == "entrypoint":
        image_entrypoint(opts.spec, opts.args)
        return 0
    try:
        if opts.command in ("up", "run"):
            ensure_env_file(prod_dir_of(os.environ))
        project = Project()
        if opts.command == "up":
            up(project)
        elif opts.command == "down":
            down(project)
        elif opts.command == "ps":
            for name, status in ps(project).items():
                print(f"{name}: {status}")
        elif opts.command == "env":
            for key, value in project.services[opts.service].process_env().items():
                if key not in ("PATH", "HOME", "LANG"):
                    print(f"{key}={value}")
        elif opts.command == "run":
            return run(project, opts.service, opts.args)
        elif opts.command == "config":
            print(json.dumps(project.model, indent=1))
    except ComposeError as exc:
        print(f"compose-local: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
