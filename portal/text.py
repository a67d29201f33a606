"""Text helpers for the pages: diacritic folding for search, and labels for values that come
from the data (units, themes, update frequencies) in the visitor's language."""

import datetime
import re
import unicodedata

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext_lazy

from sdi.language import lang

# Letters NFKD does not decompose (they are letters of their own, not a letter + accent).
_FOLD_EXTRA = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D",
                             "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE"})


def fold(text: str) -> str:
    """Lower case without diacritics: "Szkoły" and "szkoly" both become "szkoly"."""
    text = unicodedata.normalize("NFKD", (text or "").translate(_FOLD_EXTRA))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()


# Units are stored in Polish in the indicator definitions; each known one gets an English
# source string here, translated back to Polish in locale/pl. Unknown units are shown as stored.
# (Standard function names only: makemessages does not see aliases or pgettext_noop.)
UNITS = {
    "szt./km²": pgettext_lazy("unit", "per km²"),
    "szt.": pgettext_lazy("unit", "count"),
    "głosy": pgettext_lazy("unit", "votes"),
    "osoby": pgettext_lazy("unit", "persons"),
    "szt./1000 mieszk.": pgettext_lazy("unit", "per 1,000 residents"),
    "%": "%",
    "km²": "km²",
}

# Units that agree with the number before them ("1 głos", "3 głosy", "5 głosów", "2,5 głosu"):
# their forms by plural category of the Unicode CLDR, the categories the browser's
# Intl.PluralRules gives the page scripts (portal/static/portal/units.js). The other units are
# abbreviations or symbols and do not change. A plain count ("3 szt.") needs no word after the
# number in English ("3", not "3 count"): its forms there are empty.
UNIT_FORMS = {
    "głosy": {"pl": {"one": "głos", "few": "głosy", "many": "głosów", "other": "głosu"},
              "en": {"one": "vote", "other": "votes"}},
    "osoby": {"pl": {"one": "osoba", "few": "osoby", "many": "osób", "other": "osoby"},
              "en": {"one": "person", "other": "persons"}},
    "szt.": {"en": {"one": "", "other": ""}},
}


def unit_forms(stored: str) -> dict[str, str] | None:
    """The unit's forms in the visitor's language; None when it does not change."""
    forms = UNIT_FORMS.get(stored, {})
    return forms.get(lang())


def plural_category(value: float, decimals: int, language: str) -> str:
    """CLDR plural category of the value as shown: rounded to `decimals` places, trailing zeros
    dropped (what the `figure` filter and the scripts' toLocaleString show)."""
    shown = round(abs(float(value)), int(decimals))
    if shown != int(shown):
        return "other"
    i = int(shown)
    if language == "pl":
        if i == 1:
            return "one"
        if i % 10 in (2, 3, 4) and i % 100 not in (12, 13, 14):
            return "few"
        return "many"
    return "one" if i == 1 else "other"


def unit_after(value, decimals: int, unit: str, forms: dict[str, str] | None) -> str:
    """The unit as it follows the value: "5 głosów" needs "głosów", not the stored "głosy";
    "" when nothing follows."""
    if not unit or value is None or value == "":
        return ""
    if not forms:
        return unit
    return forms.get(plural_category(value, decimals, lang()), forms.get("other", unit))


# ISO 37120:2018 themes (and the catalogue's "Culture"), stored in English.
THEMES = [
    gettext_noop("Economy"), gettext_noop("Education"), gettext_noop("Energy"),
    gettext_noop("Environment and climate change"), gettext_noop("Finance"),
    gettext_noop("Governance"), gettext_noop("Health"), gettext_noop("Housing"),
    gettext_noop("Population and social conditions"), gettext_noop("Recreation"),
    gettext_noop("Safety"), gettext_noop("Solid waste"), gettext_noop("Sport and culture"),
    gettext_noop("Telecommunication"), gettext_noop("Transportation"),
    gettext_noop("Urban/local agriculture and food security"), gettext_noop("Urban planning"),
    gettext_noop("Wastewater"), gettext_noop("Water"), gettext_noop("Culture"),
]

FREQUENCIES = [
    gettext_noop("continuous"), gettext_noop("continual"), gettext_noop("daily"),
    gettext_noop("weekly"), gettext_noop("monthly"), gettext_noop("quarterly"),
    gettext_noop("annual"), gettext_noop("irregular"), gettext_noop("as needed"),
    gettext_noop("not planned"),
]
# Stored values whose label says more than the word.
FREQUENCY_LABELS = {"never": gettext_noop("not updated (a one-off copy)")}

STATUSES = {"ok": gettext_noop("current"),
            "stale": gettext_noop("stale: an input layer changed since"),
            "disputed": gettext_noop("disputed: sources disagree"),
            "missing": gettext_noop("no data")}


QUALITY_CHECKS = {
    "invalid_geometry": gettext_noop("invalid geometries"),
    "empty_geometry": gettext_noop("empty geometries"),
    "geometry_type": gettext_noop("wrong geometry type"),
    "required_empty": gettext_noop("required attributes empty"),
    "outside_city": gettext_noop("features outside the city"),
    "duplicates_1m": gettext_noop("duplicates within 1 m"),
    "crs": gettext_noop("coordinate reference system problems"),
}


def quality_flag(check: str, flagged: int, data_date=None) -> str:
    """One line of a dataset's quality: what a check found."""
    if check == "freshness":
        if data_date is None:
            return _("the data are more than a year old")
        return _("the data are more than a year old (as of %(date)s)") % {
            "date": formats.date_format(data_date, "DATE_FORMAT")}
    return f"{quality_check(check)}: {flagged}"


# Why a value is missing, as the indicators app records it (IndicatorValue.note, in English,
# several joined by "; "): each known reason in the visitor's language. Unknown ones are shown
# as stored.
NOTES = {
    "no data": gettext_noop("no data"),
    "no features to take a share of": gettext_noop("no features to take a share of"),
    "no features with a numeric value": gettext_noop("no features with a numeric value"),
    "the area has no area": gettext_noop("the area has no surface area"),
    "no imported values yet": gettext_noop("no values imported yet"),
    "no population figure for this area": gettext_noop("no population figure for this area"),
    "population is 0": gettext_noop("the population is 0"),
    "area polygon is invalid: repaired with ST_MakeValid for the computation": gettext_noop(
        "the area's polygon is invalid in the source: it was repaired (ST_MakeValid) for the "
        "computation"),
}
NOTE_PATTERNS = [
    (re.compile(r"^residents: (?P<n>[^ ]+) \((?P<period>[^,]+), (?P<source>.+)\)$"),
     gettext_noop("residents: %(n)s (%(period)s, %(source)s)")),
    (re.compile(r"^input layer '(?P<layer>[^']+)' does not exist$"),
     gettext_noop("the input layer “%(layer)s” does not exist yet")),
    (re.compile(r"^input layer '(?P<layer>[^']+)' has no features$"),
     gettext_noop("the input layer “%(layer)s” has no features")),
    (re.compile(r"^raster '(?P<raster>[^']+)' not found in the raster folders"),
     gettext_noop("the raster “%(raster)s” does not exist yet")),
]


def note(stored: str) -> str:
    """A stored note about a value in the visitor's language, part by part."""
    parts = []
    for part in (p.strip() for p in (stored or "").split(";")):
        if not part:
            continue
        if part in NOTES:
            parts.append(_(NOTES[part]))
            continue
        for pattern, template in NOTE_PATTERNS:
            found = pattern.match(part)
            if found:
                parts.append(_(template) % found.groupdict())
                break
        else:
            parts.append(part)
    return "; ".join(parts)


RANK_NOTES = {
    "higher": gettext_noop("1 = the best: the highest value"),
    "lower": gettext_noop("1 = the best: the lowest value"),
    "neutral": gettext_noop("1 = the highest value (no better or worse)"),
}


def rank_note(polarity: str) -> str:
    """What rank 1 means for an indicator: the best area, or for a neutral figure (an area's
    size, its population) simply the highest value, without a verdict."""
    return _(RANK_NOTES.get(polarity, RANK_NOTES["neutral"]))


# How a layer's attribute is shown (layers.schema.DISPLAY_TYPES), for the dataset page.
DISPLAY_KINDS = {
    "text": gettext_noop("text"), "number": gettext_noop("number"),
    "identifier": gettext_noop("identifier (a code, not a quantity)"),
    "url": gettext_noop("web address"), "email": gettext_noop("email address"),
    "phone": gettext_noop("phone number"), "date": gettext_noop("date"),
    "boolean": gettext_noop("yes / no"),
}


def display_value(value, display: str) -> str:
    """A value as its field's display type says: numbers in the page's format ("23 716"),
    identifiers and text as written ("84231"), dates and yes/no in the page's language."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if display == "number" and isinstance(value, int | float):
        return formats.number_format(value, force_grouping=abs(value) >= 10000)
    if display == "date":
        try:
            return formats.date_format(datetime.date.fromisoformat(str(value)[:10]),
                                       "DATE_FORMAT")
        except ValueError:
            return str(value)
    return str(value)


def display_kind(display: str) -> str:
    return _(DISPLAY_KINDS[display]) if display in DISPLAY_KINDS else display


def quality_check(name: str) -> str:
    return _(QUALITY_CHECKS[name]) if name in QUALITY_CHECKS else name


def unit(stored: str) -> str:
    return str(UNITS[stored]) if stored in UNITS else stored


def theme(stored: str) -> str:
    return _(stored) if stored in THEMES else stored


def frequency(stored: str) -> str:
    if stored in FREQUENCY_LABELS:
        return _(FREQUENCY_LABELS[stored])
    return _(stored) if stored in FREQUENCIES else stored


def status(stored: str) -> str:
    return _(STATUSES[stored]) if stored in STATUSES else stored
