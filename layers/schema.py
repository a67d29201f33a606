"""Attribute schemas of layers: declared fields with a type, `required` and `choices`.

A schema is `{"fields": [{"name": "OBWOD", "type": "integer", "required": true}, ...]}`.
Types: string, integer, decimal, boolean, date. Validation returns readable messages naming the
field, the value and the reason, so every write path can report them as they are.

Optional, for people reading the data (maps, dataset pages): `label_pl` / `label_en`, the
field's name in each language ("Numer RSPO" for `ref:rspo`), and `display`, how a value is
shown: text, number (localized, "23 716"), identifier (as written, never grouped: a register
number or postcode), url (a link), email, phone, date, boolean. Without them a field is shown
under its name, numbers as numbers; values are validated by `type` alone either way.

Each type also has a range: what every store and writer of a value can hold. Text holds no NUL
(PostgreSQL refuses it); an integer is a 64-bit one (bigint, the GeoPackage INTEGER, numpy's
int64); a decimal is a finite double (GeoPackage REAL, JSON). A value outside it is refused where
it is written, on every channel, rather than accepted and then breaking every download.
"""

import datetime
import math
from decimal import Decimal, InvalidOperation

FIELD_TYPES = ("string", "integer", "decimal", "boolean", "date")
DISPLAY_TYPES = ("text", "number", "identifier", "url", "email", "phone", "date", "boolean")
_DEFAULT_DISPLAY = {"integer": "number", "decimal": "number", "date": "date",
                    "boolean": "boolean"}
LABEL_MAX = 200


def display_type(field: dict) -> str:
    """How the field's values are shown: its `display`, else what its type suggests."""
    return field.get("display") or _DEFAULT_DISPLAY.get(field.get("type"), "text")


def field_label(field: dict, lang: str) -> str:
    """The field's name for people in `lang` ("pl" or "en"): its label in that language,
    else the Polish one, else the field's name."""
    return field.get(f"label_{lang}") or field.get("label_pl") or field.get("name", "")


INTEGER_MIN, INTEGER_MAX = -2**63, 2**63 - 1


def range_problem(ftype: str, value) -> str | None:
    """Why a value already of type `ftype` cannot be kept, or None."""
    if ftype == "string":
        if "\x00" in value:
            return "contains a NUL character, which text cannot hold"
    elif ftype == "integer":
        if not INTEGER_MIN <= value <= INTEGER_MAX:
            return f"out of range for an integer ({INTEGER_MIN} to {INTEGER_MAX})"
    elif ftype == "decimal":
        try:
            finite = math.isfinite(float(value))
        except (OverflowError, ValueError):
            finite = False
        if not finite:
            return "out of range for a decimal (a finite number up to ±1.8e308)"
    return None


def _check_type(ftype: str, value) -> str | None:
    return _type_problem(ftype, value) or range_problem(ftype, value)


def _type_problem(ftype: str, value) -> str | None:
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
    if not isinstance(schema, dict) or not isinstance(schema.get("fields", []), list):
        return ['expected {"fields": [{"name", "type", ...}]}']
    errors = []
    seen = set()
    for i, field in enumerate(schema.get("fields", [])):
        if not isinstance(field, dict):
            errors.append(f"field {i}: expected an object with a name and a type")
            continue
        name = field.get("name")
        if not name or not isinstance(name, str):
            errors.append(f"field {i}: a name is required")
            continue
        if "\x00" in name:
            errors.append(f"field {i}: a name cannot contain a NUL character")
            continue
        if name in seen:
            errors.append(f"field {name!r}: declared twice")
        seen.add(name)
        ftype = field.get("type")
        if ftype not in FIELD_TYPES:
            errors.append(f"field {name!r}: type must be one of {', '.join(FIELD_TYPES)}")
        for key in ("label_pl", "label_en"):
            label = field.get(key)
            if label is not None and (not isinstance(label, str) or len(label) > LABEL_MAX):
                errors.append(f"field {name!r}: {key} must be a text of at most {LABEL_MAX} "
                              "characters")
        display = field.get("display")
        if display is not None and display not in DISPLAY_TYPES:
            errors.append(f"field {name!r}: display must be one of {', '.join(DISPLAY_TYPES)}")
        if ftype not in FIELD_TYPES:
            continue
        choices = field.get("choices")
        if choices is not None:
            if not isinstance(choices, list):
                errors.append(f"field {name!r}: choices must be a list of values")
                continue
            for choice in choices:
                problem = _check_type(ftype, choice)
                if problem:
                    errors.append(f"field {name!r}: choice {choice!r}: {problem}")
    return errors


def property_problems(schema: dict, properties: dict) -> list[tuple[str, object, str]]:
    """Problems of one feature's properties against the schema as (field, value, reason);
    empty when valid.

    Properties not declared in the schema are refused: a typo must not silently become a new
    attribute that no map, filter or indicator knows about.
    """
    if not isinstance(properties, dict):
        return [("", properties, "properties must be an object")]
    fields = {f["name"]: f for f in schema.get("fields", [])}
    problems = []
    for name in properties:
        if name not in fields:
            problems.append((name, properties[name], "not a field of this layer"))
    for name, field in fields.items():
        value = properties.get(name)
        if value is None or value == "":
            if field.get("required"):
                problems.append((name, value, "required"))
            continue
        problem = _check_type(field["type"], value)
        if problem:
            problems.append((name, value, problem))
            continue
        choices = field.get("choices")
        if choices and value not in choices:
            problems.append((name, value, f"not one of {choices}"))
    return problems


def validate_properties(schema: dict, properties: dict) -> list[str]:
    """Errors of one feature's properties against the schema as readable messages."""
    messages = []
    for name, value, reason in property_problems(schema, properties):
        if not name:
            messages.append(reason)
        elif reason in ("not a field of this layer", "required"):
            messages.append(f"{name}: {reason}")
        elif reason.startswith("not one of"):
            messages.append(f"{name}: {value!r} is {reason}")
        else:
            messages.append(f"{name}: {reason} (got {value!r})")
    return messages


TRUE_WORDS = {"true", "t", "yes", "y", "1", "tak", "prawda"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "nie", "fałsz"}


class CoercionError(ValueError):
    pass


def coerce(ftype: str, value):
    """`value` as a value of schema type `ftype`, converting what converts without loss
    (the string "12" to 12, 12.0 to 12, "12,5" to 12.5 — Polish files use decimal commas —,
    "tak" to True, "31.12.2020" to "2020-12-31"). Raises CoercionError when it does not, or when
    the value is out of the type's range (see range_problem). None and "" stay None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    converted = _converted(ftype, value)
    problem = range_problem(ftype, converted)
    if problem:
        raise CoercionError(problem)
    return converted


def _converted(ftype: str, value):
    if ftype == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return value if isinstance(value, str) else str(value)
    if ftype == "integer":
        if isinstance(value, bool):
            raise CoercionError("expected an integer")
        if isinstance(value, int):
            return value
        number = _number(value)
        if number is None or number != number.to_integral_value():
            raise CoercionError("expected an integer")
        if number.adjusted() > 18:  # more digits than any int64: not worth building the int
            raise CoercionError(range_problem("integer", INTEGER_MAX + 1))
        return int(number)
    if ftype == "decimal":
        if isinstance(value, bool):
            raise CoercionError("expected a number")
        if isinstance(value, int | float):
            return value
        number = _number(value)
        if number is None:
            raise CoercionError("expected a number")
        if number.adjusted() > 308:  # beyond any double: not worth building the int
            raise CoercionError(range_problem("decimal", math.inf))
        return int(number) if number == number.to_integral_value() and "." not in str(
            value).replace(",", ".") else float(number)
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise CoercionError("expected true or false")
    if ftype == "date":
        if isinstance(value, datetime.datetime | datetime.date):
            return value.isoformat()[:10]
        text = str(value).strip()
        for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%Y/%m/%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
            try:
                return datetime.datetime.strptime(text[:19], fmt).date().isoformat()
            except ValueError:
                continue
        raise CoercionError("expected a date YYYY-MM-DD")
    raise CoercionError(f"unknown field type {ftype!r}")


def _number(value) -> Decimal | None:
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
