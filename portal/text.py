"""Text helpers for the pages: diacritic folding for search, and labels for values that come
from the data (units, themes, update frequencies) in the visitor's language."""

import unicodedata

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext_lazy

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


def quality_check(name: str) -> str:
    return _(QUALITY_CHECKS[name]) if name in QUALITY_CHECKS else name


def unit(stored: str) -> str:
    return str(UNITS[stored]) if stored in UNITS else stored


def theme(stored: str) -> str:
    return _(stored) if stored in THEMES else stored


def frequency(stored: str) -> str:
    return _(stored) if stored in FREQUENCIES else stored


def status(stored: str) -> str:
    return _(STATUSES[stored]) if stored in STATUSES else stored
