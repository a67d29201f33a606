"""NUL characters and unreadable JSON refused at the door, with a 400 that says where.

PostgreSQL text can hold no U+0000, in `text` and `jsonb` alike: a NUL that reaches a query as a
bound parameter makes psycopg2 raise, and one inside a JSON document makes PostgreSQL raise, so
every NUL a client sends would end as a 500. No legitimate text here contains one, so it is
refused once, before any view, instead of in every view:

- `NulGuardMiddleware`: the path, every query parameter (name and value), header and cookie,
  url-encoded form bodies, and the multipart forms of views whose CSRF check reads the form
  anyway. Views exempt from CSRF read their own bodies (the imports judge an upload's size
  before reading it): their parsers below, `form_problem()` or `nul_in()` check what they read.
- `JSONParser`, `FormParser`, `MultiPartParser`: DRF's, refusing NUL, NaN / Infinity and
  documents nested too deeply to read, for the REST API.
- `load_json()` and `nul_in()` for the other readers of JSON (OGC API Part 4 bodies, CQL2-JSON).

layers.schema refuses NUL in string properties as well, for what comes from files and code.
"""

import json

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

NUL = "\x00"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


class BadJson(ValueError):
    """A body that is not JSON this site can take; the message says why."""


def shown(text: str) -> str:
    """A name fit to be quoted in a message: its NUL written as %00."""
    return str(text).replace(NUL, "%00")


def nul_in(value, where: str = "", max_depth: int | None = None) -> str | None:
    """Where the first NUL is in a string or a JSON document (keys included), as a path such as
    `properties.name`; None when there is none. With `max_depth`, BadJson for a document nested
    deeper. Iterative: a document may be deeply nested."""
    stack = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return path or "the text"
            continue
        if max_depth is not None and depth > max_depth and isinstance(item, dict | list):
            raise BadJson(f"nested deeper than {max_depth} levels")
        if isinstance(item, dict):
            for key, sub in item.items():
                if isinstance(key, str) and NUL in key:
                    return f"a name in {path or 'the document'}"
                stack.append((sub, f"{path}.{shown(key)}" if path else shown(key), depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(item))
    return None


def nul_message(where: str) -> str:
    return f"{where} contains a NUL character (U+0000, %00), which no text here may hold"


def _refuse_constant(name: str):
    raise BadJson(f"{name} is not a JSON number; send a finite number")


# Deeper than any GeoJSON (a MultiPolygon feature is 6 levels) or sensible filter; a deeper
# document would only exhaust the stack of whatever reads or stores it next.
MAX_DEPTH = 100


def load_json(body, what: str = "the body", invalid: str = "{what} is not JSON: {error}") -> object:
    """`body` (bytes or str) as JSON, or BadJson saying why not: invalid JSON (the message
    `invalid`), NaN or Infinity (not JSON, though Python reads them), nested deeper than
    MAX_DEPTH, or holding a NUL."""
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadJson(f"{what} is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, BadJson):
            raise
        raise BadJson(invalid.format(what=what, error=exc)) from None
    try:
        where = nul_in(document, max_depth=MAX_DEPTH)
    except BadJson as exc:
        raise BadJson(f"{what} is {exc}") from None
    if where:
        raise BadJson(nul_message(f"{what}: {where}" if where != "the text" else what))
    return document


# --- the middleware -----------------------------------------------------------------------

def _in_query_dict(data, kind: str) -> tuple[str, str] | None:
    for name, values in data.lists():
        if NUL in name:
            return kind, shown(name)
        if any(isinstance(v, str) and NUL in v for v in values):
            return kind, name
    return None


def _where(request) -> tuple[str, str] | None:
    """(kind, name) of the first place a NUL is in the request line, headers or a url-encoded
    body; None when there is none."""
    if NUL in request.path_info:
        return "path", ""
    found = _in_query_dict(request.GET, "query")
    if found:
        return found
    for key, value in request.META.items():
        if (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")) \
                and isinstance(value, str) and NUL in value:
            return "header", key.removeprefix("HTTP_").replace("_", "-").title()
    for name, value in request.COOKIES.items():
        if NUL in name or NUL in value:
            return "cookie", shown(name)
    if request.method == "POST" and request.content_type == FORM:
        return _form(request)
    return None


def _form(request) -> tuple[str, str] | None:
    try:
        return _in_query_dict(request.POST, "form")
    except (RequestDataTooBig, SuspiciousOperation, MultiPartParserError, OSError):
        return None  # the view meets the same problem and answers it as it does


_PLACES = {"path": "the address", "query": "query parameter {name!r}", "header": "header {name}",
           "cookie": "cookie {name!r}", "form": "form field {name!r}"}


def _page_place(kind: str, name: str) -> str:
    return {"path": _("The address"), "query": _("The parameter “%(name)s”"),
            "header": _("The header %(name)s"), "cookie": _("The cookie “%(name)s”"),
            "form": _("The form field “%(name)s”")}[kind] % {"name": name}


def _wants_page(request) -> bool:
    path = request.path_info
    if path.startswith(("/api/", "/tiles/")) or path.endswith((".json", ".pbf")):
        return False
    return "text/html" in request.headers.get("Accept", "")


def refusal(request, kind: str, name: str) -> HttpResponse:
    """The 400 in the error shape of the endpoint asked for."""
    message = nul_message(_PLACES[kind].format(name=name))
    path = request.path_info
    if path.startswith("/ogc/") or path == "/ogc":
        return JsonResponse({"code": "InvalidParameterValue", "type": "InvalidParameterValue",
                             "description": message}, status=400)
    if path.startswith("/open311/"):
        if path.endswith(".xml"):
            from xml.sax.saxutils import escape

            body = (f'<?xml version="1.0" encoding="utf-8"?><errors><error><code>400</code>'
                    f"<description>{escape(message)}</description></error></errors>")
            return HttpResponse(body, status=400, content_type="text/xml; charset=utf-8")
        return JsonResponse([{"code": 400, "description": message}], status=400, safe=False)
    if _wants_page(request):
        return render(request, "bad_request.html", {"place": _page_place(kind, name)},
                      status=400)
    return JsonResponse({"detail": message}, status=400)


class NulGuardMiddleware:
    """A NUL anywhere in the request line, headers, cookies or a form body: 400, before the
    view. In the tile chain too (settings.TILES_MIDDLEWARE; tiles.wsgi hands such requests to
    it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        found = _where(request)
        if found:
            return refusal(request, *found)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # A multipart form is read here only for views whose CSRF check reads it anyway: a
        # view exempt from CSRF may need to judge the body before it is read (uploads).
        if request.method != "POST" or request.content_type != MULTIPART or \
                getattr(view_func, "csrf_exempt", False):
            return None
        found = _form(request)
        return refusal(request, *found) if found else None


# --- DRF parsers ---------------------------------------------------------------------------

class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        try:
            return load_json(body, invalid="JSON parse error - {error}")  # DRF's own words
        except BadJson as exc:
            raise ParseError(str(exc)) from None


def form_problem(data) -> str | None:
    """The message for a NUL in a parsed form (a QueryDict), or None; for views exempt from
    CSRF that read a multipart form themselves."""
    found = _in_query_dict(data, "form")
    return nul_message(_PLACES["form"].format(name=found[1])) if found else None


def _checked_form(data):
    problem = form_problem(data)
    if problem:
        raise ParseError(problem)
    return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return _checked_form(super().parse(stream, media_type, parser_context))


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        _checked_form(result.data)
        return result
