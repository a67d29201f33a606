"""Who may see an indicator: exactly those who may read every layer it is computed from.

An indicator's values, legend, tiles, discrepancies, gap-matrix row, CSVs and its place on the
pages say what its input layers hold (a count of a staff-only layer's features per district is
that layer's data, and its `method` names the layer and a filter value). So every indicator
channel asks this module, which asks `layers.permissions`: an indicator is readable by a user
who may read its input layer and, for per-resident methods, everything its population
indicator is computed from. Its values over an areas layer are further limited to the areas
layers the user may read (`area_layers`).
"""

from collections.abc import Iterable

from django.db.models import QuerySet

from indicators import methods
from indicators.models import Indicator
from layers import permissions
from layers.models import Layer


def _direct_inputs(indicator: Indicator) -> tuple[set[str], str | None]:
    method = indicator.method or {}
    return set(methods.input_layers(method)), method.get("population") or None


def input_slugs(indicator: Indicator, known: dict[str, Indicator] | None = None) -> set[str]:
    """Every layer the indicator's values derive from, through its population indicator too."""
    slugs, seen, current = set(), {indicator.code}, indicator
    while current is not None:
        direct, population = _direct_inputs(current)
        slugs |= direct
        if population is None or population in seen:
            break
        seen.add(population)
        current = (known.get(population) if known is not None
                   else Indicator.objects.filter(code=population).first())
    return slugs


def can_view(user, indicator: Indicator) -> bool:
    return permissions.can_view_all(user, input_slugs(indicator))


def hidden_ids(user=None, *, staff: bool | None = None) -> frozenset[int]:
    """Ids of the indicators hidden from `user` (or from an audience: staff or everyone else,
    for channels that keep one answer per audience, like the OGC API)."""
    unreadable = (permissions.unreadable_slugs_for_audience(staff=staff) if staff is not None
                  else permissions.unreadable_slugs(user))
    if not unreadable:
        return frozenset()
    everything = list(Indicator.objects.only("id", "code", "method"))
    known = {i.code: i for i in everything}
    return frozenset(i.id for i in everything if input_slugs(i, known) & unreadable)


def visible(user, queryset: QuerySet | None = None) -> QuerySet:
    """The indicators `user` may see (of `queryset`, default all)."""
    qs = queryset if queryset is not None else Indicator.objects.all()
    hidden = hidden_ids(user)
    return qs.exclude(id__in=hidden) if hidden else qs


def restricted(indicator: Indicator, areas: Iterable[Layer] = ()) -> bool:
    """Whether what is shown of the indicator (over `areas`) is not for everyone, so an answer
    must not be kept by shared caches."""
    return (not permissions.can_view_all(None, input_slugs(indicator))
            or any(la.visibility != Layer.Visibility.PUBLIC for la in areas))


def area_layers(user, indicator: Indicator) -> list[Layer]:
    """The indicator's areas layers `user` may read, in id order."""
    return [la for la in sorted(indicator.area_layers.all(), key=lambda la: la.id)
            if permissions.can_view(user, la)]
