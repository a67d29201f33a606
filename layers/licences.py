"""The licences of a city's data, named in Polish and English and linked to their texts.

Layers and indicators store a licence as a text (`Layer.licence`, `Indicator.licence`), the one
their source states; `fixtures/<city>/licences.yaml` gives each such text its name in both
languages and the address of the licence or the law behind it. Pages show the name in the
visitor's language with the link; downloads and the OGC / DCAT records keep the stored text.
A text the file does not list is shown as stored, without a link.
"""

from functools import lru_cache

import yaml
from django.conf import settings

from layers.city import find_city_dir


@lru_cache(maxsize=4)
def _registry(city: str) -> dict[str, dict]:
    try:
        path = find_city_dir(city) / "licences.yaml"
    except FileNotFoundError:
        return {}
    if not path.exists():
        return {}
    entries = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("licences") or []
    return {" ".join(e["text"].split()): e for e in entries}


def describe(text: str, lang: str) -> dict:
    """{"text", "name", "url"} of a stored licence text: its name in `lang` ("pl" or "en",
    falling back to Polish, then to the text) and the address of its terms ("" if unknown)."""
    text = text or ""
    entry = _registry(getattr(settings, "CITY", "kielce")).get(" ".join(text.split()), {})
    name = entry.get(f"name_{lang}") or entry.get("name_pl") or text
    return {"text": text, "name": name, "url": entry.get("url", "")}


def known(text: str) -> bool:
    return " ".join((text or "").split()) in _registry(getattr(settings, "CITY", "kielce"))
