"""OGC API Features Part 4 (create, replace, update, delete) for layer collections.

Every write goes through `layers.editing` (validation against the layer schema, row lock,
optimistic locking, history, version bump), like the admin and the REST API. This module only
reads the HTTP request: authentication and the editor check (ogc.auth), the body (size, JSON,
GeoJSON), the request CRS (`Content-Crs`) and `If-Match` (required, as on the REST API).
"""

import math
from http import HTTPStatus
from types import SimpleNamespace

import shapely
import shapely.geometry
from django.contrib.gis.geos import GEOSGeometry

from layers import editing, permissions
from layers.models import Feature, Layer
from ogc import auth
from ogc import crs as crsmod
from sdi import input_guard

# A feature larger than this is not an edit but an import (the admin's import takes files).
MAX_BODY = 5 * 1024 * 1024
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                  "MultiPolygon", "GeometryCollection")
CHANNEL = "ogc"


class WriteError(Exception):
    def __init__(self, status: int, code: str, message: str, errors=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.errors = errors or []
        self.headers = headers or {}


def authorize(request, slug: str) -> tuple[object, Layer]:
    """The caller and the layer they may write, or WriteError (401 / 403 / 404)."""
    caller = auth.identify(request)
    if caller.problem:
        raise WriteError(HTTPStatus.UNAUTHORIZED, "NotAuthorized", caller.problem,
                         headers={"WWW-Authenticate": "Token"})
    # A collection the caller cannot see is answered as unknown (404) before credentials are
    # asked for, as on the REST API: a 401 must not reveal that a staff-only layer exists.
    layer = permissions.visible_layers(caller.user).filter(slug=slug).first()
    if layer is None:
        raise WriteError(HTTPStatus.NOT_FOUND, "NotFound", f"no collection {slug!r}")
    if not caller.user.is_authenticated:
        raise WriteError(HTTPStatus.UNAUTHORIZED, "NotAuthorized",
                         "writing needs authentication: send 'Authorization: Token <key>'",
                         headers={"WWW-Authenticate": "Token"})
    if not caller.by_token:
        problem = auth.csrf_problem(request)
        if problem:
            raise WriteError(HTTPStatus.FORBIDDEN, "Forbidden",
                             f"CSRF check failed ({problem}); API clients should use a token")
    if not auth.can_edit(caller.user, layer):
        raise WriteError(HTTPStatus.FORBIDDEN, "Forbidden",
                         f"{caller.user.get_username()} may not edit {slug}: only members of "
                         f"its editor groups (and superusers) may")
    return caller.user, layer


def read_body(request) -> bytes:
    length = request.META.get("CONTENT_LENGTH")
    try:
        declared = int(length) if length else None
    except ValueError:
        declared = None
    if declared is not None and declared > MAX_BODY:
        raise WriteError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLarge",
                         f"the body has {declared} bytes; at most {MAX_BODY} are accepted")
    body = request.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise WriteError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLarge",
                         f"the body is larger than {MAX_BODY} bytes")
    return body


def _bad(message, errors=None):
    return WriteError(HTTPStatus.BAD_REQUEST, "InvalidParameterValue", message, errors)


def _content_crs(request) -> crsmod.Crs:
    raw = request.headers.get("Content-Crs")
    if not raw:
        return crsmod.DEFAULT
    try:
        return crsmod.parse(raw.strip().strip("<>"), "Content-Crs")
    except crsmod.CrsError as exc:
        raise _bad(str(exc)) from None


def _geometry(value, crs: crsmod.Crs) -> GEOSGeometry:
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        raise _bad("geometry: a GeoJSON geometry object is required",
                   ["geometry: a GeoJSON geometry object is required"])
    try:
        shape = shapely.geometry.shape(value)
    except Exception as exc:
        raise _bad(f"geometry: not valid GeoJSON ({exc})",
                   [f"geometry: not valid GeoJSON ({exc})"]) from None
    coords = shapely.get_coordinates(shape)
    if not all(math.isfinite(c) for c in coords.ravel()):
        raise _bad("geometry: coordinates must be finite numbers")
    xy = coords[:, ::-1] if crs.north_first else coords
    problem = crsmod.outside(crs, xy[:, 0], xy[:, 1], "geometry")
    if problem:
        raise _bad(problem, [problem])
    if crs.north_first:
        # Swap the first two columns; z, if any, stays third.
        shape = shapely.transform(shape, lambda c: c[:, [1, 0, 2][:c.shape[1]]],
                                  include_z=shape.has_z)
    return GEOSGeometry(memoryview(shapely.to_wkb(shape)), srid=crs.srid)


def parse_feature(request, body: bytes, *, partial: bool = False):
    """(geometry or None, properties or None) from a GeoJSON Feature body (a JSON merge patch
    of one when `partial`)."""
    try:
        document = input_guard.load_json(body)
    except input_guard.BadJson as exc:
        raise _bad(str(exc)) from None
    if not isinstance(document, dict):
        raise _bad("the body must be a GeoJSON Feature object")
    if not partial and document.get("type") != "Feature":
        raise _bad("the body must be a GeoJSON Feature (\"type\": \"Feature\")")
    crs = _content_crs(request)
    geometry = None
    if "geometry" in document or not partial:
        geometry = _geometry(document.get("geometry"), crs)
    properties = document.get("properties")
    if properties is None and not partial:
        properties = {}
    if properties is not None and not isinstance(properties, dict):
        raise _bad("properties must be an object", ["properties: must be an object"])
    return geometry, properties


def expected_version(request, feature_id: int) -> int | None:
    """The version If-Match asks for (None for `*`); WriteError 428 without If-Match, as on the
    REST API, so that no client overwrites an edit it never saw; 412 for an ETag of another
    feature or a malformed one, which can never match."""
    raw = request.headers.get("If-Match")
    if raw is None:
        raise WriteError(HTTPStatus.PRECONDITION_REQUIRED, "PreconditionRequired",
                         f"If-Match is required: GET feature {feature_id} and send its ETag "
                         f"back as If-Match (or If-Match: * to write whatever its version), "
                         f"so that a concurrent edit cannot be overwritten silently")
    if raw.strip() == "*":
        return None
    for tag in raw.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        fid, _, version = tag.partition("-")
        if fid == str(feature_id) and version.isdigit() and len(version) < 12:
            return int(version)
    raise WriteError(HTTPStatus.PRECONDITION_FAILED, "PreconditionFailed",
                     f"If-Match {raw!r} does not match feature {feature_id}")


def _feature_of(layer: Layer, raw_id: str) -> int:
    try:
        feature_id = int(raw_id)
    except ValueError:
        feature_id = None
    if feature_id is None or not Feature.objects.filter(pk=feature_id, layer=layer).exists():
        raise WriteError(HTTPStatus.NOT_FOUND, "NotFound", f"no feature {raw_id!r} in "
                                                           f"{layer.slug}")
    return feature_id


def _edit(action):
    try:
        return action()
    except editing.EditError as exc:
        raise _bad("the feature does not fit the layer: " + "; ".join(exc.errors),
                   exc.errors) from None
    except editing.VersionConflict as exc:
        raise WriteError(HTTPStatus.PRECONDITION_FAILED, "PreconditionFailed",
                         f"the feature changed since it was read (now version "
                         f"{exc.feature.version}); read it again and retry",
                         headers={"ETag": editing.etag(exc.feature)}) from None


def create(request, slug: str) -> tuple[int, dict, Feature]:
    user, layer = authorize(request, slug)
    geometry, properties = parse_feature(request, read_body(request))
    feature = _edit(lambda: editing.create_feature(layer, geometry, properties, user=user,
                                                   channel=CHANNEL))
    return HTTPStatus.CREATED, {"ETag": editing.etag(feature)}, feature


def replace(request, slug: str, raw_id: str, *, partial: bool = False):
    user, layer = authorize(request, slug)
    feature_id = _feature_of(layer, raw_id)
    version = expected_version(request, feature_id)
    geometry, properties = parse_feature(request, read_body(request), partial=partial)
    # PATCH is a JSON merge patch (RFC 7396) of the properties: update_feature with
    # replace=False merges under the row lock, and a null removes a property.
    feature = _edit(lambda: editing.update_feature(
        feature_id, geom=geometry, properties=properties, replace=not partial,
        expected_version=version, user=user, channel=CHANNEL))
    return HTTPStatus.NO_CONTENT, {"ETag": editing.etag(feature)}, feature


def delete(request, slug: str, raw_id: str):
    user, layer = authorize(request, slug)
    feature_id = _feature_of(layer, raw_id)
    version = expected_version(request, feature_id)
    _edit(lambda: editing.delete_feature(feature_id, expected_version=version, user=user,
                                         channel=CHANNEL))
    return HTTPStatus.NO_CONTENT, {}, SimpleNamespace(pk=feature_id)
