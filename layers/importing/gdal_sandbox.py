"""Reading a spatial file with GDAL in a process of its own that knows one format driver.

GDAL chooses the driver for a file by its content, among every driver it has: a file named
x.geojson that is an OGR VRT is read as a VRT, and a VRT (or a GDAL streamed algorithm, a WFS
connection, ...) reads whatever files and URLs it names. pyogrio cannot restrict that choice,
and GDAL's driver registry belongs to the whole process; so every read runs in a child process
(this file, run with `python -I`) started with OGR_SKIP naming every vector driver except the
one the format allows, and the child checks that GDAL knows that one driver alone before it
opens anything. The child reads with no network: its HTTP proxy has a scheme curl refuses (a
URL GDAL meets, such as a GeoJSON "crs" link, fails without any connection), /vsicurl/ accepts
no file name, GDAL lists no directories, the SQLite drivers reach no other file and PROJ
downloads no grids. Its CPU time is limited and the parent stops it after a timeout.

The child is not a privilege boundary (it runs as the web process's user): it pins down what
GDAL does with a file. It starts in about 0.2 s (pandas and shapely, which pyogrio would
import, are kept out); the values come back as JSON, the geometries as WKB after it.

Nothing here imports Django at module level: the child runs this file on its own.
"""

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Python modules pyogrio imports when it finds them and the child does not need.
UNNEEDED_MODULES = ("pandas", "shapely", "geopandas", "pyarrow")
# GDAL configuration of every read (GDAL takes config options from the environment too).
READ_CONFIG = {
    "GDAL_DRIVER_PATH": "disable",  # no plugin drivers
    # Every HTTP(S) request goes to a proxy whose scheme curl refuses: it fails at once and
    # connects nowhere (and nothing in the environment can exempt a host: no NO_PROXY is set).
    "GDAL_HTTP_PROXY": "refused://",
    "GDAL_HTTPS_PROXY": "refused://",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    "CPL_VSIL_CURL_ALLOWED_FILENAME": "/vsicurl/is-off",  # the one name /vsicurl/ may open
    "CPL_VSIL_CURL_USE_HEAD": "NO",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
    "PROJ_NETWORK": "OFF",
    "CPL_DEBUG": "OFF",
}
# What the child may keep of the parent's environment: where GDAL and PROJ find their data.
KEPT_ENVIRONMENT = ("GDAL_DATA", "PROJ_DATA", "PROJ_LIB", "PATH", "LANG")


class ReadError(ValueError):
    """GDAL could not read the file (its message), or the read was stopped."""


@dataclass
class VectorRead:
    layers: list[str] | None = None  # the file's layers, when they were asked for
    layer: str | None = None  # the layer read, when it was asked for or chosen from `layers`
    crs: str | None = None
    names: list[str] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)  # numpy dtype names, as pyogrio gives
    geometry_type: str | None = None
    wkb: list[bytes | None] | None = None  # None when nothing was read
    columns: list[list] = field(default_factory=list)  # Python values; NaN and NaT as None


def schema_type(dtype: str) -> str:
    """The layer schema type of a column of this numpy dtype."""
    for prefix, ftype in (("int", "integer"), ("uint", "integer"), ("float", "decimal"),
                          ("bool", "boolean"), ("datetime", "date")):
        if dtype.startswith(prefix):
            return ftype
    return "string"


def _settings(name: str, default):
    from django.conf import settings

    return getattr(settings, name, default)


def _timeout() -> int:
    return int(_settings("LAYER_IMPORT_READ_TIMEOUT", 300))


def _run_child(request: dict, skip: list[str], cwd: Path, timeout: int) -> dict:
    env = {k: os.environ[k] for k in KEPT_ENVIRONMENT if k in os.environ}
    env.update(READ_CONFIG, LC_ALL="C.UTF-8", PYTHONDONTWRITEBYTECODE="1",
               OGR_GEOJSON_MAX_OBJ_SIZE=str(max(1, _settings("LAYER_IMPORT_MAX_BYTES",
                                                              200 * 2**20) // 2**20)))
    if skip:
        env["OGR_SKIP"] = ",".join(skip)
    try:
        # -I: no PYTHON* variables, no user site-packages, and not this file's folder on
        # sys.path (layers/importing holds a numbers.py that would hide the standard library's).
        done = subprocess.run([sys.executable, "-I", __file__],
                              input=json.dumps(request).encode(), capture_output=True, cwd=cwd,
                              env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ReadError(f"reading the file took longer than {timeout} s and was stopped") \
            from None
    # The answer: JSON, a NUL byte (never part of JSON text), then the geometries' WKB.
    head, sep, blob = done.stdout.partition(b"\0")
    try:
        answer = json.loads(head) if sep else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        # A crash (a signal, memory) or the CPU limit: nothing usable came back.
        raise ReadError(f"GDAL stopped while reading the file (exit status {done.returncode})")
    if "broken" in answer:
        raise RuntimeError(f"the GDAL reader is misconfigured: {answer['broken']}")
    view, at = memoryview(blob), 0
    for read in answer.get("reads", []):
        if "wkb_sizes" in read:
            wkb = []
            for size in read.pop("wkb_sizes"):
                wkb.append(None if size < 0 else bytes(view[at:at + size]))
                at += max(size, 0)
            read["wkb"] = wkb
    return answer


@functools.cache
def vector_drivers() -> tuple[str, ...]:
    """Every vector driver the bundled GDAL has (asked of a child once per process, so that
    the web process never loads GDAL for it)."""
    answer = _run_child({"drivers": True}, [], Path(os.sep), _timeout())
    return tuple(answer["drivers"])


def _skip_all_but(driver: str) -> list[str]:
    drivers = vector_drivers()
    if driver not in drivers:
        raise RuntimeError(f"GDAL has no {driver} driver")
    return [d for d in drivers if d != driver]


def registered_drivers(driver: str) -> list[str]:
    """The vector drivers a reader for `driver` has (for tests: exactly [driver])."""
    return _run_child({"drivers": True}, _skip_all_but(driver), Path(os.sep),
                      _timeout())["drivers"]


@dataclass
class ReadRequest:
    """One file to read: `path` sits in a folder holding only the files to read and their
    own parts (a Shapefile's .shx, .dbf...): the child runs there and is given bare names."""

    path: Path
    layer: str | None = None
    list_layers: bool = False
    open_options: dict | None = None
    encoding: str | None = None


def read_vectors(requests: list[ReadRequest], driver: str) -> list["VectorRead | ReadError"]:
    """Read each request's file with GDAL's `driver` and no other, all in one child process;
    for each, what was read or the ReadError with GDAL's message (naming the file as
    `path.name`). With `list_layers` a file's layers are listed first, and one is read only
    when `layer` names one of them or, with no `layer`, when the file has exactly one."""
    folders = {Path(r.path).parent for r in requests}
    if len(folders) != 1:
        raise ValueError("the files of one read must share a folder")
    request = {"driver": driver, "cpu_seconds": _timeout(), "reads": [
        {"path": Path(r.path).name, "layer": r.layer, "list_layers": r.list_layers,
         "open_options": r.open_options or {}, "encoding": r.encoding} for r in requests]}
    answer = _run_child(request, _skip_all_but(driver), folders.pop(), _timeout())
    results = []
    for one in answer["reads"]:
        if "error" in one:
            results.append(ReadError(one["error"]))
            continue
        read = VectorRead(layers=one.get("layers"), layer=one.get("layer"))
        if "wkb" in one:
            read.crs = one["crs"]
            read.names = one["names"]
            read.dtypes = one["dtypes"]
            read.geometry_type = one["geometry_type"]
            read.wkb = one["wkb"]
            read.columns = one["columns"]
        results.append(read)
    return results


def read_vector(path: Path, driver: str, **request) -> VectorRead:
    """One file (see ReadRequest and read_vectors); GDAL's message in a ReadError."""
    result = read_vectors([ReadRequest(Path(path), **request)], driver)[0]
    if isinstance(result, ReadError):
        raise result
    return result


# --- the child ----------------------------------------------------------------------------

def _column_values(array) -> list:
    """A numpy column as JSON values: NaN/NaT (GDAL's nulls in typed columns) as None, dates
    as YYYY-MM-DD, bytes decoded."""
    kind = array.dtype.kind
    if kind == "f":
        return [None if v != v else v for v in array.tolist()]
    if kind == "M":
        return [None if v is None else v.isoformat()[:10]
                for v in array.astype("datetime64[ms]").astype(object).tolist()]
    values = array.tolist()
    if kind in ("O", "S"):
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]
    return values


def _child_read(request: dict, pyogrio) -> tuple[dict, list]:
    """The answer, and the geometries' WKB (None for a feature without geometry)."""
    import pyogrio.raw

    path, layer = request["path"], request["layer"]
    answer = {"layer": None}
    if request["list_layers"]:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        answer["layers"] = layers
        if layer is None and len(layers) == 1:
            layer = layers[0]
        if layer is None or layer not in layers:
            return answer, []
    meta, _fids, geoms, columns = pyogrio.raw.read(
        path, layer=layer, force_2d=True, encoding=request["encoding"],
        **request["open_options"])
    count = len(geoms) if geoms is not None else (len(columns[0]) if len(columns) else 0)
    wkb = [None] * count if geoms is None else list(geoms)
    answer.update(layer=layer, crs=meta.get("crs"), names=[str(n) for n in meta["fields"]],
                  dtypes=[str(t) for t in meta["dtypes"]],
                  geometry_type=meta.get("geometry_type"),
                  wkb_sizes=[-1 if g is None else len(g) for g in wkb],
                  columns=[_column_values(c) for c in columns])
    return answer, wkb


def _child() -> None:
    # The answer goes to the original stdout; whatever GDAL or Python print goes to stderr.
    answer_to = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    request = json.load(sys.stdin)
    if request.get("cpu_seconds"):
        import resource

        seconds = int(request["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))
    for name in UNNEEDED_MODULES:
        sys.modules[name] = None  # pyogrio then does without them
    import pyogrio

    drivers, wkb = sorted(pyogrio.list_drivers()), []
    if request.get("drivers"):
        answer = {"drivers": drivers}
    elif drivers != [request["driver"]]:
        answer = {"broken": f"GDAL knows {drivers}, not {request['driver']} alone"}
    else:
        answer = {"reads": []}
        for one in request["reads"]:
            try:
                read, geoms = _child_read(one, pyogrio)
            except Exception as exc:  # pyogrio raises several GDAL error types
                read, geoms = {"error": str(exc)}, []
            answer["reads"].append(read)
            wkb.extend(g for g in geoms if g is not None)
    answer_to.write(json.dumps(answer).encode() + b"\0")
    answer_to.write(b"".join(wkb))
    answer_to.close()


if __name__ == "__main__":
    _child()
