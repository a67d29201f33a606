"""Property-based runs over both OpenAPI documents, the REST API's (/api/schema/) and the OGC
API's (/ogc/openapi), with schemathesis against the live gunicorn: whatever a client sends, the
answer is never a 5xx.

Requests are generated from each operation's declared parameters and bodies, valid and invalid
ones (schemathesis's positive and negative modes), with strings, integers and numbers drawn now
and then from dictionaries of the inputs that once broke this site: NUL characters, integers
beyond 64 bits, doubles at their limits, long text; bodies are sometimes nested far deeper than
any reader allows. The run is bounded and repeatable (a fixed seed per operation, no example
database), so CI sees the same requests every time.

Writes are made with the token of an editor of one layer made for the run (every type of
property), which is removed afterwards with everything written to it; every other layer is
read-only to that user, so the rest of the suite's data stays as it was.
"""

import zlib

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from layers.models import Layer

pytestmark = pytest.mark.django_db

SLUG = "fuzz-points"
SCHEMA = {"fields": [
    {"name": "name", "type": "string", "required": True},
    {"name": "count", "type": "integer"},
    {"name": "area", "type": "decimal"},
    {"name": "open", "type": "boolean"},
    {"name": "since", "type": "date"},
    {"name": "kind", "type": "string", "choices": ["a", "b"]},
]}
# Twice what any reader here takes (sdi.input_guard.MAX_DEPTH); much deeper ones (the 4,000
# levels of tests/test_bad_input.py) exhaust the stack of the generator and its validator.
DEPTH = 200

NASTY_TEXT = ["a\x00b", "\x00", "%00", "\x00" * 3, "x" * 3000, "x" * 20000, "ł" * 3000,
              "1e400", "-1e400", "NaN", "99999999999999999999999999", "\\", "'", "%", "_",
              "[" * 500, "{" * 500,
              "nazwa LIKE '\\'", "S_DWITHIN(geometry,POINT(20.6 50.8),20000000,meters)",
              "0,0,1e30,1e30", "http://www.opengis.net/def/crs/EPSG/0/2180", "\u202e\ufeff"]
NASTY_INTEGERS = [99999999999999999999999999, -99999999999999999999999999, 2**63, -2**63 - 1,
                  2**63 - 1, 2**31, -1, 0]
NASTY_NUMBERS = [1.7976931348623157e308, -1.7976931348623157e308, 1e300, 5e-324, 1e30, -0.0]

POINT = {"type": "Point", "coordinates": [20.61, 50.86]}
# JSON that is not the object an operation takes.
ODD_BODIES = [None, 0, "x", True, [], [None], {"properties": 1, "geometry": 1}]
# Features for the run's layer with its own property names, so that values reach the schema's
# checks (generated names are refused as unknown before any value is looked at).
LAYER_PROPERTIES = st.fixed_dictionaries(
    {"name": st.sampled_from(["Punkt", *NASTY_TEXT])},
    optional={"count": st.sampled_from([7, *NASTY_INTEGERS, 1e300, "12"]),
              "area": st.sampled_from([1.5, *NASTY_NUMBERS, *NASTY_INTEGERS, "1e400", "NaN"]),
              "open": st.sampled_from([True, "tak", 1]),
              "since": st.sampled_from(["2024-01-31", "2024-02-30", "a\x00b"]),
              "kind": st.sampled_from(["a", "c", "a\x00"])})

SEED = 20261206
SETTINGS = {
    "dictionaries": {
        "text": {"values": NASTY_TEXT},
        "integers": {"values": NASTY_INTEGERS},
        "numbers": {"values": NASTY_NUMBERS},
    },
    "generation": {
        "max-examples": 12,
        "database": "none",
        "with-security-parameters": False,
        "dictionaries": {
            "string": {"dictionary": "text", "probability": 0.4},
            "integer": {"dictionary": "integers", "probability": 0.3},
            "number": {"dictionary": "numbers", "probability": 0.3},
        },
    },
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}
CONFIG = SchemathesisConfig.from_dict(SETTINGS)


def _nested(body, depth: int = DEPTH):
    for _ in range(depth):
        body = [body]
    return body


def _register_hooks(schema, slugs: list[str]):
    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        # Most requests go to the run's own layer, where writes get past permissions to the
        # body; the others keep what was generated (unknown slugs, NUL, ...).
        if not isinstance(path_parameters, dict) or "slug" not in path_parameters:
            return st.just(path_parameters)
        return st.sampled_from([{**path_parameters, "slug": slug} for slug in slugs]
                               + [path_parameters])

    @schema.hook
    def map_headers(context, headers):
        # HTTP carries header values as Latin-1: other characters are sent as escapes (the NUL,
        # which Latin-1 has, stays).
        if not isinstance(headers, dict):
            return headers
        return {k: v.encode("latin-1", "backslashreplace").decode("latin-1")
                if isinstance(v, str) else v for k, v in headers.items()}

    @schema.hook
    def flatmap_body(context, body):
        if not isinstance(body, dict | list):
            return st.just(body)
        options = [st.just(body), st.just(_nested(body)), st.sampled_from(ODD_BODIES)]
        if isinstance(body, dict) and "properties" in body:
            options.append(LAYER_PROPERTIES.map(
                lambda props: {**body, "type": "Feature", "geometry": POINT, "properties": props}))
        return st.one_of(options)

    return schema


@pytest.fixture(scope="module")
def fuzz_token(live_url, django_db_blocker):
    """A committed layer for the run and the token of its only editor; removed afterwards."""
    from django.contrib.auth.models import Group, User
    from django.contrib.gis.geos import Point
    from rest_framework.authtoken.models import Token

    from layers import editing

    with django_db_blocker.unblock():
        group = Group.objects.create(name="fuzz-editors")
        user = User.objects.create_user("fuzz-editor")
        user.groups.add(group)
        layer = Layer.objects.create(slug=SLUG, title_pl="Warstwa do testów losowych",
                                     title_en="Layer for property-based tests",
                                     geometry_type="Point", schema=SCHEMA, licence="CC0",
                                     attribution="Dane syntetyczne (testy)", publisher="Testy")
        layer.editor_groups.add(group)
        for i in range(3):
            editing.create_feature(layer, Point(20.6 + i / 100, 50.85, srid=4326),
                                   {"name": f"Punkt {i}", "count": i, "area": i / 2},
                                   channel="test")
        token = Token.objects.create(user=user).key
    yield token
    with django_db_blocker.unblock():
        Layer.objects.filter(slug=SLUG).delete()
        user.delete()
        group.delete()


@pytest.fixture(scope="module")
def rest_schema(live_url, fuzz_token):
    schema = schemathesis.openapi.from_url(f"{live_url}/api/schema/?format=json", config=CONFIG)
    return _register_hooks(schema, [SLUG, "biblioteki"])


@pytest.fixture(scope="module")
def ogc_schema(live_url, fuzz_token):
    schema = schemathesis.openapi.from_url(f"{live_url}/ogc/openapi?f=json", config=CONFIG)
    # The run's layer and every path that is not one collection's; the other layers'
    # collections are the same code over other data.
    schema = schema.include(
        path_regex=rf"^/(collections/({SLUG}|catalogue|indicator-values)(/.*)?|collections|"
                   r"conformance|tileMatrixSets.*|dcat)?$")
    return _register_hooks(schema, [SLUG])


def run(schema, token: str, seed: int = SEED) -> list[str]:
    """Every operation of `schema`, in both generation modes, each request checked for a 5xx;
    the failures as readable lines (all of them, not just the first). The same `seed` gives
    the same requests."""
    failures, statuses = [], {}
    headers = {"Authorization": f"Token {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the schema lists no operations"
    for operation in operations:
        base = schema.config.get_hypothesis_settings(operation=operation, phase="fuzzing")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # Generation only: no shrinking (a failure is reported as found, within the time
            # budget), no example database (the same requests on every run).
            @hypothesis.settings(base, deadline=None, database=None,
                                 phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                                 suppress_health_check=list(hypothesis.HealthCheck))
            @hypothesis.seed(seed ^ zlib.crc32(f"{operation.label} {mode.value}".encode()))
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def check(case):
                response = case.call_and_validate(headers=headers, checks=[not_a_server_error],
                                                  timeout=60)
                statuses[response.status_code // 100] = statuses.get(
                    response.status_code // 100, 0) + 1

            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                continue  # nothing to negate in this operation
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - all are reported
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:1500]}")
    print(f"{len(operations)} operations, answers by class: "
          f"{', '.join(f'{k}xx: {n}' for k, n in sorted(statuses.items()))}")
    # the requests did reach the server (not all stopped in the client)
    assert sum(statuses.values()) >= len(operations), statuses
    return failures


def downloads(live_url) -> list[str]:
    """Whatever the run managed to store must still download."""
    failures = []
    for suffix in ("geojson", "csv", "gpkg"):
        response = requests.get(f"{live_url}/data/{SLUG}.{suffix}", timeout=60)
        if response.status_code != 200:
            failures.append(f"/data/{SLUG}.{suffix} answers {response.status_code} after the run")
    return failures


def test_the_rest_api_never_answers_5xx(live_url, rest_schema, fuzz_token):
    failures = run(rest_schema, fuzz_token) + downloads(live_url)
    assert not failures, "\n\n".join(failures)


def test_the_ogc_api_never_answers_5xx(live_url, ogc_schema, fuzz_token):
    failures = run(ogc_schema, fuzz_token) + downloads(live_url)
    assert not failures, "\n\n".join(failures)
