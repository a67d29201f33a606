"""Mail through the job queue: `send_mail_later(...)` returns at once; a worker sends it with
Django's mail API (whatever EMAIL_BACKEND is configured), retrying with exponential backoff when
the server is unreachable or answers with an error: JOBS_MAIL_ATTEMPTS attempts, waits of
JOBS_MAIL_RETRY_SECONDS x 1, 2, 4, ... (at most an hour). Every mail is a Job: between attempts
it is "queued" with the last error; after the last one, "failed" with it, listed for staff in
the admin (Jobs, filtered by kind `mail.send` and state). A mail cut off by a dying worker is
sent again rather than lost (it may then arrive twice, never zero times).
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from procrastinate import RetryDecision
from procrastinate.retry import BaseRetryStrategy

from jobs.service import JobCancelled, JobError, submit, task

KIND = "mail.send"
MAX_WAIT_SECONDS = 3600


class MailRetry(BaseRetryStrategy):
    def get_retry_decision(self, *, exception, job):
        if isinstance(exception, JobError | JobCancelled | ValueError):
            return None  # a malformed mail fails the same way every time
        if job.attempts + 1 >= settings.JOBS_MAIL_ATTEMPTS:
            return None
        wait = min(MAX_WAIT_SECONDS, settings.JOBS_MAIL_RETRY_SECONDS * 2 ** job.attempts)
        return RetryDecision(retry_in={"seconds": wait})


def send_mail_later(subject: str, message: str, recipient_list: list[str], *,
                    from_email: str | None = None, html_message: str | None = None,
                    reply_to: list[str] | None = None, user=None, concerns=None):
    """Queue a mail; returns its Job. Arguments as Django's send_mail. Call it inside the
    transaction that decides the mail should go: if that rolls back, no mail is sent."""
    recipients = [r for r in recipient_list if r]
    if not recipients:
        raise ValueError("a mail needs at least one recipient")
    payload = {"subject": subject, "message": message, "to": recipients,
               "from_email": from_email, "html_message": html_message,
               "reply_to": reply_to or []}
    return submit(KIND, payload, user=user, concerns=concerns,
                  label=f"{subject[:120]} ({len(recipients)} recipient(s))")


@task(KIND, retry=MailRetry(), retry_stalled=True)
def send(job, progress):
    data = job.payload
    mail = EmailMultiAlternatives(data["subject"], data["message"], data.get("from_email"),
                                  data["to"], reply_to=data.get("reply_to") or None)
    if data.get("html_message"):
        mail.attach_alternative(data["html_message"], "text/html")
    sent = mail.send(fail_silently=False)
    return {"sent": sent, "recipients": len(data["to"])}
