"""What reading a file yields (a Source), the plan of a read, and text encodings.

A read has two halves: a plan (the file checked, copied or unpacked into the import's folder,
the one GDAL driver that may open it, and what to do afterwards), then the read itself in
GDAL's child process (layers.importing.gdal_sandbox), after which the plan finishes the Source
(CSV: points from the X/Y columns). Several plans can be read by one child per driver (the city
loader reads all its files so).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from layers.importing.gdal_sandbox import ReadRequest
from layers.importing.options import ImportError_, ImportOptions
from layers.importing.report import ImportReport


@dataclass
class Source:
    """What GDAL read: WKB geometries and columns of Python values, plus what was detected."""

    format: str
    srid: int | None
    detected_crs: str | None
    names: list[str]
    types: list[str]  # schema type of each column as the file declares it
    columns: list[list]
    wkb: list
    encoding: str | None = None
    layer_name: str | None = None
    text_columns: bool = False  # CSV: every value is a string, types come from the layer
    # Rows whose coordinates were reported already (CSV X/Y): not reported again as "no geometry".
    bad_coordinates: set = field(default_factory=set)

    def __len__(self):
        return len(self.wkb)


@dataclass
class ReadPlan:
    """One file made ready for GDAL: `request` names its copy in the import's folder, `driver`
    is the only GDAL driver that may open it, `finish` completes what GDAL gave back. What is
    found goes to `report`."""

    filename: str  # as the client (or the city's config) names the file: for messages
    format: str  # "GeoJSON", "GeoPackage", "Shapefile", "CSV"
    driver: str
    request: ReadRequest
    options: ImportOptions
    report: ImportReport
    finish: Callable[[Source], None] | None = None


def detect_encoding(lines) -> str:
    """UTF-8 if every line decodes as UTF-8, CP1250 (the Polish Windows code page) if none with
    non-ASCII bytes does; a file mixing both is refused, naming lines of each kind."""
    utf8, other = [], []
    for number, line in enumerate(lines, start=1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8.append(number)
        except UnicodeDecodeError:
            other.append(number)
    if utf8 and other:
        raise ImportError_([
            f"mixed text encodings: line(s) {_few(utf8)} are UTF-8 but line(s) {_few(other)} "
            "are not (CP1250?); save the whole file in one encoding (UTF-8 preferred)"])
    return "cp1250" if other else "utf-8"


def _few(numbers: list[int], limit: int = 10) -> str:
    return ", ".join(map(str, numbers[:limit])) + (" …" if len(numbers) > limit else "")
