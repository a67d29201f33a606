"""Update emails to reporters, supporters and departments.

One message per recipient, so no one sees another's address. Sending never fails a request:
the change is committed already and the page must say so; a mail server that is down is logged.
"""

import logging

from django.conf import settings
from django.core.mail import get_connection, send_mass_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from reports import conf, follow
from reports.models import Report

log = logging.getLogger(__name__)


def _link(report: Report) -> str:
    # A mail outlives the request that sent it: the site's public address, not that request's.
    return f"{settings.PUBLIC_BASE_URL}{reverse('reports:detail', args=[report.pk])}"


def _send(report_id: int, template: str, recipients: str, **extra) -> None:
    report = (Report.objects.select_related("category", "department", "merged_into")
              .filter(pk=report_id).first())
    if report is None:
        return
    addresses = []
    if recipients in ("reporter", "followers"):
        addresses.append(report.email)
    if recipients == "followers":
        addresses += [e for e in report.supporters.exclude(email="")
                      .values_list("email", flat=True)]
    if recipients == "department" and report.department and report.department.email:
        addresses.append(report.department.email)
    addresses = list(dict.fromkeys(a for a in addresses if a))
    if not addresses:
        return
    last = report.events.filter(public=True).order_by("-at", "-id").first()
    with translation.override(report.lang or settings.LANGUAGE_CODE):
        context = {"report": report, "link": _link(report), "event": last, **extra}
        if recipients == "reporter":
            # The private link goes to the reporter alone, never to supporters.
            context["follow_link"] = f"{settings.PUBLIC_BASE_URL}{follow.path(report.pk)}"
        subject = " ".join(render_to_string(f"reports/email/{template}_subject.txt",
                                            context).split())
        body = render_to_string(f"reports/email/{template}.txt", context)
    sender = conf.get("REPORTS_FROM_EMAIL") or settings.DEFAULT_FROM_EMAIL
    messages = [(subject, body, sender, [address]) for address in addresses]
    try:
        send_mass_mail(messages, fail_silently=False, connection=get_connection())
    except OSError:
        log.exception("could not send %s emails for report %s", template, report_id)


def submitted(report_id: int) -> None:
    _send(report_id, "submitted", "reporter")


def published(report_id: int) -> None:
    _send(report_id, "published", "reporter")


def updated(report_id: int) -> None:
    _send(report_id, "updated", "followers")


def assigned(report_id: int) -> None:
    _send(report_id, "assigned", "department")


def merged(report_id: int) -> None:
    _send(report_id, "merged", "reporter")
