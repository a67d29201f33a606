"""Request ids, structured (JSON) logs and per-request metrics.

Every request gets an id: the one nginx (or another proxy) sent in X-Request-ID when it looks
sane, or a fresh one. It is returned in the X-Request-ID response header and attached to every
log record written while the request runs, so one id finds the nginx access line, the Django
log lines and the user's bug report.

LOG_FORMAT=json (production) makes every log line one JSON object: time, level, logger,
message, request_id, and for the per-request line method, path, status, duration_ms, endpoint.
"""

import contextvars
import json
import logging
import re
import time
import traceback
import uuid
from datetime import UTC, datetime

from sdi import metrics

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("sdi_request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
request_log = logging.getLogger("sdi.request")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (used by both formatters)."""

    def filter(self, record):
        record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    # Attributes every LogRecord has; anything else was passed in `extra=` and is kept.
    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}

    def format(self, record):
        out = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def _endpoint(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return "/" + (match.route or match.view_name or "unknown")


def begin_request(given_id: str) -> tuple[str, contextvars.Token]:
    """The request's id (the proxy's X-Request-ID when it looks sane, else a new one), set for
    the log records written while it runs; end_request() with the token undoes it."""
    rid = given_id if _VALID_ID.match(given_id) else uuid.uuid4().hex
    return rid, _request_id.set(rid)


def end_request(token: contextvars.Token, *, method: str, path: str, status: int,
                seconds: float, endpoint: str, remote_addr: str) -> None:
    """Metrics and the request log line, then the request id is unset."""
    try:
        metrics.observe_request(endpoint, method, status, seconds)
        metrics.record_db_connections()
        request_log.info(
            "%s %s %s", method, path, status,
            extra={"method": method, "path": path, "status": status,
                   "duration_ms": round(seconds * 1000, 2), "endpoint": endpoint,
                   "remote_addr": remote_addr})
    finally:
        _request_id.reset(token)


def forget_request(token: contextvars.Token) -> None:
    """Unset the request id without counting or logging the request (someone else answers)."""
    _request_id.reset(token)


class RequestObservabilityMiddleware:
    """First in the chain: sees every response, including those of other middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid, token = begin_request(request.headers.get("X-Request-ID", ""))
        request.request_id = rid
        start = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response["X-Request-ID"] = rid
            return response
        finally:
            end_request(token, method=request.method, path=request.path, status=status,
                        seconds=time.perf_counter() - start, endpoint=_endpoint(request),
                        remote_addr=request.META.get("REMOTE_ADDR", ""))
