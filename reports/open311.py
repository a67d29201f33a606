"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2) over the reports, JSON and XML.

    GET  services.{fmt}                  categories as services
    GET  services/<service_code>.{fmt}   a category's extra questions (service definition)
    GET  requests.{fmt}                  public reports; service_request_id, service_code,
                                         status (open/closed), start_date, end_date
    GET  requests/<id>.{fmt}             one public report
    POST requests.{fmt}                  file a report (form-encoded, as the spec says)

Reads show public reports only and never an email. POSTed reports go through the same
validation, rate limits and moderation as the web form; the spec's api_key is accepted but not
required (anonymous residents may file reports on the web too). `media_url` is not fetched: the
server makes no outbound requests; photos are sent through the web form.
"""

import datetime
import xml.etree.ElementTree as ET

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import override
from django.views.decorators.csrf import csrf_exempt

from reports import conf, geo, questions, ratelimit, services
from reports.forms import HONEYPOT
from reports.models import Category, Report, ReportEvent
from reports.ratelimit import RateLimited
from sdi import input_guard

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
DATATYPES = {"text": "string", "number": "number", "boolean": "singlevaluelist",
             "choice": "singlevaluelist"}
MAX_RESULTS = 1000
DEFAULT_DAYS = 90


class Open311Error(Exception):
    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


def _xml(root: str, item: str, rows: list[dict]) -> bytes:
    top = ET.Element(root)
    for row in rows:
        node = ET.SubElement(top, item)
        for key, value in row.items():
            _xml_value(node, key, value)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def _xml_value(parent, key, value):
    if isinstance(value, list):
        holder = ET.SubElement(parent, key)
        for entry in value:
            child = ET.SubElement(holder, key.rstrip("s") or "item")
            for k, v in entry.items():
                _xml_value(child, k, v)
        return
    node = ET.SubElement(parent, key)
    if value is None:
        return
    node.text = str(value).lower() if isinstance(value, bool) else str(value)


def _respond(fmt: str, root: str, item: str, rows, status: int = 200):
    if fmt == "xml":
        return HttpResponse(_xml(root, item, rows), content_type=FORMATS["xml"], status=status)
    return JsonResponse(rows, safe=False, status=status,
                        json_dumps_params={"ensure_ascii": False})


def _error(fmt: str, status: int, description: str):
    return _respond(fmt, "errors", "error", [{"code": status, "description": description}],
                    status)


def endpoint(view):
    """Format check, English messages, errors in the Open311 shape."""
    def wrapper(request, fmt, *args, **kwargs):
        if fmt not in FORMATS:
            return _error("json", 404, f"unknown format {fmt!r}; use json or xml")
        with override("en"):
            try:
                return view(request, fmt, *args, **kwargs)
            except Open311Error as exc:
                response = _error(fmt, exc.status, exc.description)
                if exc.status == 429:
                    response["Retry-After"] = str(getattr(exc, "retry_after", 60))
                return response
    wrapper.__name__ = view.__name__
    return csrf_exempt(wrapper)


def _w3c(value: datetime.datetime | None) -> str | None:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


# --- services -----------------------------------------------------------------------------

def service(category: Category) -> dict:
    return {"service_code": category.slug, "service_name": category.name_pl,
            "description": category.description_pl or category.name_en,
            "metadata": bool(category.questions), "type": "realtime",
            "keywords": category.name_en, "group": ""}


@endpoint
def services_list(request, fmt):
    if request.method != "GET":
        raise Open311Error(405, "use GET")
    return _respond(fmt, "services", "service",
                    [service(c) for c in Category.objects.filter(active=True)])


@endpoint
def service_definition(request, fmt, code):
    if request.method != "GET":
        raise Open311Error(405, "use GET")
    category = Category.objects.filter(slug=code, active=True).first()
    if category is None:
        raise Open311Error(404, f"unknown service_code {code!r}")
    attributes = []
    for order, q in enumerate(category.questions, start=1):
        attr = {"variable": True, "code": q["name"], "datatype": DATATYPES[q["type"]],
                "required": bool(q.get("required")), "datatype_description": "",
                "order": order, "description": q.get("label_pl", "")}
        if q["type"] == "choice":
            attr["values"] = [{"key": str(c["key"]), "name": c.get("label_pl", c["key"])}
                              for c in q["choices"]]
        elif q["type"] == "boolean":
            attr["values"] = [{"key": "true", "name": "tak"}, {"key": "false", "name": "nie"}]
        attributes.append(attr)
    definition = {"service_code": category.slug, "attributes": attributes}
    if fmt == "xml":
        top = ET.Element("service_definition")
        ET.SubElement(top, "service_code").text = category.slug
        holder = ET.SubElement(top, "attributes")
        for attr in attributes:
            node = ET.SubElement(holder, "attribute")
            for key, value in attr.items():
                _xml_value(node, key, value)
        return HttpResponse(ET.tostring(top, encoding="utf-8", xml_declaration=True),
                            content_type=FORMATS["xml"])
    return JsonResponse(definition, json_dumps_params={"ensure_ascii": False})


# --- requests -----------------------------------------------------------------------------

def _status_notes(report: Report) -> str:
    last = (report.events.filter(public=True, kind__in=[ReportEvent.Kind.STATUS,
                                                        ReportEvent.Kind.REPLY])
            .exclude(text="").order_by("-at", "-id").first())
    return last.text if last else ""


def request_row(report: Report) -> dict:
    """A public report as an Open311 request: the fields below and nothing else."""
    photo = report.photos.first()
    return {
        "service_request_id": str(report.pk),
        "status": "open" if report.is_open else "closed",
        "status_notes": _status_notes(report),
        "service_name": report.category.name_pl,
        "service_code": report.category.slug,
        "description": f"{report.title}\n\n{report.description}",
        "agency_responsible": report.department.name_pl if report.department else "",
        "service_notice": report.get_status_display(),
        "requested_datetime": _w3c(report.created_at),
        "updated_datetime": _w3c(report.updated_at),
        "expected_datetime": None,
        "address": "",
        "address_id": "",
        "zipcode": "",
        "lat": round(report.geom.y, 6),
        "long": round(report.geom.x, 6),
        "media_url": (f"/reports/photos/{photo.key}.jpg" if photo else ""),
    }


def _absolute(request, row: dict) -> dict:
    if row["media_url"]:
        row["media_url"] = request.build_absolute_uri(row["media_url"])
    return row


def _parse_date(name: str, value: str) -> datetime.datetime:
    parsed = parse_datetime(value) if value else None
    if parsed is None:
        raise Open311Error(400, f"{name}: expected a W3C datetime, e.g. 2026-01-01T00:00:00Z")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def _query(params) -> list[Report]:
    reports = Report.public().select_related("category", "department")
    ids = params.get("service_request_id")
    if ids:
        try:
            wanted = [int(i) for i in ids.split(",") if i.strip()]
        except ValueError:
            raise Open311Error(400, "service_request_id: expected numbers") from None
        # The spec: service_request_id overrides every other parameter.
        return list(reports.filter(pk__in=wanted).order_by("pk"))
    if params.get("service_code"):
        reports = reports.filter(category__slug__in=params["service_code"].split(","))
    if params.get("status"):
        wanted = set(params["status"].split(","))
        if not wanted <= {"open", "closed"}:
            raise Open311Error(400, "status: open or closed")
        if wanted == {"open"}:
            reports = reports.filter(status__in=Report.OPEN_STATUSES)
        elif wanted == {"closed"}:
            reports = reports.exclude(status__in=Report.OPEN_STATUSES)
    start = _parse_date("start_date", params["start_date"]) if params.get("start_date") else None
    end = _parse_date("end_date", params["end_date"]) if params.get("end_date") else None
    if start and end and end < start:
        raise Open311Error(400, "end_date is before start_date")
    if start and end and end - start > datetime.timedelta(days=DEFAULT_DAYS):
        raise Open311Error(400, f"the date range may not span more than {DEFAULT_DAYS} days")
    if start is None and end is None:
        start = timezone.now() - datetime.timedelta(days=DEFAULT_DAYS)
    elif start is None:
        start = end - datetime.timedelta(days=DEFAULT_DAYS)
    reports = reports.filter(created_at__gte=start)
    if end:
        reports = reports.filter(created_at__lte=end)
    return list(reports.order_by("-created_at", "-pk")[:MAX_RESULTS])


@endpoint
def requests_view(request, fmt):
    if request.method == "POST":
        return _post(request, fmt)
    if request.method != "GET":
        raise Open311Error(405, "use GET or POST")
    rows = [_absolute(request, request_row(r)) for r in _query(request.GET)]
    return _respond(fmt, "service_requests", "request", rows)


@endpoint
def request_detail(request, fmt, pk):
    if request.method != "GET":
        raise Open311Error(405, "use GET")
    report = (Report.public().select_related("category", "department").filter(pk=int(pk)).first()
              if pk.isdigit() else None)
    if report is None:
        raise Open311Error(404, f"no public service request {pk}")
    return _respond(fmt, "service_requests", "request", [_absolute(request, request_row(report))])


def _post(request, fmt):
    if conf.body_too_large(request):
        raise Open311Error(413, "the request body is too large")
    data = request.POST
    # A multipart form is read here, not by the NUL guard (this view is exempt from CSRF).
    problem = input_guard.form_problem(data)
    if problem:
        raise Open311Error(400, problem)
    if data.get(HONEYPOT):
        raise Open311Error(400, "the request could not be accepted")
    ip = ratelimit.client_ip(request)
    try:
        # An address over its limit stops here; a refused request does not count against
        # it (only accepted ones do, below), but every one counts for the flood guard.
        ratelimit.check("ip", ip)
        ratelimit.hit("attempts", ip)
    except RateLimited as exc:
        error = Open311Error(429, str(exc))
        error.retry_after = exc.retry_after
        raise error from None
    category = Category.objects.filter(slug=data.get("service_code", ""), active=True).first()
    if category is None:
        raise Open311Error(400, "service_code: unknown or missing")
    errors = []
    try:
        lat, lon = float(data.get("lat", "")), float(data.get("long", ""))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError
    except ValueError:
        lat = lon = None
        errors.append("lat, long: required, as decimal degrees (WGS84)")
    point = geo.point(lon, lat) if lat is not None else None
    if point is not None and geo.inside_city(point) is False:
        errors.append("lat, long: the point is outside the city")
    description = data.get("description", "").strip()
    if not 10 <= len(description) <= 5000:
        errors.append("description: required, 10 to 5000 characters")
    email = data.get("email", "").strip()
    try:
        validate_email(email)
    except ValidationError:
        errors.append("email: a valid email address is required (for updates; never published)")
    if category.photo_required:
        errors.append("media: this service needs a photo; file it through the web form")
    raw = {q["name"]: data.get(f"attribute[{q['name']}]") for q in category.questions}
    answers, answer_errors = questions.clean_answers(category.questions, raw)
    errors += [f"attribute[{name}]: {msg}" for name, msg in answer_errors.items()]
    if errors:
        raise Open311Error(400, "; ".join(errors))
    try:
        ratelimit.hit("ip", ip)
        ratelimit.hit("email", email)
    except RateLimited as exc:
        error = Open311Error(429, str(exc))
        error.retry_after = exc.retry_after
        raise error from None
    first_line = description.splitlines()[0].strip()
    title = first_line if len(first_line) <= 120 else first_line[:117].rstrip() + "…"
    report = services.submit(category=category, geom=point, title=title,
                             description=description, answers=answers, email=email,
                             lang="pl", channel="open311")
    notice = ("published" if report.is_public else
              "received; it will be published after moderation")
    return _respond(fmt, "service_requests", "request", [
        {"service_request_id": str(report.pk), "service_notice": notice, "account_id": None}])
