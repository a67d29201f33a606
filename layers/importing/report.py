"""What an import answers: the dry-run report (and, after a write, what was written).

Problems with single rows are (row, field, value, reason); the first MAX_REPORTED_ERRORS are
kept, all are counted. A problem with the file as a whole is `fatal`.
"""

import math
from dataclasses import asdict, dataclass, field

MAX_REPORTED_ERRORS = 1000


@dataclass
class RowError:
    row: int
    field: str
    value: object
    reason: str


@dataclass
class ImportReport:
    filename: str
    layer: str
    dry_run: bool
    mode: str
    format: str = ""
    source_layer: str | None = None
    features: int = 0
    detected_crs: str | None = None
    crs: str | None = None
    encoding: str | None = None
    geometry_types: dict = field(default_factory=dict)
    mapping: list = field(default_factory=list)
    ignored_fields: list = field(default_factory=list)
    added_fields: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    error_count: int = 0
    repaired: list = field(default_factory=list)
    invalid: str = "reject"
    fatal: str | None = None
    notes: list = field(default_factory=list)
    written: int = 0
    deleted: int = 0
    batch: str | None = None

    def error(self, row: int, field_name: str, value, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(row, field_name, _jsonable(value), reason))

    @property
    def ok(self) -> bool:
        return not self.fatal and not self.error_count

    def as_dict(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # inf or nan: not JSON
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
