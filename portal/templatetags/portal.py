"""Template filters of the resident pages."""

import json

from django import template
from django.utils.formats import number_format
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from portal import text

register = template.Library()


@register.filter
def figure(value, decimals=2):
    """A figure for residents: localized, at most `decimals` places, "no data" (never 0 or an
    empty cell) when there is none."""
    if value is None or value == "":
        return _("no data")
    rounded = round(float(value), int(decimals))
    if rounded == int(rounded):
        rounded = int(rounded)
    return number_format(rounded, force_grouping=abs(rounded) >= 10000)


@register.simple_tag
def unit_after(value, decimals, unit, forms=None):
    """" <unit>" after a figure, in the form that agrees with it ("5 głosów"); "" without a
    unit or a value."""
    shown = text.unit_after(value, decimals, unit, forms)
    return f" {shown}" if shown else ""


@register.filter
def index(sequence, i):
    return sequence[int(i)]


_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.filter
def ld_json(value):
    """JSON-LD inside <script type="application/ld+json">, escaped like json_script so that
    no text in the data can close the script element."""
    return mark_safe(json.dumps(value, ensure_ascii=False).translate(_SCRIPT_ESCAPES))  # noqa: S308
