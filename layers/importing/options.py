"""What an import is asked to do: the options of the admin form and the REST API, checked.

Every option is read from the form data with a precise message when it is wrong; all the wrong
ones are reported together (ImportError_ carries the list).
"""

import json
import re
from dataclasses import dataclass, field


class ImportError_(ValueError):  # noqa: N801 - ImportError is a builtin
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class ImportOptions:
    dry_run: bool = True
    mode: str = "append"  # or "replace": the layer's features are replaced by the file's
    srid: int | None = None  # overrides the file's CRS; needed for CSV X/Y and for no .prj
    x: str | None = None
    y: str | None = None
    encoding: str | None = None  # None: detected
    invalid: str = "reject"  # or "repair" (ST_MakeValid), counted in the report
    mapping: dict = field(default_factory=dict)  # file field -> layer field ("" = skip)
    add_fields: bool = False  # unmatched file fields become new layer fields
    source_layer: str | None = None  # for a GeoPackage (or zip) holding several layers

    @classmethod
    def from_form(cls, data) -> "ImportOptions":
        errors = []

        def flag(name, default):
            value = data.get(name)
            if value in (None, ""):
                return default
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            errors.append(f"{name}: expected true or false, got {value!r}")
            return default

        options = cls(dry_run=flag("dry_run", True), add_fields=flag("add_fields", False))
        options.mode = data.get("mode") or "append"
        if options.mode not in ("append", "replace"):
            errors.append(f"mode: expected append or replace, got {options.mode!r}")
        options.invalid = data.get("invalid") or "reject"
        if options.invalid not in ("repair", "reject"):
            errors.append(f"invalid: expected repair or reject, got {options.invalid!r}")
        if data.get("crs"):
            try:
                options.srid = parse_crs(data["crs"])
            except ImportError_ as exc:
                errors += exc.errors
        options.x = (data.get("x") or "").strip() or None
        options.y = (data.get("y") or "").strip() or None
        if bool(options.x) != bool(options.y):
            errors.append("x, y: name both coordinate columns, or neither")
        options.encoding = (data.get("encoding") or "").strip() or None
        if options.encoding:
            try:
                "".encode(options.encoding)
            except LookupError:
                errors.append(f"encoding: unknown encoding {options.encoding!r}")
        options.source_layer = (data.get("layer") or "").strip() or None
        mapping = _mapping(data.get("mapping"), errors)
        if mapping is not None:
            options.mapping = mapping
        if errors:
            raise ImportError_(errors)
        return options


def _mapping(mapping, errors: list[str]) -> dict | None:
    """The field mapping as given (a dict, or its JSON text); None when none or wrong."""
    if not mapping:
        return None
    if isinstance(mapping, str):
        try:
            mapping = json.loads(mapping)
        except ValueError:
            mapping = None
    if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        errors.append('mapping: expected a JSON object {"file field": "layer field"}')
        return None
    return mapping


def parse_crs(text) -> int:
    """An EPSG code from "EPSG:2178", "2178" or "urn:ogc:def:crs:EPSG::2178"."""
    value = str(text).strip()
    match = re.fullmatch(r"(?:(?:urn:ogc:def:crs:)?EPSG:{1,2})?(\d{4,6})", value, re.I)
    if not match:
        raise ImportError_([f"crs: expected an EPSG code such as EPSG:2178, got {value!r}"])
    code = int(match.group(1))
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        CRS.from_epsg(code)
    except CRSError:
        raise ImportError_([f"crs: EPSG:{code} is not a known CRS"]) from None
    return code
