"""A file's columns onto a layer's schema: which column fills which field, which fields are new,
and every value converted to its field's type, each problem a (row, field, value, reason).
"""

import re

from layers.importing.numbers import decimal_separator, number_problem
from layers.importing.options import ImportError_, ImportOptions
from layers.importing.report import ImportReport
from layers.importing.source import Source
from layers.schema import CoercionError, coerce, range_problem, validate_schema


def infer_type(values: list) -> str:
    """The narrowest schema type all non-empty strings of a text column convert to."""
    sample = [v for v in values if v not in (None, "")][:1000]
    if not sample:
        return "string"
    for ftype in ("integer", "decimal", "date"):
        try:
            for v in sample:
                coerce(ftype, v)
            if ftype == "date" and not all(re.match(r"\d{4}-\d\d-\d\d$", str(v)) for v in sample):
                continue
            return ftype
        except CoercionError:
            continue
    return "string"


def column_type(source: Source, index: int) -> str:
    """The schema type a new field made from this column gets."""
    return infer_type(source.columns[index]) if source.text_columns else source.types[index]


def map_fields(layer_fields: list[dict], source: Source, options: ImportOptions,
               report: ImportReport) -> tuple[list[tuple[int, dict]], list[dict]]:
    """[(column index, layer field)] to import, and the fields to add to the layer schema
    (`layer_fields` as the layer declares them)."""
    fields = {f["name"]: f for f in layer_fields}
    by_lower = {name.lower(): name for name in fields}
    errors, plan, added, targets = [], [], [], {}
    unknown = [k for k in options.mapping if k not in source.names]
    if unknown:
        errors.append(f"mapping: no field {', '.join(map(repr, unknown))} in the file; it has "
                      f"{', '.join(source.names)}")
    for index, name in enumerate(source.names):
        if name in options.mapping:
            target = options.mapping[name]
            if target and target not in fields:
                errors.append(f"mapping: {name!r} -> {target!r}, but the layer has no field "
                              f"{target!r}")
                continue
        else:
            target = name if name in fields else by_lower.get(name.lower(), "")
        if not target and options.add_fields and name not in options.mapping:
            new = {"name": name, "type": column_type(source, index), "required": False}
            added.append(new)
            fields[name] = new
            target = name
        if not target:
            report.ignored_fields.append(name)
            continue
        if target in targets:
            errors.append(f"mapping: {source.names[targets[target]]!r} and {name!r} both map "
                          f"to {target!r}")
            continue
        targets[target] = index
        plan.append((index, fields[target]))
        report.mapping.append({"source": name, "target": target, "type": fields[target]["type"]})
    if added:
        problems = validate_schema({"fields": list(layer_fields) + added})
        errors += [f"new fields: {p}" for p in problems]
    for name, f in fields.items():
        if f.get("required") and name not in targets:
            errors.append(f"required field {name!r} has no column in the file: map one to it")
    if errors:
        raise ImportError_(errors)
    report.added_fields = added
    return plan, added


def build_properties(source: Source, plan: list[tuple[int, dict]], report: ImportReport, *,
                     keep_empty: bool = False) -> list[dict]:
    """Each row's properties converted to the schema types; problems go to the report.
    Empty values are left out, or with `keep_empty` kept: as null, and a string field's empty
    string as it is."""
    rows = [{} for _ in range(len(source))]
    for index, f in plan:
        name, ftype, choices = f["name"], f["type"], f.get("choices")
        required = f.get("required")
        column = source.columns[index]
        # Values the file already types as the schema does need no conversion (the bulk of a
        # large import); strings, and numbers headed for another type, go through coerce.
        native = not source.text_columns and source.types[index] == ftype and ftype in (
            "integer", "decimal", "boolean", "date")
        # Text numbers (CSV) are read with their column's decimal separator in mind.
        numeric_text = source.text_columns and ftype in ("integer", "decimal")
        style = decimal_separator(column) if numeric_text else None
        for n, value in enumerate(column):
            if value is None or value == "":
                if required:
                    report.error(n + 1, name, value, "required")
                elif keep_empty:
                    rows[n][name] = value if ftype == "string" else None
                continue
            problem = number_problem(value, style, ftype) if numeric_text else None
            if problem:
                report.error(n + 1, name, value, problem)
                continue
            if native:
                # typed by the file, yet maybe beyond the type's range (inf, uint64)
                problem = range_problem(ftype, value)
                if problem:
                    report.error(n + 1, name, value, problem)
                    continue
            else:
                try:
                    value = coerce(ftype, value)
                except CoercionError as exc:
                    report.error(n + 1, name, value, str(exc))
                    continue
            if choices and value not in choices:
                report.error(n + 1, name, value, f"not one of {choices}")
                continue
            rows[n][name] = value
    return rows
