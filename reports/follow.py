"""The reporter's private link to a report (/reports/follow/<token>/): status and history while
the report waits for moderation, when it is hidden and after it is published.

The token is the report's number signed with the site's secret key (HMAC-SHA256, Django's
signing): it cannot be guessed or made for another report, needs no stored secret, and is given
only to the reporter (the thank-you page and the confirmation email). It never expires; a
rotated SECRET_KEY keeps old links working while the old key is in SECRET_KEY_FALLBACKS.
"""

from django.core import signing
from django.urls import reverse

SALT = "reports.follow"


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT, sep=".", algorithm="sha256")


def token(report_id: int) -> str:
    return _signer().sign(str(report_id))


def report_id(token_text: str) -> int | None:
    """The report number a token was made for; None for anything else."""
    try:
        value = _signer().unsign(token_text)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None


def path(report_id: int) -> str:
    return reverse("reports:follow", args=[token(report_id)])
