"""The 500 handler: say what went wrong when it is an operational fault, not a bug.

Django calls handler500 inside the `except` block of the failed request, so sys.exc_info()
holds the exception. Two faults deserve a precise answer instead of "server error":

- a full disk (upload, import): 507 Insufficient Storage, "nothing was saved";
- the database unreachable (restart, failover): 503 with Retry-After, so clients and the
  balancer retry instead of giving up.

Everything else is the plain 500. Pages are the site's own (sdi/templates/500.html, with the
site menu, in the visitor's language), rendered without context processors: they must not touch
the database, which may be what failed. The request id is in every answer, for bug reports.
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext, gettext_noop

from sdi import navigation
from sdi.observability import current_request_id
from sdi.storage import NO_SPACE

DISK_FULL = gettext_noop("The server has no disk space left to store this upload; nothing was "
                         "saved. Please try again later and tell the site administrators.")
DATABASE_DOWN = gettext_noop("The database is briefly unavailable; please retry in a few "
                             "seconds.")
BUG = gettext_noop("Something went wrong on our side. The error has been logged; please try "
                   "again later.")
TITLES = {500: gettext_noop("Server error"), 503: gettext_noop("Temporarily unavailable"),
          507: gettext_noop("No storage space left")}


def _wants_json(request) -> bool:
    accept = request.headers.get("Accept", "")
    return (not request.path.startswith("/admin/") and "text/html" not in accept) or \
        "application/json" in accept


def page(request, status: int, message: str) -> HttpResponse:
    """The site's error page; `message` an untranslated (gettext_noop) text."""
    html = render_to_string("500.html", {
        "request": request, "site_nav": navigation.items(request.path),
        "site_brand": navigation.brand(), "status": status, "title": gettext(TITLES[status]),
        "message": gettext(message), "request_id": current_request_id()})
    return HttpResponse(html, status=status)


def _answer(request, status: int, message: str, retry_after: int | None = None):
    if _wants_json(request):
        response = JsonResponse({"detail": message, "request_id": current_request_id()},
                                status=status)
    else:
        response = page(request, status, message)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def server_error(request, *args, **kwargs):
    exc = sys.exc_info()[1]
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            return _answer(request, 507, DISK_FULL)
        if isinstance(exc, OperationalError | InterfaceError):
            return _answer(request, 503, DATABASE_DOWN, retry_after=5)
        exc = exc.__cause__ or exc.__context__
    return _answer(request, 500, BUG)
