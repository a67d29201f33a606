"""History of features and what can be undone from it: one feature, or a whole batch (an import).

Each FeatureHistory row holds the state after the change (`after`, None for a delete) and the
state before it (`before`, None for a create), so "the feature at version N" is the `after` of
the row whose version is N. Reverts go through the same write path as any edit and are recorded
themselves (channel "revert"), so a revert can be reverted too.

Batches can be large (an import of 100,000 points), so reverting one is done in a few SQL
statements, not one ORM round trip per feature.
"""

import json
import uuid

from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction
from django.utils import timezone

from layers import editing
from layers.models import Feature, FeatureHistory, ImportRun, Layer
from layers.signals import layer_changed

FEATURES = Feature._meta.db_table
HISTORY = FeatureHistory._meta.db_table
CHANNEL = "revert"

# The `before`/`after` JSON of a feature row, built in SQL the way editing.snapshot builds it
# in Python (the geometry as a GeoJSON string).
SNAPSHOT_SQL = ("jsonb_build_object('geometry', ST_AsGeoJSON({t}.geom, 15), "
                "'properties', {t}.properties)")


class RevertError(ValueError):
    """The revert cannot be done as asked; `errors` says why (feature ids included)."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:20]))
        self.errors = errors


def _geometry(state: dict) -> GEOSGeometry:
    geom = GEOSGeometry(state["geometry"])
    geom.srid = 4326
    return geom


def feature_history(layer: Layer, feature_id: int):
    return FeatureHistory.objects.filter(layer=layer, feature_id=feature_id).select_related("user")


def layer_history(layer: Layer):
    return FeatureHistory.objects.filter(layer=layer).select_related("user")


def state_at(layer: Layer, feature_id: int, version: int) -> dict | None:
    """The feature as it was at `version` (None: deleted at that version)."""
    entry = FeatureHistory.objects.filter(layer=layer, feature_id=feature_id,
                                          version=version).first()
    if entry is None:
        raise RevertError([f"feature {feature_id} has no version {version} in its history"])
    return entry.after


@transaction.atomic
def revert_feature(layer: Layer, feature_id: int, version: int, *, user=None,
                   expected_version: int | None = None) -> Feature | None:
    """Bring feature `feature_id` back to how it was at `version`: update it, re-create it if
    it was deleted since, or delete it if it did not exist then. The result is validated against
    the layer's current schema (a field renamed since is reported, not silently dropped).

    Returns the feature, or None when the revert deleted it.
    """
    target = state_at(layer, feature_id, version)
    current = Feature.objects.filter(pk=feature_id, layer=layer).first()
    if current is None:
        if target is None:
            raise RevertError([f"feature {feature_id} is deleted already"])
        return editing.restore_feature(layer, feature_id, _geometry(target),
                                       target["properties"], user=user, channel=CHANNEL)
    if target is None:
        editing.delete_feature(feature_id, expected_version=expected_version, user=user,
                               channel=CHANNEL)
        return None
    return editing.update_feature(feature_id, geom=_geometry(target),
                                  properties=target["properties"],
                                  expected_version=expected_version, user=user, channel=CHANNEL)


def _batch_plan(layer: Layer, batch: uuid.UUID) -> dict[int, tuple[str, dict | None, int]]:
    """Per feature touched by the batch: (first action, state before the batch, version after)."""
    with connection.cursor() as cur:
        cur.execute(f"""
            SELECT DISTINCT ON (feature_id) feature_id, action, before,
                   max(version) OVER (PARTITION BY feature_id)
            FROM {HISTORY} WHERE layer_id = %s AND batch = %s
            ORDER BY feature_id, version, id""", [layer.pk, batch])
        # Django's raw cursors hand jsonb over as text.
        return {fid: (action, json.loads(before) if isinstance(before, str) else before, last)
                for fid, action, before, last in cur.fetchall()}


def _conflicts(layer: Layer, plan: dict) -> list[int]:
    """Features changed after the batch: reverting would silently discard those edits."""
    ids = list(plan)
    with connection.cursor() as cur:
        cur.execute(f"""
            SELECT h.feature_id FROM {HISTORY} h
            JOIN unnest(%s::bigint[], %s::int[]) AS b(fid, last) ON b.fid = h.feature_id
            WHERE h.layer_id = %s
            GROUP BY h.feature_id, b.last HAVING max(h.version) > b.last
            ORDER BY 1""", [ids, [plan[f][2] for f in ids], layer.pk])
        return [row[0] for row in cur.fetchall()]


@transaction.atomic
def revert_batch(layer: Layer, batch: uuid.UUID, *, user=None) -> dict:
    """Undo every change of one batch (an import): features it created are deleted, features it
    deleted come back under their ids, features it changed get their earlier state. Refused,
    naming the features, if any of them was changed after the batch. All or nothing.
    """
    Layer.objects.select_for_update().filter(pk=layer.pk).first()
    plan = _batch_plan(layer, batch)
    if not plan:
        raise RevertError([f"batch {batch} changed nothing in layer {layer.slug}"])
    run = ImportRun.objects.filter(batch=batch, layer=layer).first()
    if run and run.reverted_at:
        raise RevertError([f"import {run.filename} was reverted already ({run.reverted_at:%c})"])
    changed = _conflicts(layer, plan)
    if changed:
        raise RevertError([f"features changed after this batch: {_ids(changed)}; "
                           "revert them one by one or edit them back first"])

    created = [f for f, (action, _, _) in plan.items() if action == FeatureHistory.Action.CREATE]
    deleted = [f for f, (action, _, _) in plan.items() if action == FeatureHistory.Action.DELETE]
    updated = [f for f, (action, _, _) in plan.items() if action == FeatureHistory.Action.UPDATE]
    revert_id = uuid.uuid4()
    user_id = user.pk if user is not None and user.is_authenticated else None
    with connection.cursor() as cur:
        # Created by the batch and still there: delete, recording what is deleted.
        cur.execute(f"""
            WITH gone AS (
                DELETE FROM {FEATURES} f WHERE f.layer_id = %s AND f.id = ANY(%s)
                RETURNING f.id, f.version, {SNAPSHOT_SQL.format(t='f')} AS snap)
            INSERT INTO {HISTORY} (layer_id, feature_id, action, version, user_id, channel,
                                   batch, before, after, at)
            SELECT %s, id, 'delete', version + 1, %s, %s, %s, snap, NULL, now() FROM gone""",
                    [layer.pk, created, layer.pk, user_id, CHANNEL, revert_id])
        removed = cur.rowcount
        # Deleted by the batch: back under their old ids, with their state before the batch.
        cur.execute(f"""
            WITH back AS (
                INSERT INTO {FEATURES} (id, layer_id, geom, properties, version, created_at,
                                        updated_at)
                SELECT h.feature_id, h.layer_id, ST_SetSRID(ST_GeomFromGeoJSON(
                           h.before ->> 'geometry'), 4326), h.before -> 'properties',
                       h.version + 1, now(), now()
                FROM {HISTORY} h
                WHERE h.layer_id = %s AND h.batch = %s AND h.action = 'delete'
                  AND h.feature_id = ANY(%s)
                RETURNING id, version, {SNAPSHOT_SQL.format(t=FEATURES)} AS snap)
            INSERT INTO {HISTORY} (layer_id, feature_id, action, version, user_id, channel,
                                   batch, before, after, at)
            SELECT %s, id, 'create', version, %s, %s, %s, NULL, snap, now() FROM back""",
                    [layer.pk, batch, deleted, layer.pk, user_id, CHANNEL, revert_id])
        restored = cur.rowcount
    for fid in updated:
        before = plan[fid][1]
        editing.update_feature(fid, geom=_geometry(before), properties=before["properties"],
                               user=user, channel=CHANNEL, batch=revert_id)
    if removed or restored:
        layer.bump_version()
        transaction.on_commit(lambda: layer_changed.send(sender=Layer, layer=layer))
    if run:
        ImportRun.objects.filter(pk=run.pk).update(reverted_at=timezone.now(), reverted_by=user
                                                   if user_id else None)
    return {"batch": str(batch), "revert_batch": str(revert_id), "deleted": removed,
            "restored": restored, "updated": len(updated)}


def _ids(ids: list[int], limit: int = 50) -> str:
    shown = ", ".join(map(str, ids[:limit]))
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
