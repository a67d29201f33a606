"""Writing single features: validation, optimistic locking, history, version bump.

Every channel (admin, REST, OGC API Part 4, import) goes through these functions, so a change
is validated, recorded in FeatureHistory and announced (layers.signals.layer_changed) the same
way everywhere. Geometries arrive as GEOSGeometry in any SRID and are stored in EPSG:4326.
"""

import json
import uuid

from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction

from layers.models import Feature, FeatureHistory, Layer
from layers.signals import layer_changed


class EditError(ValueError):
    """Invalid input; `errors` lists every problem (field: reason)."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


class VersionConflict(Exception):
    """The feature changed since the client read it (stale ETag / If-Match)."""

    def __init__(self, feature: Feature):
        super().__init__(f"feature {feature.pk} is at version {feature.version}")
        self.feature = feature


def etag(feature: Feature) -> str:
    return f'"{feature.pk}-{feature.version}"'


def geojson_text(geom: GEOSGeometry) -> str:
    """GeoJSON of a geometry with every coordinate exact (GDAL's exporter rounds to 15
    significant digits, and a revert must give back the very same coordinates)."""
    if geom.geom_type == "GeometryCollection":
        return geom.json
    return json.dumps({"type": geom.geom_type, "coordinates": geom.coords})


def snapshot(feature: Feature) -> dict:
    return {"geometry": geojson_text(feature.geom) if feature.geom else None,
            "properties": feature.properties}


def check_geometry(layer: Layer, geom: GEOSGeometry | None) -> list[str]:
    if geom is None or geom.empty:
        return ["geometry: required"]
    errors = []
    wanted = layer.geometry_type
    # A Polygon is accepted on a MultiPolygon layer (and stored as given); not the reverse.
    if wanted != Layer.GeometryType.GEOMETRY and geom.geom_type not in (wanted,
                                                                       wanted.removeprefix("Multi")):
        errors.append(f"geometry: {geom.geom_type} given, layer holds {wanted}")
    if geom.srid in (None, 4326):
        xmin, ymin, xmax, ymax = geom.extent
        if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
            # The classic mistake: metres of EPSG:2178/2180 sent as if they were degrees.
            errors.append("geometry: coordinates outside the valid area of EPSG:4326 "
                          f"(longitude/latitude), got extent {xmin:g} {ymin:g} {xmax:g} {ymax:g}"
                          "; was another CRS meant?")
            return errors
    if not geom.valid:
        errors.append(f"geometry: invalid ({geom.valid_reason})")
    return errors


def _to_4326(geom: GEOSGeometry) -> GEOSGeometry:
    if geom.srid is None:
        geom.srid = 4326
    return geom if geom.srid == 4326 else geom.transform(4326, clone=True)


def _record(feature, action, user, channel, before, batch):
    FeatureHistory.objects.create(
        layer_id=feature.layer_id, feature_id=feature.pk, action=action,
        version=feature.version, user=user if user and user.is_authenticated else None,
        channel=channel, batch=batch, before=before,
        after=None if action == FeatureHistory.Action.DELETE else snapshot(feature))


def _changed(layer: Layer) -> None:
    layer.bump_version()
    transaction.on_commit(lambda: layer_changed.send(sender=Layer, layer=layer))


def _validate(layer, geom, properties):
    errors = check_geometry(layer, geom) + layer.validate_properties(properties)
    if errors:
        raise EditError(errors)


@transaction.atomic
def create_feature(layer: Layer, geom: GEOSGeometry, properties: dict, *, user=None,
                   channel: str = "", batch: uuid.UUID | None = None) -> Feature:
    geom = _to_4326(geom) if geom is not None else None
    _validate(layer, geom, properties)
    feature = Feature.objects.create(layer=layer, geom=geom, properties=properties)
    _record(feature, FeatureHistory.Action.CREATE, user, channel, None, batch)
    _changed(layer)
    return feature


def _locked(feature_id: int, expected_version: int | None) -> Feature:
    feature = Feature.objects.select_for_update().select_related("layer").get(pk=feature_id)
    if expected_version is not None and feature.version != expected_version:
        raise VersionConflict(feature)
    return feature


@transaction.atomic
def update_feature(feature_id: int, *, geom: GEOSGeometry | None = None,
                   properties: dict | None = None, replace: bool = True,
                   expected_version: int | None = None, user=None, channel: str = "",
                   batch: uuid.UUID | None = None) -> Feature:
    """Replace (or, with replace=False, patch) a feature's geometry and/or properties.

    The row is locked, then its version compared with `expected_version`: two editors can
    never silently overwrite each other.
    """
    feature = _locked(feature_id, expected_version)
    before = snapshot(feature)
    new_geom = _to_4326(geom) if geom is not None else feature.geom
    if properties is None:
        new_props = feature.properties
    else:
        new_props = properties if replace else {**feature.properties, **properties}
        new_props = {k: v for k, v in new_props.items() if v is not None or replace}
    _validate(feature.layer, new_geom, new_props)
    feature.geom, feature.properties = new_geom, new_props
    feature.version += 1
    feature.save()
    _record(feature, FeatureHistory.Action.UPDATE, user, channel, before, batch)
    _changed(feature.layer)
    return feature


@transaction.atomic
def delete_feature(feature_id: int, *, expected_version: int | None = None, user=None,
                   channel: str = "", batch: uuid.UUID | None = None) -> None:
    feature = _locked(feature_id, expected_version)
    before = snapshot(feature)
    feature.version += 1
    _record(feature, FeatureHistory.Action.DELETE, user, channel, before, batch)
    layer = feature.layer
    feature.delete()
    _changed(layer)


def next_version(feature_id: int) -> int:
    """The version a re-created feature continues from: one past the last in its history."""
    last = (FeatureHistory.objects.filter(feature_id=feature_id)
            .order_by("-version").values_list("version", flat=True).first())
    return (last or 0) + 1


@transaction.atomic
def restore_feature(layer: Layer, feature_id: int, geom: GEOSGeometry, properties: dict, *,
                    user=None, channel: str = "", batch: uuid.UUID | None = None) -> Feature:
    """Bring a deleted feature back under its old id (so its history stays one story),
    validated against the layer's current schema like any new feature."""
    if Feature.objects.filter(pk=feature_id).exists():
        raise EditError([f"feature {feature_id} exists; it is not deleted"])
    geom = _to_4326(geom) if geom is not None else None
    _validate(layer, geom, properties)
    feature = Feature.objects.create(pk=feature_id, layer=layer, geom=geom, properties=properties,
                                     version=next_version(feature_id))
    _record(feature, FeatureHistory.Action.CREATE, user, channel, None, batch)
    _changed(layer)
    return feature
