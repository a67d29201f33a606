"""Twin figures: one indicator, area and period with values from two or more sources.

If the largest and smallest differ by more than the indicator's tolerance
(max(tolerance, tolerance_relative % of the larger magnitude)), a Discrepancy is recorded and
the values involved get the status "disputed". Nothing is averaged away: every source's value
stays, side by side, and staff must write why they differ before the discrepancy counts as
reviewed. If the sources later agree, the record is kept as "resolved"; if the figures change
after a review, it is reopened (the old explanation stays for the reviewer to confirm or edit).
"""

from collections import defaultdict

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from indicators.models import Discrepancy, Indicator, IndicatorValue

Status = IndicatorValue.Status
D = Discrepancy.Status


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        abs(a[k] - b[k]) <= 1e-9 * max(1.0, abs(a[k]), abs(b[k])) for k in a)


@transaction.atomic
def detect(indicator: Indicator) -> list[Discrepancy]:
    """Re-examine every (area, period) of the indicator; returns the unresolved discrepancies."""
    groups: dict[tuple[int, str], dict[str, float]] = defaultdict(dict)
    for area_id, period, source, value in (IndicatorValue.objects
                                           .filter(indicator=indicator, value__isnull=False)
                                           .values_list("area_id", "period", "source", "value")):
        groups[(area_id, period)][source] = value
    existing = {(d.area_id, d.period): d
                for d in Discrepancy.objects.filter(indicator=indicator)}
    now = timezone.now()
    open_keys = []
    for key, by_source in groups.items():
        record = existing.pop(key, None)
        low, high = min(by_source.values()), max(by_source.values())
        allowed = indicator.allowed_difference(low, high)
        if len(by_source) >= 2 and high - low > allowed:
            open_keys.append(key)
            if record is None:
                record = Discrepancy(indicator=indicator, area_id=key[0], period=key[1])
            elif not _same(record.values, by_source) and record.status != D.OPEN:
                record.status, record.reviewed_at, record.reviewed_by = D.OPEN, None, None
            elif record.status == D.RESOLVED:
                record.status = D.OPEN
            record.values, record.spread, record.allowed = by_source, high - low, allowed
            record.updated_at = now
            record.save()
        elif record is not None and record.status != D.RESOLVED:
            record.status = D.RESOLVED
            record.save(update_fields=["status", "updated_at"])
    for record in existing.values():  # no values any more for that area and period
        if record.status != D.RESOLVED:
            record.status = D.RESOLVED
            record.save(update_fields=["status", "updated_at"])
    _set_value_statuses(indicator, open_keys)
    return list(Discrepancy.objects.filter(indicator=indicator).exclude(status=D.RESOLVED))


def _set_value_statuses(indicator: Indicator, disputed: list[tuple[int, str]]) -> None:
    values = IndicatorValue.objects.filter(indicator=indicator)
    # Missing and stale take precedence over disputed (see IndicatorValue.status).
    values.filter(status=Status.DISPUTED).update(status=Status.OK)
    for area_id, period in disputed:
        values.filter(area_id=area_id, period=period, status=Status.OK).update(
            status=Status.DISPUTED)


def review(discrepancy: Discrepancy, explanation: str, user) -> Discrepancy:
    """Record staff's explanation and mark the discrepancy reviewed; an empty explanation is
    refused (ValidationError)."""
    explanation = (explanation or "").strip()
    if not explanation:
        raise ValidationError({"explanation": "Write why the sources differ before marking "
                                              "the discrepancy reviewed."})
    if discrepancy.status == D.RESOLVED:
        raise ValidationError({"status": "The sources agree again; there is nothing to review."})
    discrepancy.explanation = explanation
    discrepancy.status = D.REVIEWED
    discrepancy.reviewed_by = user if user and user.is_authenticated else None
    discrepancy.reviewed_at = timezone.now()
    discrepancy.save()
    return discrepancy
