"""The one site navigation of the resident pages (map, areas, compare, open data, reports...).

Every resident page (portal, reports, the 404 and 500 pages) shows the same menu from
`sdi/templates/base.html`. A section is listed only when its page exists: sections planned for
later (lessons at /learn/, the city dashboard at /city/) are named here already and appear as
soon as their URL name resolves. Nothing here reads the database, so the 500 page can show the
menu while the database is down.
"""

from functools import lru_cache

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext, pgettext_lazy

# (URL name, label) in menu order.
SECTIONS = [
    ("portal:map", pgettext_lazy("site navigation", "Map")),
    ("portal:districts", pgettext_lazy("site navigation", "Areas")),
    ("portal:compare", pgettext_lazy("site navigation", "Compare")),
    ("portal:catalogue", pgettext_lazy("site navigation", "Open data")),
    ("reports:index", pgettext_lazy("site navigation", "Reports")),
    ("portal:learn", pgettext_lazy("site navigation", "Learn")),
    ("portal:city", pgettext_lazy("site navigation", "City dashboard")),
]


@lru_cache(maxsize=1)
def _links() -> tuple[tuple[str, object], ...]:
    found = []
    for name, label in SECTIONS:
        try:
            found.append((reverse(name), label))
        except NoReverseMatch:
            continue  # a page that does not exist (yet) is not linked
    return tuple(found)


def items(path: str) -> list[dict]:
    """The menu for a page at `path`: the section whose address is the longest prefix of the
    path is current (the map, at "/", only on the home page itself)."""
    links = _links()
    current = max((url for url, _ in links if path == url or (url != "/" and path.startswith(url))),
                  key=len, default=None)
    return [{"url": url, "label": label, "current": url == current} for url, label in links]


@lru_cache(maxsize=1)
def city_name() -> str:
    """The city's name from its config (fixtures/<city>/city.yaml); "" without one."""
    import yaml

    from layers.city import find_city_dir

    try:
        path = find_city_dir(getattr(settings, "CITY", "kielce")) / "city.yaml"
        return (yaml.safe_load(path.read_text(encoding="utf-8")) or {})["city"]["name"]
    except (FileNotFoundError, KeyError, TypeError):
        return ""


def site(request) -> dict:
    """Context processor: the menu and the site's name for base.html."""
    return {"site_nav": items(request.path), "site_city": city_name(),
            "site_brand": brand()}


def brand() -> str:
    name = city_name()
    return gettext("%(city)s in data") % {"city": name} if name else gettext("City SDI")

