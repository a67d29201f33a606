"""The 500 handler: say what went wrong when it is an operational fault, not a bug.

Django calls handler500 inside the `except` block of the failed request, so sys.exc_info()
holds the exception. Two faults deserve a precise answer instead of "server error":

- a full disk (upload, import): 507 Insufficient Storage, "nothing was saved";
- the database unreachable (restart, failover): 503 with Retry-After, so clients and the
  balancer retry instead of giving up.

Everything else is the plain 500 page. The request id is in every answer, for bug reports.
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.views.defaults import server_error as django_server_error

from sdi.observability import current_request_id
from sdi.storage import NO_SPACE


def _wants_json(request) -> bool:
    accept = request.headers.get("Accept", "")
    return (not request.path.startswith("/admin/") and "text/html" not in accept) or \
        "application/json" in accept


def _answer(request, status: int, message: str, retry_after: int | None = None):
    body = {"detail": message, "request_id": current_request_id()}
    if _wants_json(request):
        response = JsonResponse(body, status=status)
    else:
        from django.http import HttpResponse
        from django.utils.html import escape

        response = HttpResponse(
            f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{escape(message)}</p>"
            f"<p><small>request id: {escape(body['request_id'])}</small></p>",
            status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def server_error(request, *args, **kwargs):
    exc = sys.exc_info()[1]
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            return _answer(request, 507, "The server has no disk space left to store this "
                           "upload; nothing was saved. Please try again later and tell the "
                           "site administrators.")
        if isinstance(exc, OperationalError | InterfaceError):
            return _answer(request, 503, "The database is briefly unavailable; please retry "
                           "in a few seconds.", retry_after=5)
        exc = exc.__cause__ or exc.__context__
    return django_server_error(request, *args, **kwargs)
