"""Declarative city config: a YAML file naming each layer, its files and its metadata.

`load_city("kielce")` reads `fixtures/kielce/city.yaml` and imports each layer's files into the
layer the way an upload is imported (layers.importing): the same readers and content checks,
the same CRS check (coordinates outside the CRS's area of use are refused as a wrong CRS), the
same conversion of every value to the layer schema, the same staging and write, recorded as one
import batch (history, ImportRun, revertible). The config supplies the options:

- `srs` (per file) overrides the CRS the file declares; `csv: {x, y}` names a CSV's coordinate
  columns; `set` (per file) adds columns of one value; `rename` and `drop` (per layer) rename
  and leave out columns, by their names in the file;
- `fields` (per layer) declares fields (`{name: {type, required, choices, label_pl, label_en,
  display}}`; a field's type is its column's unless given): labels and display apply to the
  layer's field at every load; a name that is no column of the files needs its `type` (else it
  is taken for a typo); every other column becomes a field as it is typed in the file;
- the layer's features are replaced, and invalid geometries repaired with ST_MakeValid; each
  repair is listed in the layer's load report and quality notes.

A layer whose config entry and files are unchanged (same checksum) is left alone, so a second
load is fast and keeps edits made since. A layer deleted by staff is not brought back.
"""

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.conf import settings
from django.db import transaction

from layers.importing.mapping import build_properties, column_type, map_fields
from layers.importing.options import ImportError_, ImportOptions, parse_crs
from layers.importing.readers import LOCAL_FORMATS, plan_read, read_plans
from layers.importing.report import ImportReport
from layers.importing.source import Source
from layers.importing.staging import no_progress, stage_and_write
from layers.models import Layer
from layers.schema import validate_schema

METADATA_FIELDS = (
    "title_pl", "title_en", "description_pl", "description_en", "role", "name_field",
    "geometry_type", "visibility", "publisher", "publisher_type", "source_url", "licence",
    "attribution", "update_frequency", "data_date", "issued", "quality_notes", "quality_notes_en",
    "keywords", "theme",
)


class CityLoadError(ValueError):
    """A city's layer cannot be loaded; `errors` name the file (and row) and say why."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:20]))
        self.errors = errors


@dataclass
class LayerResult:
    slug: str
    status: str  # created, updated, unchanged, deleted
    features: int
    repaired: list


@dataclass
class CityFile:
    """One of a layer's files, read: its name in the config, what was read, what reading it
    found, and the columns its config entry sets."""

    name: str
    source: Source
    report: ImportReport
    constants: dict


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


def _options(entry: dict, source: dict | None = None) -> ImportOptions:
    """What the config asks of one file's import (of the layer's, without `source`)."""
    options = ImportOptions(dry_run=False, mode="replace", invalid="repair", add_fields=True)
    if source and source.get("srs"):
        options.srid = _declared_crs(source)
    if source and source.get("csv"):
        options.x, options.y = source["csv"]["x"], source["csv"]["y"]
    return options


def _declared_crs(source: dict) -> int:
    try:
        return parse_crs(source["srs"])
    except ImportError_ as exc:
        raise CityLoadError([f"{source['file']}: srs: {e.removeprefix('crs: ')}"
                             for e in exc.errors]) from None


def _named(name: str, errors: list[str]) -> list[str]:
    return [e if e.startswith(name) else f"{name}: {e}" for e in errors]


def read_files(entries: list[dict], data_dir: Path) -> dict[str, list[CityFile]]:
    """The files of `entries` (config entries of layers), read as uploads are: one GDAL child
    process per format for all of them. Raises CityLoadError for a file that cannot be read."""
    plans, owners = [], []
    with tempfile.TemporaryDirectory(prefix="sdi-city-") as tmp:
        for entry in entries:
            for source in entry["sources"]:
                path, name = data_dir / source["file"], Path(source["file"]).name
                if not path.exists():
                    raise CityLoadError([f"{name}: file not found at {path}"])
                if path.suffix.lower() not in LOCAL_FORMATS:
                    raise CityLoadError([
                        f"{name}: unsupported file type {path.suffix or '(none)'}; a city's "
                        f"files are {', '.join(sorted(LOCAL_FORMATS))}"])
                report = ImportReport(filename=name, layer=entry["slug"], dry_run=False,
                                      mode="replace", invalid="repair")
                try:
                    plans.append(plan_read(path, name, _options(entry, source), report,
                                           Path(tmp), stem=f"data{len(plans)}",
                                           formats=LOCAL_FORMATS))
                except ImportError_ as exc:
                    raise CityLoadError(_named(name, exc.errors)) from None
                owners.append((entry["slug"], source.get("set") or {}))
        read = read_plans(plans)
    files: dict[str, list[CityFile]] = {}
    for plan, result, (slug, constants) in zip(plans, read, owners, strict=True):
        if isinstance(result, ImportError_):
            raise CityLoadError(_named(plan.filename, result.errors))
        files.setdefault(slug, []).append(CityFile(plan.filename, result, plan.report,
                                                   constants))
    return files


def _shape(file: CityFile, rename: dict, drop: list) -> None:
    """The file's columns as the layer takes them: `drop`ped ones left out, `rename`d ones
    renamed (both by their names in the file), the `set` ones added."""
    source, dropped = file.source, set(drop)
    keep = [i for i, name in enumerate(source.names) if name not in dropped]
    source.names = [rename.get(source.names[i], source.names[i]) for i in keep]
    source.types = [source.types[i] for i in keep]
    source.columns = [source.columns[i] for i in keep]
    for name, value in file.constants.items():
        ftype = {bool: "boolean", int: "integer", float: "decimal"}.get(type(value), "string")
        # A CSV's columns are text, typed by their values: so are its constants.
        column = [str(value) if source.text_columns else value] * len(source)
        if name in source.names:
            index = source.names.index(name)
            source.types[index], source.columns[index] = ftype, column
        else:
            source.names.append(name)
            source.types.append(ftype)
            source.columns.append(column)


# What the config may say of a field the layer already has, at every load (its type, required
# and choices change only through a schema change, which checks the stored values).
PRESENTATION = ("label_pl", "label_en", "display")


def _declared_fields(declared: dict | None, layer: Layer,
                     files: list[CityFile]) -> list[dict]:
    """The fields the config declares that the layer does not have yet; the labels and display
    it declares for fields the layer has are set on the layer (saved with it)."""
    have = {f["name"]: f for f in layer.fields}
    columns = {name for f in files for name in f.source.names}
    fields, errors = [], []
    for name, declaration in (declared or {}).items():
        declaration = declaration or {}
        if name in have:
            have[name].update({k: v for k, v in declaration.items() if k in PRESENTATION})
            continue
        if name not in columns and "type" not in declaration:
            errors.append(f"fields: {name!r} is not an attribute of the files (a new field "
                          "needs its `type`)")
            continue
        ftype = next((column_type(f.source, f.source.names.index(name)) for f in files
                      if name in f.source.names), "string")
        fields.append({"name": name, "type": ftype, "required": False, **declaration})
    errors += validate_schema({"fields": list(have.values()) + fields})
    if errors:
        raise CityLoadError([f"{layer.slug}: {e}" for e in errors])
    return fields


def _rows(entry: dict, layer: Layer, files: list[CityFile]):
    """Each file's rows as the layer's properties, and the fields to add to the layer;
    CityLoadError naming file, row, field and reason for every value that does not fit."""
    added = _declared_fields(entry.get("fields"), layer, files)
    fields, parts, errors = layer.fields + added, [], []
    for file in files:
        try:
            plan, new = map_fields(fields, file.source, _options(entry), file.report)
        except ImportError_ as exc:
            errors += _named(file.name, exc.errors)
            continue
        fields, added = fields + new, added + new
        # A city's layers keep every column of their files, empty values too.
        parts.append((file.source, build_properties(file.source, plan, file.report,
                                                    keep_empty=True)))
        errors += [_row_error(f"{file.name} row {e.row}", e) for e in file.report.errors]
    if errors:
        raise CityLoadError(errors)
    return parts, added


def _row_error(where: str, error) -> str:
    field = f"{error.field}: " if error.field else ""
    return f"{where}: {field}{error.reason}" + (
        "" if error.value is None else f" (got {error.value!r})")


def _located(names: list[str], parts, rows: list[int]) -> list[str]:
    """Rows numbered over all of a layer's files, as `file row n`."""
    bounds, start = [], 0
    for name, (source, _) in zip(names, parts, strict=True):
        bounds.append((start, name))
        start += len(source)
    return [next(f"{name} row {n - first}" for first, name in reversed(bounds) if n > first)
            for n in rows]


def _layer_report(entry: dict, files: list[CityFile]) -> ImportReport:
    srids = sorted({f.source.srid for f in files})
    return ImportReport(
        filename="; ".join(f.name for f in files), layer=entry["slug"], dry_run=False,
        mode="replace", invalid="repair", format=", ".join(sorted({f.report.format
                                                                    for f in files})),
        features=sum(len(f.source) for f in files), crs=", ".join(f"EPSG:{s}" for s in srids),
        notes=[f"{f.name}: {note}" for f in files for note in f.report.notes])


def load_layer(entry: dict, layer: Layer | None, files: list[CityFile], checksum: str,
               progress=no_progress) -> LayerResult:
    """Create or refresh one layer from its files (read_files), all in one transaction."""
    status = "updated" if layer else "created"
    for file in files:
        _shape(file, entry.get("rename") or {}, entry.get("drop") or [])
    report = _layer_report(entry, files)
    kind = entry.get("publisher_type")
    if kind and kind not in Layer.PublisherType.values:
        raise CityLoadError([f"{entry['slug']}: publisher_type {kind!r} is not an ADMS publisher "
                             f"type ({', '.join(Layer.PublisherType.values)})"])
    with transaction.atomic():
        layer = layer or Layer(slug=entry["slug"])
        for name in METADATA_FIELDS:
            if name in entry:
                setattr(layer, name, entry[name])
        layer.native_crs = report.crs
        layer.source = "; ".join(s["file"] for s in entry["sources"])
        layer.source_checksum = checksum
        layer.save()
        parts, added = _rows(entry, layer, files)
        # Labels and display declared for fields the layer has (_declared_fields set them).
        layer.save(update_fields=["schema"])
        report.added_fields = added
        stage_and_write(layer, parts, _options(entry), report, filename=report.filename,
                        added=added, progress=progress)
        if not report.ok:
            names = [f.name for f in files]
            raise CityLoadError([_row_error(where, e) for where, e in zip(
                _located(names, parts, [e.row for e in report.errors]), report.errors,
                strict=True)])
        sources = _located([f.name for f in files], parts, [r["row"] for r in report.repaired])
        repaired = [{"source": where, "reason": r["reason"]}
                    for where, r in zip(sources, report.repaired, strict=True)]
        layer.load_report = {"features": report.written, "repaired": repaired,
                             "loaded_at": layer.last_updated.isoformat()}
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
    return LayerResult(layer.slug, status, report.written, repaired)


def _status(entry: dict, data_dir: Path, force: bool) -> tuple[Layer | None, str, str | None]:
    """The layer of `entry` (None if new), its checksum, and why it is not to be loaded."""
    checksum = _checksum(entry, data_dir)
    if Layer.all_objects.filter(slug=entry["slug"], deleted_at__isnull=False).exists():
        # Deleted by staff (restorable for 30 days): a reload must not bring it back.
        return None, checksum, "deleted"
    layer = Layer.objects.filter(slug=entry["slug"]).first()
    if layer and layer.source_checksum == checksum and not force:
        return layer, checksum, "unchanged"
    return layer, checksum, None


def load_city(name: str, force: bool = False, *, progress=no_progress) -> list[LayerResult]:
    """Load every layer of the city `name` whose config or files changed (all with `force`).
    `progress` is told each layer's stages as run_import tells them."""
    config, data_dir = read_config(name)
    plan = [(entry, *_status(entry, data_dir, force)) for entry in config["layers"]]
    pending = [entry for entry, _, _, skip in plan if skip is None]
    files = read_files(pending, data_dir) if pending else {}
    total = sum(len(f.source) for layer_files in files.values() for f in layer_files)
    progress("read", total, total)
    results = []
    for entry, layer, checksum, skip in plan:
        if skip == "deleted":
            results.append(LayerResult(entry["slug"], "deleted", 0, []))
        elif skip == "unchanged":
            results.append(LayerResult(layer.slug, "unchanged", layer.features.count(), []))
        else:
            results.append(load_layer(entry, layer, files[entry["slug"]], checksum, progress))
    return results
