"""Uploads on their way to an import: the size limit (also for bodies sent in chunks), the file
on disk while it is read, and an upload kept between the admin's dry run and its confirmation.
"""

import os
import re
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

# A chunked body is read this much at a time, and kept in memory up to SPOOL_MEMORY (then on an
# anonymous temporary file) until it is complete.
READ_CHUNK = 64 * 1024
SPOOL_MEMORY = 2 * 1024 * 1024


def max_upload_bytes() -> int:
    return int(getattr(settings, "LAYER_IMPORT_MAX_BYTES", 100 * 1024 * 1024))


def check_upload_size(request) -> tuple[int, str] | None:
    """(status, message) when the upload is refused (413 over the limit, 400 for a broken
    body), None when it may be parsed.

    A declared body (Content-Length) is judged before Django reads a byte of it, so a 500 MB
    upload is refused at once instead of being spooled to disk first. A body sent in chunks
    (Transfer-Encoding: chunked, no Content-Length; gunicorn decodes the chunks) declares no
    size, and Django by itself reads it as empty: it is read here, and refused as soon as it
    passes the limit, without reading the rest; a complete one is handed to Django as though it
    had come with its Content-Length, so the form or DRF parses it as usual. Call this before
    anything touches request.POST, FILES or data."""
    http = getattr(request, "_request", request)  # a DRF Request wraps Django's
    meta = http.META
    limit = max_upload_bytes()
    if meta.get("CONTENT_LENGTH"):
        try:
            length = int(meta["CONTENT_LENGTH"])
        except ValueError:
            return 400, "invalid Content-Length"
        if length > limit:
            return 413, (f"the upload is {length / 2**20:.1f} MB; the limit is "
                         f"{limit / 2**20:.0f} MB (split the file, or load it with manage.py)")
        return None
    if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    return _receive_chunked(http, limit)


def _receive_chunked(http, limit: int) -> tuple[int, str] | None:
    from django.core.handlers.wsgi import LimitedStream

    source = http.META["wsgi.input"]
    body = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - kept below
    size = 0
    while True:
        try:
            chunk = source.read(READ_CHUNK)
        except Exception as exc:  # the server's chunk decoder: bad chunk size, cut off, ...
            body.close()
            return 400, (f"the chunked body is malformed or was cut off after "
                         f"{size / 2**20:.1f} MB ({type(exc).__name__}); send it again")
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            body.close()
            return 413, (f"the upload passed the limit of {limit / 2**20:.0f} MB (it was sent "
                         f"in chunks, without Content-Length, and refused after "
                         f"{size / 2**20:.1f} MB had arrived; split the file, or load it with "
                         "manage.py)")
        body.write(chunk)
    body.seek(0)
    # Django reads the body through request._stream, a LimitedStream of Content-Length bytes
    # (0 when none was sent); give it the complete body and its size. The temporary file goes
    # with the request.
    http.META["CONTENT_LENGTH"] = str(size)
    http._stream = LimitedStream(body, size)
    http._chunked_body = body
    return None


def _safe_name(name: str) -> str:
    base = os.path.basename(name or "upload")
    return re.sub(r"[^\w.\-]+", "_", base)[:120] or "upload"


@contextmanager
def stored_upload(upload):
    """The uploaded file on disk (GDAL reads paths), under its own name, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="sdi-upload-"))
    try:
        path = workdir / _safe_name(upload.name)
        with open(path, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        yield path
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def pending_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def keep_upload(upload) -> str:
    """Keep an upload between the dry run and the confirmed import (admin); returns a token."""
    token = uuid.uuid4().hex
    folder = pending_dir() / token
    folder.mkdir(parents=True)
    with open(folder / _safe_name(upload.name), "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return token


def kept_upload(token: str) -> Path | None:
    if not re.fullmatch(r"[0-9a-f]{32}", token or ""):
        return None
    folder = pending_dir() / token
    files = list(folder.iterdir()) if folder.is_dir() else []
    return files[0] if files else None


def drop_upload(token: str) -> None:
    if re.fullmatch(r"[0-9a-f]{32}", token or ""):
        shutil.rmtree(pending_dir() / token, ignore_errors=True)
