"""Attribute schemas of layers: declared fields with a type, `required` and `choices`.

A schema is `{"fields": [{"name": "OBWOD", "type": "integer", "required": true}, ...]}`.
Types: string, integer, decimal, boolean, date. Validation returns readable messages naming the
field, the value and the reason, so every write path can report them as they are.
"""

import datetime
from decimal import Decimal, InvalidOperation

FIELD_TYPES = ("string", "integer", "decimal", "boolean", "date")


def _check_type(ftype: str, value) -> str | None:
    if ftype == "string":
        return None if isinstance(value, str) else "expected a string"
    if ftype == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "expected an integer"
    if ftype == "decimal":
        if isinstance(value, bool):
            return "expected a number"
        if isinstance(value, int | float):
            return None
        try:
            Decimal(str(value))
        except InvalidOperation:
            return "expected a number"
        return None if isinstance(value, str) else "expected a number"
    if ftype == "boolean":
        return None if isinstance(value, bool) else "expected true or false"
    if ftype == "date":
        try:
            datetime.date.fromisoformat(str(value))
        except ValueError:
            return "expected a date YYYY-MM-DD"
        return None
    return f"unknown field type {ftype!r}"


def validate_schema(schema: dict) -> list[str]:
    """Errors in a schema declaration itself."""
    errors = []
    seen = set()
    for i, field in enumerate(schema.get("fields", [])):
        name = field.get("name")
        if not name or not isinstance(name, str):
            errors.append(f"field {i}: a name is required")
            continue
        if name in seen:
            errors.append(f"field {name!r}: declared twice")
        seen.add(name)
        if field.get("type") not in FIELD_TYPES:
            errors.append(f"field {name!r}: type must be one of {', '.join(FIELD_TYPES)}")
    return errors


def validate_properties(schema: dict, properties: dict) -> list[str]:
    """Errors of one feature's properties against the schema; empty when valid.

    Properties not declared in the schema are refused: a typo must not silently become a new
    attribute that no map, filter or indicator knows about.
    """
    if not isinstance(properties, dict):
        return ["properties must be an object"]
    fields = {f["name"]: f for f in schema.get("fields", [])}
    errors = []
    for name in properties:
        if name not in fields:
            errors.append(f"{name}: not a field of this layer")
    for name, field in fields.items():
        value = properties.get(name)
        if value is None or value == "":
            if field.get("required"):
                errors.append(f"{name}: required")
            continue
        problem = _check_type(field["type"], value)
        if problem:
            errors.append(f"{name}: {problem} (got {value!r})")
            continue
        choices = field.get("choices")
        if choices and value not in choices:
            errors.append(f"{name}: {value!r} is not one of {choices}")
    return errors
