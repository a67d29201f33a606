"""What an uploaded file must be before GDAL sees it, and what its messages may say.

- The content must be what the name says, judged by its first bytes: a GeoPackage is an SQLite
  database whose application_id is GPKG, a zip starts with PK, GeoJSON is JSON text starting
  with `{`, CSV is text. A file that is something else is refused, saying what it is.
- A zip is judged by its directory before anything is unpacked: at most a set number of files
  and folders, a set total unpacked size, no member compressed so much that it is a zip bomb,
  no absolute path, no `..`, no symbolic link, no encryption. Only the Shapefile's own parts
  are unpacked (.shp, .shx, .dbf, .prj, .cpg), under names of our own.
- Messages name the upload by its client name; no server path reaches them.

Every refusal is an UploadRefused whose message is shown as it is.
"""

import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from django.conf import settings

HEAD_BYTES = 4096
GEOPACKAGE_IDS = (b"GPKG", b"GP10", b"GP11")  # application_id at byte 68 of the SQLite header
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
# Members this small are never judged by their compression ratio: a short, repetitive .prj or
# .cpg may well compress a hundredfold, and unpacks to nothing worth refusing.
RATIO_FLOOR = 1024 * 1024


class UploadRefused(ValueError):
    pass


def zip_limits() -> tuple[int, int, int]:
    """(total unpacked bytes, files and folders, compression ratio of one member) a zip may
    reach."""
    return (int(getattr(settings, "LAYER_IMPORT_ZIP_MAX_BYTES", 400 * 2**20)),
            int(getattr(settings, "LAYER_IMPORT_ZIP_MAX_FILES", 100)),
            int(getattr(settings, "LAYER_IMPORT_ZIP_MAX_RATIO", 200)))


def client_name(name: str | None) -> str:
    """The upload's name as the client gave it, without any folder part."""
    return PureWindowsPath(str(name or "upload")).name or "upload"


# --- content against name -----------------------------------------------------------------

def sniff(head: bytes) -> str:
    """What the first bytes of a file say it is: geopackage, sqlite, zip, json, xml, binary or
    text."""
    if head.startswith(b"SQLite format 3\x00"):
        return "geopackage" if head[68:72] in GEOPACKAGE_IDS else "sqlite"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if b"\x00" in head:
        return "binary"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{"):
        return "json"
    if text.startswith(b"<"):
        return "xml"
    return "text"


WHAT = {"geopackage": "it is a GeoPackage (rename it to .gpkg)",
        "sqlite": "it is an SQLite database", "zip": "it is a zip archive",
        "json": "it holds JSON text (rename it to .geojson)", "xml": "it holds XML",
        "binary": "it holds binary data", "text": "it holds plain text"}


def check_content(path: Path, fmt: str, name: str) -> None:
    """Refuse the file at `path` unless its content is of format `fmt` (readers.FORMATS)."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    kind = sniff(head)
    if fmt == "GeoJSON" and kind != "json":
        detail = {"zip": "it is a zip archive (a zipped Shapefile? name it .zip)",
                  "xml": "it holds XML (GeoJSON is JSON text starting with {)",
                  "text": "it does not start with { (GeoJSON is JSON text starting with {)"}
        raise UploadRefused(f"{name} is not GeoJSON: {detail.get(kind, WHAT[kind])}")
    if fmt == "GeoPackage" and kind != "geopackage":
        if kind == "sqlite":
            raise UploadRefused(f"{name} is an SQLite database but not a GeoPackage (its "
                                "application_id is not GPKG)")
        if kind == "text":
            raise UploadRefused("the file is not a GeoPackage (no SQLite header)")
        raise UploadRefused(f"{name} is not a GeoPackage: {WHAT[kind]}")
    if fmt == "Shapefile (zip)" and kind != "zip":
        if kind in ("json", "geopackage"):
            raise UploadRefused(f"{name} is not a zip archive: {WHAT[kind]}")
        raise UploadRefused("the file is not a valid zip archive (corrupt or truncated)")
    if fmt == "CSV" and kind in ("geopackage", "sqlite", "zip", "binary"):
        raise UploadRefused(f"{name} is not CSV: {_csv_refusal(kind)}")


def _csv_refusal(kind: str) -> str:
    return "it holds binary data (NUL bytes)" if kind == "binary" else WHAT[kind]


def check_text(raw: bytes, name: str) -> None:
    """Refuse CSV bytes holding NUL anywhere (a binary file, or UTF-16 text)."""
    if b"\x00" in raw:
        raise UploadRefused(f"{name} is not CSV: {_csv_refusal('binary')}")


# --- zips ---------------------------------------------------------------------------------

@dataclass
class ShapefileParts:
    shp: Path  # the unpacked .shp; its parts beside it under the same stem
    stem: str  # the Shapefile's name in the zip (for messages)
    has_prj: bool
    has_cpg: bool


def _size(n: int) -> str:
    return f"{n} bytes" if n < 2**20 else f"{n / 2**20:.1f} MB"


def _unsafe(member: str) -> bool:
    parts = re.split(r"[\\/]", member)
    return (member.startswith(("/", "\\")) or bool(re.match(r"[A-Za-z]:", member))
            or ".." in parts)


# The end of a zip: its last record, after at most a 64 KB comment, says how many entries the
# central directory holds and how long it is (zipfile would parse all of it into memory first).
END_RECORD = b"PK\x05\x06"
END_RECORD_SIZE = 22
ENTRY_BYTES = 1024  # a central directory entry of a sane zip: 46 bytes plus its name


def check_zip_end(path: Path, name: str) -> None:
    """Refuse a zip whose end record declares more entries, or a longer central directory,
    than the file limit allows, before the directory is read."""
    _, max_files, _ = zip_limits()
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - END_RECORD_SIZE - 0xFFFF))
        tail = fh.read()
    at = tail.rfind(END_RECORD)
    if at < 0 or len(tail) - at < END_RECORD_SIZE:
        return  # no end record: zipfile refuses the file as corrupt
    entries = int.from_bytes(tail[at + 10:at + 12], "little")
    directory = int.from_bytes(tail[at + 12:at + 16], "little")
    if entries > max_files:
        more = " or more" if entries == 0xFFFF else ""  # 0xFFFF: a ZIP64 count
        raise UploadRefused(f"{name} holds {entries}{more} files and folders; at most "
                            f"{max_files} are accepted")
    if directory > max_files * ENTRY_BYTES:
        raise UploadRefused(f"{name} has a table of contents of {_size(directory)}, more "
                            f"than {max_files} files and folders need")


def check_zip(archive: zipfile.ZipFile, name: str) -> None:
    """Refuse a zip by its directory alone, before anything is unpacked."""
    max_bytes, max_files, max_ratio = zip_limits()
    infos = archive.infolist()
    if len(infos) > max_files:
        raise UploadRefused(f"{name} holds {len(infos)} files and folders; at most "
                            f"{max_files} are accepted")
    for info in infos:
        if _unsafe(info.filename):
            raise UploadRefused(f"{name} holds an unsafe path ({info.filename!r}): absolute "
                                "paths and .. are refused")
        if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
            raise UploadRefused(f"{name} holds a symbolic link ({info.filename}): links are "
                                "refused")
        if info.flag_bits & 0x1:
            raise UploadRefused(f"{name} holds an encrypted file ({info.filename}): upload "
                                "it without a password")
        if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * max(
                info.compress_size, 1):
            raise UploadRefused(
                f"{name}: {info.filename} would unpack to {_size(info.file_size)} from "
                f"{_size(info.compress_size)} (compressed more than {max_ratio} times): "
                "refused as a zip bomb")
    total = sum(info.file_size for info in infos)
    if total > max_bytes:
        raise UploadRefused(f"{name} would unpack to {_size(total)}; at most "
                            f"{_size(max_bytes)} are accepted")


def _pick_shapefile(members: list[str], source_layer: str | None) -> str:
    shps = sorted(m for m in members if m.lower().endswith(".shp")
                  and not m.startswith("__MACOSX/") and not m.endswith("/"))
    if source_layer:
        shps = [m for m in shps if Path(m).stem == source_layer]
    if not shps:
        raise UploadRefused("no .shp file in the zip"
                            + (f" named {source_layer}" if source_layer else ""))
    if len(shps) > 1:
        raise UploadRefused(f"the zip holds {len(shps)} shapefiles "
                            f"({', '.join(Path(s).stem for s in shps)}): choose one")
    return shps[0]


def _unpack(archive: zipfile.ZipFile, member: str, target: Path) -> None:
    """One member to `target`, no more bytes than its directory entry declared (zipfile
    enforces that, and the CRC)."""
    try:
        with archive.open(member) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1024 * 1024)
    except (zipfile.BadZipFile, zlib.error, EOFError):
        raise UploadRefused(f"the zip is corrupt: {member} fails its checksum") from None


def unpack_shapefile(path: Path, name: str, folder: Path, source_layer: str | None = None,
                     as_stem: str = "data") -> ShapefileParts:
    """Judge the zip at `path`, then unpack its one Shapefile's parts into `folder` as
    data.shp, data.shx, ... (`as_stem` instead of data; nothing else of the zip is
    unpacked)."""
    check_zip_end(path, name)
    try:
        with zipfile.ZipFile(path) as archive:
            check_zip(archive, name)
            members = archive.namelist()
            shp = _pick_shapefile(members, source_layer)
            stem = shp[:-4]
            by_lower = {m.lower(): m for m in members}
            for ext in (".shx", ".dbf"):
                if (stem + ext).lower() not in by_lower:
                    raise UploadRefused(f"{Path(stem).name}{ext} is missing from the zip")
            for ext in SHAPEFILE_PARTS:
                member = by_lower.get((stem + ext).lower())
                if member is not None:
                    _unpack(archive, member, folder / f"{as_stem}{ext}")
    except zipfile.BadZipFile:
        raise UploadRefused("the file is not a valid zip archive (corrupt or truncated)") \
            from None
    return ShapefileParts(shp=folder / f"{as_stem}.shp", stem=Path(stem).name,
                          has_prj=(folder / f"{as_stem}.prj").exists(),
                          has_cpg=(folder / f"{as_stem}.cpg").exists())


# --- messages -----------------------------------------------------------------------------

# GDAL's advice to prefix the path with a driver name: a connection string is exactly what an
# import never uses, and the upload's name is what the reader knows.
GDAL_HINT = re.compile(r";? ?It might help to specify the correct driver explicitly[^\n]*")


def scrub(message: str, path: Path, name: str) -> str:
    """`message` (from GDAL) with the file GDAL read named as the client named the upload,
    and no server path left in it."""
    folder = str(path.parent)
    text = GDAL_HINT.sub("", str(message))
    text = text.replace(str(path), name).replace(folder + "/", "").replace(folder, "")
    text = re.sub(rf"\b{re.escape(path.stem)}(\.\w+)\b", name, text)
    for root in {tempfile.gettempdir(), str(settings.MEDIA_ROOT), str(settings.BASE_DIR)}:
        text = re.sub(re.escape(root.rstrip("/")) + r"/[^\s'\"]*", "(a server file)", text)
    return text.strip()
