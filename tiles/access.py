"""Which layers a request may see. A staff-only layer is answered exactly like an unknown one
for everybody else, so its existence is not revealed."""

from django.http import HttpRequest

from layers import permissions
from layers.models import Layer
from tiles.params import TileRequestError

# What a tile needs of its layers; their schema only when the request has options to check.
TILE_FIELDS = ("id", "slug", "version", "visibility", "geometry_type", "tile_minzoom",
               "tile_maxzoom", "tile_feature_limit")


def is_staff(request: HttpRequest) -> bool:
    """A staff session, or a staff user's DRF token (how QGIS and scripts authenticate): the
    one rule of layers.permissions."""
    return permissions.is_staff(permissions.request_user(request))


def visible_layers(request: HttpRequest, slugs: list[str],
                   fields: tuple[str, ...] | None = None) -> tuple[list[Layer], bool]:
    """The layers named, in the order named, in one query; 404 naming the first one unknown
    or invisible. The flag says whether a staff-only layer was involved, so the response must
    not be shared between users."""
    qs = Layer.objects.filter(slug__in=slugs)
    if fields:
        qs = qs.only(*fields)
    by_slug = {layer.slug: layer for layer in qs}
    restricted = any(la.visibility != Layer.Visibility.PUBLIC for la in by_slug.values())
    # Only look at the user when it matters: touching the session adds "Vary: Cookie", which
    # would keep shared caches from storing public tiles.
    staff = restricted and is_staff(request)
    for slug in slugs:
        layer = by_slug.get(slug)
        if layer is None or (layer.visibility != Layer.Visibility.PUBLIC and not staff):
            raise TileRequestError(404, f"unknown layer {slug!r}", depends_on_user=restricted)
    return [by_slug[s] for s in slugs], restricted
