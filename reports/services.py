"""Every change of a report goes through here: one transaction per change, one ReportEvent, the
reports layer brought in sync, and update emails sent once the change is committed.

Views (web form, moderation pages, Open311) stay thin: they validate input, then call one of
these functions.
"""

import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from reports import layer, notify, photos
from reports.models import Category, Department, Photo, Report, ReportEvent, Supporter

Kind = ReportEvent.Kind


class ActionError(ValueError):
    """A moderation action that cannot be done (the message says why)."""


def _event(report, kind, user=None, *, public=True, status="", text="", data=None):
    return ReportEvent.objects.create(report=report, kind=kind, public=public, status=status,
                                      text=text, data=data or {},
                                      user=user if user and user.is_authenticated else None)


def _after_commit(func, *args):
    transaction.on_commit(lambda: func(*args))


def submit(*, category: Category, geom, title: str, description: str, answers: dict,
           email: str, processed_photos: list[photos.ProcessedPhoto] = (), lang: str = "pl",
           channel: str = "web") -> Report:
    stored: list[str] = []
    try:
        with transaction.atomic():
            return _submit(category, geom, title, description, answers, email,
                           processed_photos, lang, channel, stored)
    except BaseException:
        # Django has no rollback hook: files written for a report that was not saved go here.
        for name in stored:
            default_storage.delete(name)
        raise


def _submit(category, geom, title, description, answers, email, processed_photos, lang,
            channel, stored) -> Report:
    now = timezone.now()
    trusted = category.trusted
    report = Report.objects.create(
        category=category, geom=geom, title=title, description=description, answers=answers,
        email=email, lang=lang, channel=channel, department=category.department,
        state=Report.State.PUBLISHED if trusted else Report.State.PENDING,
        published_at=now if trusted else None)
    for order, photo in enumerate(processed_photos):
        record = Photo(report=report, width=photo.width, height=photo.height,
                       has_location=photo.has_location, order=order)
        record.file.save(f"{record.key}.jpg", ContentFile(photo.data), save=False)
        stored.append(record.file.name)
        record.save()
    _event(report, Kind.SUBMITTED, data={"channel": channel, "trusted": trusted})
    if report.department:
        _event(report, Kind.ASSIGNED, text=report.department.name_pl,
               data={"department": report.department.pk, "automatic": True})
    layer.sync(report)
    _after_commit(notify.submitted, report.pk)
    return report


@transaction.atomic
def support(report: Report, email: str = "") -> Supporter:
    report = Report.objects.select_for_update().get(pk=report.pk)
    if not report.is_public or not report.is_open:
        raise ActionError("only open, published reports can be supported")
    supporter = Supporter.objects.create(report=report, email=email)
    _event(report, Kind.ME_TOO)
    layer.sync(report)
    return supporter


def _locked(report: Report) -> Report:
    return Report.objects.select_for_update().select_related("category").get(pk=report.pk)


@transaction.atomic
def publish(report: Report, user) -> Report:
    report = _locked(report)
    if report.state == Report.State.PUBLISHED:
        raise ActionError("the report is already published")
    if report.merged_into_id:
        raise ActionError("a merged report cannot be published; it shows as part of "
                          f"report #{report.merged_into_id}")
    report.state = Report.State.PUBLISHED
    report.published_at = report.published_at or timezone.now()
    report.save()
    _event(report, Kind.PUBLISHED, user)
    layer.sync(report, user)
    _after_commit(notify.published, report.pk)
    return report


@transaction.atomic
def hide(report: Report, user, reason: str = "") -> Report:
    report = _locked(report)
    if report.state == Report.State.HIDDEN:
        raise ActionError("the report is already hidden")
    report.state = Report.State.HIDDEN
    report.save()
    _event(report, Kind.HIDDEN, user, public=False, text=reason)
    layer.sync(report, user)
    return report


@transaction.atomic
def edit(report: Report, user, *, title: str, description: str,
         answers: dict | None = None) -> Report:
    report = _locked(report)
    before = {"title": report.title, "description": report.description,
              "answers": report.answers}
    after = {"title": title, "description": description,
             "answers": report.answers if answers is None else answers}
    if before == after:
        raise ActionError("nothing changed")
    report.title, report.description, report.answers = title, description, after["answers"]
    report.save()
    # The old text stays for moderators (data); the public history only says it was edited.
    _event(report, Kind.EDITED, user, data={"before": before, "after": after})
    layer.sync(report, user)
    return report


@transaction.atomic
def set_status(report: Report, user, status: str, reason: str = "") -> Report:
    report = _locked(report)
    if status not in Report.Status.values:
        raise ActionError(f"unknown status {status!r}")
    if status == report.status:
        raise ActionError("the report already has this status")
    if status == Report.Status.REJECTED and not reason.strip():
        raise ActionError("a rejection needs a reason")
    report.status = status
    report.status_reason = reason.strip()
    report.fixed_at = timezone.now() if status == Report.Status.FIXED else None
    report.save()
    _event(report, Kind.STATUS, user, status=status, text=report.status_reason)
    layer.sync(report, user)
    _after_commit(notify.updated, report.pk)
    return report


@transaction.atomic
def reply(report: Report, user, text: str) -> ReportEvent:
    report = _locked(report)
    if not text.strip():
        raise ActionError("the reply is empty")
    event = _event(report, Kind.REPLY, user, text=text.strip())
    report.save(update_fields=["updated_at"])
    layer.sync(report, user)
    _after_commit(notify.updated, report.pk)
    return event


@transaction.atomic
def assign(report: Report, user, department: Department | None) -> Report:
    report = _locked(report)
    if report.department_id == (department.pk if department else None):
        raise ActionError("the report is already assigned there")
    report.department = department
    report.save()
    _event(report, Kind.ASSIGNED, user, text=department.name_pl if department else "",
           data={"department": department.pk if department else None})
    layer.sync(report, user)
    if department:
        _after_commit(notify.assigned, report.pk)
    return report


@transaction.atomic
def merge(report: Report, into: Report, user) -> Report:
    """Fold the duplicate `report` into `into`: its reporter and supporters follow `into`
    (and get its updates), its page redirects there, it leaves the public layer."""
    report, into = _locked(report), _locked(into)
    if report.pk == into.pk:
        raise ActionError("a report cannot be merged into itself")
    if report.merged_into_id:
        raise ActionError(f"the report is already merged into #{report.merged_into_id}")
    if into.merged_into_id:
        raise ActionError(f"report #{into.pk} is itself merged into #{into.merged_into_id}")
    report.merged_into = into
    report.save()
    Supporter.objects.filter(report=report).update(report=into)
    Supporter.objects.create(report=into, email=report.email)
    Report.objects.filter(merged_into=report).update(merged_into=into)
    _event(report, Kind.MERGED, user, public=False, data={"into": into.pk})
    _event(into, Kind.MERGED_FROM, user, data={"from": report.pk})
    layer.sync(report, user)
    layer.sync(into, user)
    _after_commit(notify.merged, report.pk)
    return report


@transaction.atomic
def redact(photo: Photo, user, box: tuple[int, int, int, int]) -> Photo:
    photo = Photo.objects.select_for_update().get(pk=photo.pk)
    with photo.file.open("rb") as f:
        data = photos.redact(f.read(), box)
    old_name = photo.file.name
    photo.key = uuid.uuid4()
    photo.file.save(f"{photo.key}.jpg", ContentFile(data), save=False)
    photo.save()
    _event(photo.report, Kind.REDACTED, user, public=False,
           data={"photo": photo.order + 1, "box": list(box)})
    # The unredacted file goes only once the new one is committed in place.
    transaction.on_commit(lambda: default_storage.delete(old_name))
    return photo


@transaction.atomic
def remove_photo(photo: Photo, user) -> None:
    photo = Photo.objects.select_for_update().get(pk=photo.pk)
    name, report = photo.file.name, photo.report
    _event(report, Kind.PHOTO_REMOVED, user, public=False, data={"photo": photo.order + 1})
    photo.delete()
    layer.sync(report, user)
    transaction.on_commit(lambda: default_storage.delete(name))
