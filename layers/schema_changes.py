"""Changing a layer's attribute schema without losing data.

- A new field is added (a required one only if every feature can be given a value: refused
  otherwise, naming the features).
- A renamed field carries its values along (`renames={"old": "new"}`).
- A changed type converts the existing values where that loses nothing ("12" -> 12) and is
  refused, listing the feature ids, where some value cannot be converted. The same for new
  `choices` or a field becoming required.
- A removed field with values is refused unless `allow_drop` says the values may go.

Every feature whose properties change gets a new version and a history row (channel "schema",
all rows of one change in one batch), so stale ETags fail and the old values stay on record.
Every applied change is logged (SchemaChangeLog: who, when, channel, what changed, the schema
before and after), here and nowhere else; an import that adds fields logs through `log_change`.
"""

import json
import uuid
from dataclasses import dataclass, field

from django.db import connection, transaction

from layers.models import Feature, FeatureHistory, Layer, SchemaChangeLog
from layers.schema import CoercionError, coerce, validate_schema
from layers.signals import layer_changed

FEATURES = Feature._meta.db_table
HISTORY = FeatureHistory._meta.db_table
CHUNK = 5000
MAX_IDS = 50


class SchemaChangeError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class SchemaChange:
    added: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    retyped: dict[str, tuple[str, str]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    features_changed: int = 0
    batch: str | None = None

    def as_dict(self) -> dict:
        return {"added": self.added, "renamed": self.renamed,
                "retyped": {k: list(v) for k, v in self.retyped.items()},
                "dropped": self.dropped, "features_changed": self.features_changed,
                "batch": self.batch}


def _ids(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:MAX_IDS]))
    return shown + (f" and {len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else "")


def _iter_features(layer: Layer):
    """(id, properties) of every feature of the layer, a chunk at a time."""
    last = 0
    while True:
        rows = list(Feature.objects.filter(layer=layer, pk__gt=last).order_by("pk")
                    .values_list("pk", "properties")[:CHUNK])
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _check_renames(old: dict, new: dict, renames: dict) -> list[str]:
    errors = []
    for src, dst in renames.items():
        if src not in old:
            errors.append(f"rename {src!r}: no such field in the current schema")
        if dst not in new:
            errors.append(f"rename {src!r} to {dst!r}: {dst!r} is not in the new schema")
        elif dst in old and dst not in renames:
            errors.append(f"rename {src!r} to {dst!r}: {dst!r} exists already")
    return errors


def _convert(props: dict, new_fields: list[dict], sources: dict[str, str | None],
             kept: set[str]) -> tuple[dict, list[tuple[str, str]]]:
    """The properties under the new schema, and the (field, reason) problems."""
    out, problems = {}, []
    for f in new_fields:
        name, src = f["name"], sources[f["name"]]
        value = props.get(src) if src else None
        try:
            value = coerce(f["type"], value)
        except CoercionError as exc:
            problems.append((name, f"some values cannot become {f['type']} ({exc})"))
            continue
        if value is None:
            if f.get("required"):
                problems.append((name, "no value for a required field"))
            continue
        if f.get("choices") and value not in f["choices"]:
            problems.append((name, f"some values are not one of {f['choices']}"))
            continue
        out[name] = value
    # Properties outside both schemas (there should be none) are kept rather than lost.
    out.update({k: v for k, v in props.items() if k not in kept})
    return out, problems


def describe(summary: dict) -> str:
    """A logged change in one line, for the admin: what was added, renamed, retyped, removed."""
    parts = []
    if summary.get("added"):
        parts.append("added " + ", ".join(summary["added"]))
    if summary.get("renamed"):
        parts.append("renamed " + ", ".join(f"{a} → {b}" for a, b in summary["renamed"].items()))
    if summary.get("retyped"):
        parts.append("type " + ", ".join(f"{name} {old} → {new}"
                                          for name, (old, new) in summary["retyped"].items()))
    if summary.get("dropped"):
        parts.append("removed " + ", ".join(summary["dropped"]))
    if summary.get("name_field"):
        old, new = summary["name_field"]
        parts.append(f"name field {old or '—'} → {new or '—'}")
    if summary.get("file"):
        parts.append(f"by importing {summary['file']}")
    if summary.get("features_changed"):
        parts.append(f"{summary['features_changed']} feature(s) migrated")
    return "; ".join(parts) or "field settings (required, choices)"


def log_change(layer: Layer, before: dict, after: dict, summary: dict, *, user=None,
               channel: str = "", batch=None) -> SchemaChangeLog:
    """Record one applied schema change of `layer` (inside the transaction that applied it)."""
    return SchemaChangeLog.objects.create(
        layer=layer, user=user if user is not None and user.is_authenticated else None,
        channel=channel[:20], summary=summary, before=before, after=after, batch=batch)


def change_schema(layer: Layer, new_schema: dict, *, renames: dict | None = None,
                  allow_drop: bool = False, user=None, dry_run: bool = False,
                  channel: str = "") -> SchemaChange:
    """Check, then (unless dry_run) apply, a new schema to `layer` and its features, and log
    it. Raises SchemaChangeError listing every problem, with the ids of the features that
    cause it."""
    renames = dict(renames or {})
    errors = validate_schema(new_schema)
    old = {f["name"]: f for f in layer.fields}
    new_fields = list(new_schema.get("fields", []))
    new = {f["name"]: f for f in new_fields}
    errors += _check_renames(old, new, renames)
    if errors:
        raise SchemaChangeError(errors)

    by_target = {dst: src for src, dst in renames.items()}
    sources = {name: by_target.get(name, name if name in old else None) for name in new}
    change = SchemaChange(
        added=[n for n, s in sources.items() if s is None],
        renamed=renames,
        retyped={n: (old[s]["type"], new[n]["type"]) for n, s in sources.items()
                 if s and old[s]["type"] != new[n]["type"]},
        dropped=[n for n in old if n not in renames and n not in new])

    kept = set(old) | set(new)
    problems: dict[tuple[str, str], list[int]] = {}
    with_dropped_values: dict[str, list[int]] = {}
    rewrites = []
    for fid, props in _iter_features(layer):
        converted, found = _convert(props, new_fields, sources, kept)
        for name, reason in found:
            problems.setdefault((name, reason), []).append(fid)
        for name in change.dropped:
            if props.get(name) not in (None, ""):
                with_dropped_values.setdefault(name, []).append(fid)
        if not found and converted != props:
            rewrites.append((fid, converted))

    for (name, reason), ids in problems.items():
        errors.append(f"{name}: {reason} — {len(ids)} feature(s): {_ids(ids)}")
    if not allow_drop:
        for name, ids in with_dropped_values.items():
            errors.append(f"{name}: removing the field would drop the values of {len(ids)} "
                          f"feature(s): {_ids(ids)}; rename it, or confirm the removal")
    if errors:
        raise SchemaChangeError(errors)
    change.features_changed = len(rewrites)
    if dry_run:
        return change

    with transaction.atomic():
        locked = Layer.objects.select_for_update().get(pk=layer.pk)
        batch = uuid.uuid4() if rewrites else None
        _rewrite(locked, rewrites, batch, user)
        before, name_field = locked.schema, locked.name_field
        layer.schema = {**layer.schema, "fields": new_fields}
        if layer.name_field in renames:
            layer.name_field = renames[layer.name_field]
        elif layer.name_field and layer.name_field not in new:
            layer.name_field = ""
        layer.save(update_fields=["schema", "name_field", "updated_at"])
        layer.bump_version()
        change.batch = str(batch) if batch else None
        if before != layer.schema or renames:
            summary = change.as_dict()
            if layer.name_field != name_field:
                summary["name_field"] = [name_field, layer.name_field]
            log_change(layer, before, layer.schema, summary, user=user, channel=channel,
                       batch=batch)
        transaction.on_commit(lambda: layer_changed.send(sender=Layer, layer=layer))
    return change


def _rewrite(layer: Layer, rewrites: list[tuple[int, dict]], batch, user) -> None:
    user_id = user.pk if user is not None and user.is_authenticated else None
    with connection.cursor() as cur:
        for start in range(0, len(rewrites), CHUNK):
            chunk = rewrites[start:start + CHUNK]
            ids = [fid for fid, _ in chunk]
            payload = [json.dumps(props, ensure_ascii=False) for _, props in chunk]
            cur.execute(f"""
                INSERT INTO {HISTORY} (layer_id, feature_id, action, version, user_id, channel,
                                       batch, before, after, at)
                SELECT f.layer_id, f.id, 'update', f.version + 1, %s, 'schema', %s,
                       jsonb_build_object('geometry', ST_AsGeoJSON(f.geom, 15),
                                          'properties', f.properties),
                       jsonb_build_object('geometry', ST_AsGeoJSON(f.geom, 15), 'properties', n.p),
                       now()
                FROM {FEATURES} f JOIN unnest(%s::bigint[], %s::jsonb[]) AS n(id, p)
                  ON n.id = f.id
                WHERE f.layer_id = %s""", [user_id, batch, ids, payload, layer.pk])
            cur.execute(f"""
                UPDATE {FEATURES} f SET properties = n.p, version = f.version + 1,
                                        updated_at = now()
                FROM unnest(%s::bigint[], %s::jsonb[]) AS n(id, p)
                WHERE n.id = f.id AND f.layer_id = %s""", [ids, payload, layer.pk])
