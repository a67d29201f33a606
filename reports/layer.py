"""The reports layer: published reports as features of an ordinary Layer (slug `zgloszenia`).

OGC API, vector tiles, REST and downloads read layers, so they read reports from here. A feature
exists exactly while its report is public (published, not merged); its properties are built
from a fixed list of public fields, so the reporter's email, unpublished or hidden reports never
reach any of those channels. Writes go through layers.editing: history, version bump and the
layer_changed signal (tile caches, indicators) work as for any other layer.
"""

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from layers import editing
from layers.models import Feature, Layer
from reports import conf, geo
from reports.models import Report

STATUSES = [s.value for s in Report.Status]
# Labels and display types (layers/schema.py) name the fields on the map and dataset pages.
SCHEMA = {"fields": [
    {"name": "report_id", "type": "integer", "required": True, "display": "identifier",
     "label_pl": "Numer zgłoszenia", "label_en": "Report number"},
    {"name": "title", "type": "string", "required": True,
     "label_pl": "Tytuł", "label_en": "Title"},
    {"name": "description", "type": "string", "label_pl": "Opis", "label_en": "Description"},
    {"name": "category", "type": "string", "required": True,
     "label_pl": "Kategoria (kod)", "label_en": "Category (code)"},
    {"name": "category_name", "type": "string", "label_pl": "Kategoria", "label_en": "Category"},
    {"name": "status", "type": "string", "required": True, "choices": STATUSES,
     "label_pl": "Status (kod)", "label_en": "Status (code)"},
    {"name": "reported", "type": "date", "required": True,
     "label_pl": "Zgłoszono", "label_en": "Reported"},
    {"name": "year", "type": "string", "required": True, "display": "identifier",
     "label_pl": "Rok zgłoszenia", "label_en": "Year reported"},
    {"name": "updated", "type": "date", "label_pl": "Ostatnia zmiana", "label_en": "Last change"},
    {"name": "fixed", "type": "date", "label_pl": "Naprawiono", "label_en": "Fixed"},
    {"name": "days_to_fix", "type": "decimal",
     "label_pl": "Dni do naprawy", "label_en": "Days to fix"},
    {"name": "supporters", "type": "integer",
     "label_pl": "Osoby, które też to zgłosiły", "label_en": "People who reported it too"},
    {"name": "photos", "type": "integer", "label_pl": "Zdjęcia", "label_en": "Photos"},
    {"name": "department", "type": "string", "label_pl": "Wydział", "label_en": "Department"},
    {"name": "district", "type": "string", "label_pl": "Okręg", "label_en": "District"},
    {"name": "url", "type": "string", "display": "url",
     "label_pl": "Strona zgłoszenia", "label_en": "Report page"},
]}

DEFAULT_METADATA = {
    "title_pl": "Zgłoszenia mieszkańców",
    "title_en": "Citizen reports",
    "description_pl": (
        "Problemy zgłoszone przez mieszkańców na mapie (np. dziury, oświetlenie, śmieci), "
        "opublikowane po moderacji, ze statusem realizacji. Bez danych osobowych: adresy "
        "e-mail zgłaszających nie są publikowane."),
    "description_en": (
        "Problems reported by residents on the map (potholes, street lights, litter…), "
        "published after moderation, with their status. Without personal data: reporters' "
        "email addresses are never published."),
    "theme": "Governance",
    "keywords": ["zgłoszenia", "citizen reports", "Open311"],
    "update_frequency": "continual",
}


def ensure_layer(metadata: dict | None = None) -> Layer:
    """The reports layer, created on first use. Its schema and geometry type belong to this
    module and are kept current; the catalogue metadata is only set when given (the city's
    reports.yaml) or at creation, so edits in the admin survive."""
    slug = conf.get("REPORTS_LAYER")
    layer = Layer.objects.filter(slug=slug).first()
    if layer is None:
        layer = Layer(slug=slug, geometry_type=Layer.GeometryType.POINT,
                      role=Layer.Role.DATA, visibility=Layer.Visibility.PUBLIC,
                      **DEFAULT_METADATA)
    for name, value in (metadata or {}).items():
        setattr(layer, name, value)
    if layer.pk is None or layer.schema != SCHEMA or metadata or \
            layer.geometry_type != Layer.GeometryType.POINT:
        layer.schema = SCHEMA
        layer.geometry_type = Layer.GeometryType.POINT
        layer.save()
    return layer


def _local_date(value) -> str:
    # Dates as the city sees them (TIME_ZONE), like the statistics and the pages.
    return timezone.localtime(value).date().isoformat()


def properties(report: Report) -> dict:
    """The public face of a report: the only fields that leave the app."""
    district = geo.district_of(report.geom)
    days = None
    if report.fixed_at and report.status == Report.Status.FIXED:
        days = round((report.fixed_at - report.created_at).total_seconds() / 86400, 2)
    props = {
        "report_id": report.pk,
        "title": report.title,
        "description": report.description,
        "category": report.category.slug,
        "category_name": report.category.name_pl,
        "status": report.status,
        "reported": _local_date(report.created_at),
        "year": str(timezone.localtime(report.created_at).year),
        "updated": _local_date(report.updated_at),
        "fixed": _local_date(report.fixed_at) if days is not None else None,
        "days_to_fix": days,
        "supporters": report.supporters.count(),
        "photos": report.photos.count(),
        "department": report.department.name_pl if report.department else None,
        "district": district.name if district else None,
        "url": reverse("reports:detail", args=[report.pk]),
    }
    return {k: v for k, v in props.items() if v is not None}


@transaction.atomic
def sync(report: Report, user=None) -> None:
    """Make the layer show `report` as it is now: create, update or delete its feature."""
    report.refresh_from_db()
    exists = report.feature_id and Feature.objects.filter(pk=report.feature_id).exists()
    if not report.is_public:
        if exists:
            editing.delete_feature(report.feature_id, user=user, channel="reports")
        if report.feature_id:
            Report.objects.filter(pk=report.pk).update(feature_id=None)
            report.feature_id = None
        return
    layer = ensure_layer()
    props = properties(report)
    if exists:
        editing.update_feature(report.feature_id, geom=report.geom.clone(), properties=props,
                               user=user, channel="reports")
    else:
        feature = editing.create_feature(layer, report.geom.clone(), props, user=user,
                                         channel="reports")
        # Not report.save(): the caller may hold other unsaved changes of its own.
        Report.objects.filter(pk=report.pk).update(feature_id=feature.pk)
        report.feature_id = feature.pk
