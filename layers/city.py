"""Declarative city config: a YAML file naming each layer, its files and its metadata.

`load_city("kielce")` reads `fixtures/kielce/city.yaml` and creates or refreshes every layer.
A layer whose config entry and files are unchanged (same checksum) is left alone, so a second
load is fast and keeps edits made since; a changed source replaces the layer's features in one
transaction.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from layers.models import Layer
from layers.reading import read_sources
from layers.schema import validate_properties, validate_schema
from layers.writing import WriteError, replace_features

METADATA_FIELDS = (
    "title_pl", "title_en", "description_pl", "description_en", "role", "name_field",
    "geometry_type", "visibility", "publisher", "publisher_type", "source_url", "licence",
    "attribution", "update_frequency", "data_date", "issued", "quality_notes", "quality_notes_en",
    "keywords", "theme",
)


@dataclass
class LayerResult:
    slug: str
    status: str  # created, updated, unchanged
    features: int
    repaired: list


def find_city_dir(name: str) -> Path:
    for base in settings.CITY_DATA_DIRS:
        if (Path(base) / name / "city.yaml").exists():
            return Path(base) / name
    raise FileNotFoundError(f"no city config {name}/city.yaml in {settings.CITY_DATA_DIRS}")


def read_config(name: str) -> tuple[dict, Path]:
    """The config and the folder holding its data files (the first of CITY_DATA_DIRS that has
    them all)."""
    config = yaml.safe_load((find_city_dir(name) / "city.yaml").read_text(encoding="utf-8"))
    files = [s["file"] for entry in config["layers"] for s in entry["sources"]]
    for base in map(Path, settings.CITY_DATA_DIRS):
        data_dir = base / config["city"].get("data_dir", name)
        if all((data_dir / f).exists() for f in files):
            return config, data_dir
    raise FileNotFoundError(f"data files of {name} not found in {settings.CITY_DATA_DIRS}")


def _checksum(entry: dict, data_dir: Path) -> str:
    digest = hashlib.sha256(json.dumps(entry, sort_keys=True, default=str).encode())
    for source in entry["sources"]:
        digest.update((data_dir / source["file"]).read_bytes())
    return digest.hexdigest()


def _merge_fields(reads, overrides: dict) -> list[dict]:
    fields: dict[str, dict] = {}
    for read in reads:
        for f in read.fields:
            fields.setdefault(f["name"], dict(f))
    for name, override in (overrides or {}).items():
        if name not in fields and "type" not in (override or {}):
            # Labels for a field the files do not have: a typo, not a new field.
            raise WriteError([f"fields: {name!r} is not an attribute of the files (a new "
                              "field needs its `type`)"])
        fields.setdefault(name, {"name": name, "type": "string"}).update(override or {})
    return list(fields.values())


def _source_files(entry: dict, data_dir: Path) -> list[tuple[Path, dict]]:
    return [(data_dir / s["file"], {"srs": s.get("srs"), "csv": s.get("csv"),
                                    "rename": entry.get("rename"), "drop": entry.get("drop"),
                                    "constants": s.get("set")}) for s in entry["sources"]]


def _needs_loading(entry: dict, data_dir: Path, force: bool) -> bool:
    if Layer.all_objects.filter(slug=entry["slug"], deleted_at__isnull=False).exists():
        return False
    layer = Layer.objects.filter(slug=entry["slug"]).first()
    return force or layer is None or layer.source_checksum != _checksum(entry, data_dir)


def load_layer(entry: dict, data_dir: Path, force: bool = False,
               reads: list | None = None) -> LayerResult:
    """Create or refresh one layer; `reads` are its files read already (read_sources)."""
    checksum = _checksum(entry, data_dir)
    if Layer.all_objects.filter(slug=entry["slug"], deleted_at__isnull=False).exists():
        # Deleted by staff (restorable for 30 days): a reload must not bring it back.
        return LayerResult(entry["slug"], "deleted", 0, [])
    layer = Layer.objects.filter(slug=entry["slug"]).first()
    if layer and layer.source_checksum == checksum and not force:
        return LayerResult(layer.slug, "unchanged", layer.features.count(), [])

    if reads is None:
        reads = read_sources(_source_files(entry, data_dir))
    schema = {"fields": _merge_fields(reads, entry.get("fields"))}
    problems = validate_schema(schema)
    if problems:
        raise WriteError([f"{entry['slug']}: {p}" for p in problems])
    rows, errors, row_sources = [], [], []
    kind = entry.get("publisher_type")
    if kind and kind not in Layer.PublisherType.values:
        errors.append(f"{entry['slug']}: publisher_type {kind!r} is not an ADMS publisher type "
                      f"({', '.join(Layer.PublisherType.values)})")
    for read in reads:
        for i, (wkb, props) in enumerate(zip(read.wkb, read.properties, strict=True), start=1):
            for problem in validate_properties(schema, props):
                errors.append(f"{read.path.name} row {i}: {problem}")
            rows.append((wkb, props, read.srid))
            row_sources.append(f"{read.path.name} row {i}")
    if errors:
        raise WriteError(errors)

    status = "updated" if layer else "created"
    with transaction.atomic():
        layer = layer or Layer(slug=entry["slug"])
        for name in METADATA_FIELDS:
            if name in entry:
                setattr(layer, name, entry[name])
        srids = sorted({r.srid for r in reads})
        layer.native_crs = ", ".join(f"EPSG:{s}" for s in srids)
        layer.source = "; ".join(s["file"] for s in entry["sources"])
        layer.schema = schema
        layer.source_checksum = checksum
        layer.last_updated = timezone.now()
        layer.save()
        try:
            report = replace_features(layer, rows)
        except WriteError as exc:
            # Name the file and row, not the position in the combined batch.
            raise WriteError([_locate(e, row_sources) for e in exc.errors]) from exc
        repaired = [{"source": row_sources[r["row"] - 1], "reason": r["reason"]}
                    for r in report["repaired"]]
        layer.load_report = {"features": report["features"], "repaired": repaired,
                             "loaded_at": timezone.now().isoformat()}
        if repaired:
            where = "; ".join(f"{r['source']} ({r['reason']})" for r in repaired)
            note_en = (f"{len(repaired)} invalid geometr{'y' if len(repaired) == 1 else 'ies'} "
                       f"repaired on load with ST_MakeValid: {where}")
            note_pl = (f"Nieprawidłowe geometrie naprawione przy wczytaniu (ST_MakeValid): "
                       f"{len(repaired)} – {where}")
            layer.quality_notes = "\n".join(
                n for n in (entry.get("quality_notes"), note_pl) if n)
            layer.quality_notes_en = "\n".join(
                n for n in (entry.get("quality_notes_en"), note_en) if n)
        layer.save(update_fields=["load_report", "quality_notes", "quality_notes_en"])
    return LayerResult(layer.slug, status, report["features"], repaired)


def _locate(message: str, row_sources: list[str]) -> str:
    if message.startswith("row "):
        num, _, rest = message[4:].partition(":")
        if num.isdigit():
            return f"{row_sources[int(num) - 1]}:{rest}"
    return message


def load_city(name: str, force: bool = False) -> list[LayerResult]:
    config, data_dir = read_config(name)
    # The files of every layer to (re)load are read first, one GDAL process per format.
    pending = [e for e in config["layers"] if _needs_loading(e, data_dir, force)]
    files = [(e["slug"], f) for e in pending for f in _source_files(e, data_dir)]
    read = iter(read_sources([f for _, f in files]))
    reads: dict[str, list] = {}
    for slug, _ in files:
        reads.setdefault(slug, []).append(next(read))
    return [load_layer(entry, data_dir, force=force, reads=reads.get(entry["slug"]))
            for entry in config["layers"]]
