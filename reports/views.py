"""Resident pages (list and map, form, report page, "me too") and the moderation pages.

Only `Report.public()` reaches anonymous visitors; the reporter's email is rendered on the
moderation page alone.
"""

import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reports import conf, forms, geo, photos, questions, ratelimit, services, stats
from reports import follow as follow_links
from reports.models import Category, Photo, Report, ReportEvent
from reports.ratelimit import RateLimited
from sdi.language import lang, shared_page

MAP_LIMIT = 5000


def can_moderate(user) -> bool:
    return user.is_active and user.is_staff and user.has_perm("reports.moderate_report")


def _map_config(extra: dict | None = None) -> dict:
    from layers.city import read_config  # the city's map centre; read at request time

    try:
        city = read_config("kielce")[0]["city"]
        center, zoom = city["center"], city["zoom"]
    except (FileNotFoundError, KeyError):
        center, zoom = list(settings.LEAFLET_CONFIG["DEFAULT_CENTER"]), 12
    return {"basemap": {"url": settings.BASEMAP_URL,
                        "attribution": settings.BASEMAP_ATTRIBUTION},
            "center": center, "zoom": zoom, **(extra or {})}


def _wait_message(exc: RateLimited) -> str:
    minutes = max(1, math.ceil(exc.retry_after / 60))
    return ngettext("Too many reports from you in a short time. Please try again in "
                    "%(minutes)d minute.",
                    "Too many reports from you in a short time. Please try again in "
                    "%(minutes)d minutes.", minutes) % {"minutes": minutes}


def _too_many(request, exc: RateLimited, template: str = "reports/error.html"):
    response = render(request, template, {"message": _wait_message(exc)}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


def _honeypot(request):
    return render(request, "reports/error.html", {
        "message": _("The form could not be accepted.")}, status=400)


# --- public -------------------------------------------------------------------------------

@require_GET
@shared_page  # the same for every anonymous visitor: cacheable (sdi/language.py)
def index(request):
    filters = forms.FilterForm(request.GET or None)
    reports = Report.public().select_related("category")
    status = 200
    if filters.is_bound:
        if filters.is_valid():
            reports = filters.apply(reports)
        else:
            reports, status = reports.none(), 400
    reports = reports.annotate(n_supporters=Count("supporters")).order_by("-created_at", "-id")
    page = Paginator(reports, 25).get_page(
        request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    config = _map_config({"geojson": reverse("reports:map-geojson") + "?" + query.urlencode(),
                          "strings": {"open": _("Open the report")}})
    return render(request, "reports/index.html", {
        "filters": filters, "page": page, "query": query.urlencode(), "config": config},
        status=status)


@require_GET
def map_geojson(request):
    filters = forms.FilterForm(request.GET or None)
    reports = Report.public().select_related("category")
    if filters.is_bound:
        if not filters.is_valid():
            return JsonResponse({"errors": filters.errors.get_json_data()}, status=400)
        reports = filters.apply(reports)
    features = [{
        "type": "Feature", "id": r.pk,
        "geometry": {"type": "Point", "coordinates": [round(r.geom.x, 6), round(r.geom.y, 6)]},
        "properties": {"title": r.title, "status": r.status,
                       "status_label": r.get_status_display(), "category": r.category.name,
                       "url": reverse("reports:detail", args=[r.pk])},
    } for r in reports[:MAP_LIMIT]]
    return JsonResponse({"type": "FeatureCollection", "features": features})


def _categories_config() -> list[dict]:
    return [{"slug": c.slug, "photoRequired": c.photo_required, "radius": c.duplicate_radius_m,
             "description": c.description}
            for c in Category.objects.filter(active=True)]


@require_http_methods(["GET", "POST"])
def new(request):
    if request.method != "POST":
        # ?lat=&lon= (the map's "report a problem here"): the place is chosen already.
        return _form_page(request, forms.ReportForm(initial=_place_from(request.GET)), 200)
    if conf.body_too_large(request):
        # Refused before Django reads the body: no temporary file, no parsing.
        return render(request, "reports/error.html", {
            "message": _("The photos are too large together: at most %(n)d photos of "
                         "%(mb)d MB each.") % {
                "n": conf.get("REPORTS_MAX_PHOTOS"),
                "mb": conf.get("REPORTS_MAX_PHOTO_BYTES") // (1024 * 1024)}}, status=413)
    if request.POST.get(forms.HONEYPOT):
        return _honeypot(request)
    ip = ratelimit.client_ip(request)
    try:
        # Over the limit already: refused before the photos are processed. A form refused
        # for its content does not count against the limit (only accepted reports do, below);
        # every form counts for the flood guard.
        ratelimit.check("ip", ip)
        ratelimit.hit("attempts", ip)
    except RateLimited as exc:
        # Not validated (that is the work being saved): the text comes back as it was sent.
        return _form_page(request, forms.ReportForm(initial=request.POST.dict()), 429,
                          limited=exc)
    form = forms.ReportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _form_page(request, form, 200 if form.duplicates else 400)
    data = form.cleaned_data
    try:
        ratelimit.hit("ip", ip)
        ratelimit.hit("email", data["email"])
    except RateLimited as exc:
        return _form_page(request, form, 429, limited=exc)
    report = services.submit(
        category=data["category"], geom=data["geom"], title=data["title"],
        description=data["description"], answers=data["answers"], email=data["email"],
        processed_photos=data["processed_photos"], lang=lang())
    request.session["reports_submitted"] = report.pk
    return redirect("reports:thanks")


def _place_from(query) -> dict:
    try:
        lat, lon = float(query.get("lat", "")), float(query.get("lon", ""))
    except ValueError:
        return {}
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return {}
    return {"lat": round(lat, 6), "lon": round(lon, 6)}


def _form_page(request, form, status: int, limited: RateLimited | None = None):
    """The report form; after a failed send with the resident's text kept, a summary of every
    problem at the top (linked to the fields) and each problem next to its field."""
    sent = request.POST if request.method == "POST" else {}
    categories = list(Category.objects.filter(active=True))
    fieldsets = [(c, [(forms.answer_field_name(c, q), q, questions.label(q),
                       [(str(ch["key"]), questions.label(ch)) for ch in q.get("choices", [])],
                       sent.get(forms.answer_field_name(c, q), ""),
                       [m for n, _label, m in getattr(form, "question_errors", [])
                        if n == forms.answer_field_name(c, q)])
                      for q in c.questions]) for c in categories]
    summary = []
    if limited is not None:
        summary = [{"target": None, "label": "", "message": _wait_message(limited)}]
    elif form.is_bound:
        summary = form.error_summary()
    place = (forms.PLACE_MISSING, forms.OUTSIDE_CITY)
    place_errors = [m for m in form.errors.get("lat", []) if m in map(str, place)] \
        if form.is_bound and limited is None else []
    coordinate_errors = {name: [m for m in form.errors.get(name, []) if m not in place_errors]
                         for name in ("lat", "lon")} if form.is_bound and limited is None \
        else {"lat": [], "lon": []}
    config = _map_config({
        "categories": _categories_config(),
        "nearbyUrl": reverse("reports:nearby"),
        "maxPhotos": conf.get("REPORTS_MAX_PHOTOS"),
        "strings": {
            "located": _("Location found."),
            "noGeolocation": _("Your browser cannot share its location; tap the map instead."),
            "geolocationDenied": _("Location unavailable; tap the map instead."),
            "similar": _("Similar open reports nearby"),
            "noSimilar": _("No similar open reports nearby."),
            "meToo": _("Me too"),
            "tooManyPhotos": _("At most %(n)d photos.") % {
                "n": conf.get("REPORTS_MAX_PHOTOS")},
            "pointChosen": _("Place chosen: %(lat)s, %(lon)s"),
            "sending": _("Sending…"),
            "sendFailed": _("The report could not be sent: the connection failed. Your text "
                            "and photos are still here; please try again."),
        },
    })
    response = render(request, "reports/new.html", {
        "form": form, "fieldsets": fieldsets, "config": config, "summary": summary,
        "limited": limited is not None, "place_errors": place_errors,
        "coordinate_errors": coordinate_errors,
        # The browser forgets chosen files when the page is sent back: say so (the page's
        # script, which sends the form without leaving the page, keeps them and drops this).
        "photos_again": bool(request.FILES.getlist("photos")) if request.method == "POST"
        else False,
        "max_photos": conf.get("REPORTS_MAX_PHOTOS"),
        "duplicates": form.duplicates if form.is_bound and limited is None else []},
        status=status)
    if limited is not None:
        response["Retry-After"] = str(limited.retry_after)
    return response


@require_GET
def thanks(request):
    pk = request.session.get("reports_submitted")
    report = Report.objects.filter(pk=pk).select_related("category").first() if pk else None
    if report is None:
        return redirect("reports:index")
    response = render(request, "reports/thanks.html", {
        "report": report, "follow_url": request.build_absolute_uri(follow_links.path(report.pk))})
    _private(response)
    return response


def _private(response) -> None:
    """A page only its holder may see: never cached by others, never indexed, and its address
    (which holds the token) not sent on as a Referer when a link on it is followed."""
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"


@require_GET
def follow(request, token: str):
    """The reporter's private view of a report, whatever its moderation state."""
    pk = follow_links.report_id(token)
    report = (Report.objects.select_related("category", "department", "merged_into")
              .filter(pk=pk).first() if pk else None)
    if report is None:
        raise Http404
    response = render(request, "reports/follow.html", {
        "report": report, "events": report.events.filter(public=True),
        "photo_count": report.photos.count(),
        "answers": questions.displayed(report.category.questions, report.answers),
        "merged_into_public": report.merged_into is not None and report.merged_into.is_public})
    _private(response)
    return response


@require_GET
def nearby(request):
    """Open public reports of a category near a point: the duplicate suggestions."""
    category = Category.objects.filter(slug=request.GET.get("category", ""), active=True).first()
    if category is None:
        return JsonResponse({"error": "unknown category"}, status=400)
    try:
        lat, lon = float(request.GET["lat"]), float(request.GET["lon"])
    except (KeyError, ValueError):
        return JsonResponse({"error": "lat and lon must be numbers"}, status=400)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return JsonResponse({"error": "lat or lon out of range"}, status=400)
    found = geo.duplicates(category, geo.point(lon, lat))
    return JsonResponse({"radius": category.duplicate_radius_m, "reports": [
        {"id": r.pk, "title": r.title, "status": r.status, "status_label": r.get_status_display(),
         "distance_m": round(r.distance.m), "supporters": r.supporters.count(),
         "reported": r.created_at.date().isoformat(),
         "url": reverse("reports:detail", args=[r.pk]),
         "support_url": reverse("reports:support", args=[r.pk])} for r in found]})


def _visible_report(request, pk: int) -> Report:
    report = get_object_or_404(Report.objects.select_related("category", "department"), pk=pk)
    if not report.is_public and not can_moderate(request.user):
        if report.merged_into_id and report.state == Report.State.PUBLISHED:
            return report  # the caller redirects to the report it was merged into
        raise Http404
    return report


@require_GET
def detail(request, pk: int):
    report = _visible_report(request, pk)
    if report.merged_into_id and not can_moderate(request.user):
        return redirect("reports:detail", pk=report.merged_into_id)
    events = report.events.filter(public=True).select_related(None)
    config = _map_config({"point": [report.geom.y, report.geom.x]})
    return render(request, "reports/detail.html", {
        "report": report, "events": events, "photos": report.photos.all(),
        "answers": questions.displayed(report.category.questions, report.answers),
        "supporters": report.supporters.count(), "support_form": forms.SupportForm(),
        "config": config,
        "moderator": can_moderate(request.user)})


@require_POST
def support(request, pk: int):
    report = get_object_or_404(Report, pk=pk)
    if not report.is_public:
        raise Http404
    if conf.body_too_large(request, conf.get("REPORTS_MAX_FORM_BYTES")):
        return render(request, "reports/error.html", {
            "message": _("The form could not be accepted.")}, status=413)
    if request.POST.get(forms.HONEYPOT):
        return _honeypot(request)
    form = forms.SupportForm(request.POST)
    if not form.is_valid():
        return render(request, "reports/error.html", {
            "message": " ".join(e for errs in form.errors.values() for e in errs)}, status=400)
    try:
        ratelimit.hit("ip", ratelimit.client_ip(request))
        if form.cleaned_data["email"]:
            ratelimit.hit("email", form.cleaned_data["email"])
    except RateLimited as exc:
        return _too_many(request, exc)
    try:
        services.support(report, form.cleaned_data["email"])
    except services.ActionError:
        return render(request, "reports/error.html", {
            "message": _("This report is closed; it cannot be supported any more.")},
            status=409)
    messages.success(request, _("Thank you: your “me too” was added."))
    return redirect("reports:detail", pk=report.pk)


@require_GET
def photo(request, key):
    item = get_object_or_404(Photo.objects.select_related("report"), key=key)
    if not item.report.is_public and not can_moderate(request.user):
        raise Http404
    try:
        handle = item.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type="image/jpeg")
    # Moderators see unpublished photos: their responses must not be cached for others.
    response["Cache-Control"] = "public, max-age=300" if item.report.is_public else "private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def stats_json(request):
    areas = request.GET.get("areas") or None
    try:
        data = {"density": stats.reports_per_km2(areas, request.GET.get("category") or None),
                "median_days_to_fix": stats.median_days_to_fix(
                    areas, request.GET.get("category") or None)}
    except stats.StatsError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(data)


# --- moderation ---------------------------------------------------------------------------

def _moderator(request):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not can_moderate(request.user):
        raise PermissionDenied
    return None


@require_GET
def moderate_list(request):
    if (denied := _moderator(request)) is not None:
        return denied
    state = request.GET.get("state", Report.State.PENDING)
    if state not in (*Report.State.values, "all"):
        return HttpResponse("unknown state", status=400, content_type="text/plain")
    reports = Report.objects.select_related("category", "department")
    if state != "all":
        reports = reports.filter(state=state)
    page = Paginator(reports, 50).get_page(request.GET.get("page"))
    return render(request, "reports/moderate_list.html", {
        "page": page, "state": state, "states": Report.State.choices})


ACTIONS = {
    "publish": None, "hide": forms.HideForm, "edit": forms.ModerationEditForm,
    "status": forms.StatusForm, "reply": forms.ReplyForm, "assign": forms.AssignForm,
    "merge": forms.MergeForm, "redact": forms.RedactForm, "remove_photo": forms.RedactForm,
}


def _act(report, user, action, data):
    if action == "publish":
        services.publish(report, user)
    elif action == "hide":
        services.hide(report, user, data["reason"])
    elif action == "edit":
        services.edit(report, user, title=data["title"], description=data["description"])
    elif action == "status":
        services.set_status(report, user, data["status"], data["reason"])
    elif action == "reply":
        services.reply(report, user, data["text"])
    elif action == "assign":
        services.assign(report, user, data["department"])
    elif action == "merge":
        services.merge(report, data["into"], user)
    elif action in ("redact", "remove_photo"):
        item = report.photos.filter(pk=data["photo"]).first()
        if item is None:
            raise services.ActionError("no such photo in this report")
        if action == "redact":
            services.redact(item, user, (data["x"], data["y"], data["width"], data["height"]))
        else:
            services.remove_photo(item, user)


@require_http_methods(["GET", "POST"])
def moderate_detail(request, pk: int):
    if (denied := _moderator(request)) is not None:
        return denied
    report = get_object_or_404(Report.objects.select_related("category", "department",
                                                             "merged_into"), pk=pk)
    status, errors = 200, []
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in ACTIONS:
            errors, status = [_("Unknown action.")], 400
        else:
            form_class = ACTIONS[action]
            form = form_class(request.POST) if form_class else None
            if action == "remove_photo":
                form = forms.RedactForm({**request.POST.dict(), "x": 0, "y": 0, "width": 1,
                                         "height": 1})
            if form is not None and not form.is_valid():
                errors = [f"{k}: {e}" for k, v in form.errors.items() for e in v]
                status = 400
            else:
                try:
                    _act(report, request.user, action, form.cleaned_data if form else {})
                except services.ActionError as exc:
                    errors, status = [str(exc)], 409
                except photos.PhotoError as exc:
                    errors, status = [forms.photo_message(exc, "")], 400
                else:
                    messages.success(request, _("Saved."))
                    return redirect("reports:moderate-detail", pk=report.pk)
        report.refresh_from_db()
    events = report.events.select_related("user")
    return render(request, "reports/moderate_detail.html", {
        "report": report, "events": events, "photos": report.photos.all(), "errors": errors,
        "answers": questions.displayed(report.category.questions, report.answers),
        "supporters": report.supporters.count(),
        "duplicates": [d for d in geo.duplicates(report.category, report.geom)
                       if d.pk != report.pk],
        "edit_form": forms.ModerationEditForm(initial={"title": report.title,
                                                       "description": report.description}),
        "status_form": forms.StatusForm(initial={"status": report.status}),
        "reply_form": forms.ReplyForm(), "assign_form": forms.AssignForm(
            initial={"department": report.department_id}),
        "hide_form": forms.HideForm(), "merge_form": forms.MergeForm(),
        "config": _map_config({"point": [report.geom.y, report.geom.x]}),
        "Kind": ReportEvent.Kind}, status=status)
