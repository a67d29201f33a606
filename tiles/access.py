"""Which layers a request may see. A staff-only layer is answered exactly like an unknown one
for everybody else, so its existence is not revealed."""

import json
from dataclasses import dataclass

from django.http import HttpRequest

from layers import permissions
from layers.models import Layer
from tiles import queries
from tiles.params import TileRequestError

# What a tile needs of its layers; their schema only when the request has options to check.
TILE_FIELDS = ("id", "slug", "version", "visibility", "geometry_type", "tile_minzoom",
               "tile_maxzoom", "tile_feature_limit")


@dataclass(frozen=True)
class TileLayer:
    """The part of a Layer a tile request reads (see tile_layers)."""

    id: int
    slug: str
    version: int
    visibility: str
    geometry_type: str
    tile_minzoom: int
    tile_maxzoom: int
    tile_feature_limit: int | None
    schema: dict | None = None

    @property
    def fields(self) -> list[dict]:
        schema = self.schema or {}
        if isinstance(schema, str):  # Django leaves jsonb as text for the field to parse
            schema = json.loads(schema)
        return list(schema.get("fields", []))

    def field_names(self) -> list[str]:
        return [f["name"] for f in self.fields]


# Every tile request reads its layers' versions (they make the cache key), so this is the one
# query of a cached tile: written out and prepared once per connection rather than built by the
# ORM each time, which costs more than the query. `deleted_at IS NULL` is what Layer.objects
# (LiveLayerManager) adds: a deleted layer has no tiles (tested in tests/test_tiles_cache.py).
_LOOKUP = (f"SELECT {', '.join(TILE_FIELDS)}{{schema}} FROM {Layer._meta.db_table} "
           "WHERE slug = ANY($1) AND deleted_at IS NULL")


def is_staff(request: HttpRequest) -> bool:
    """A staff session, or a staff user's DRF token (how QGIS and scripts authenticate): the
    one rule of layers.permissions."""
    return permissions.is_staff(permissions.request_user(request))


def _lookup(slugs: list[str], with_schema: bool) -> dict[str, TileLayer]:
    sql = _LOOKUP.format(schema=", schema" if with_schema else "")
    name = "tiles_lookup_schema" if with_schema else "tiles_lookup"
    rows = queries.fetch(sql, [slugs], rows=True, prepared=(name, "text[]"))
    return {la.slug: la for la in (TileLayer(*row) for row in rows)}


def tile_layers(request: HttpRequest, slugs: list[str],
                with_schema: bool = False) -> tuple[list[TileLayer], bool]:
    """visible_layers() for tile requests, as TileLayer rows."""
    return _check_visible(request, slugs, _lookup(slugs, with_schema))


def public_tile_layers(slugs: list[str]) -> list[TileLayer] | None:
    """The layers named, in order, when every one of them exists and is public; else None
    (the caller then leaves the request to the view, which knows who is asking)."""
    by_slug = _lookup(slugs, False)
    found = [by_slug.get(s) for s in slugs]
    if any(la is None or la.visibility != Layer.Visibility.PUBLIC for la in found):
        return None
    return found


def visible_layers(request: HttpRequest, slugs: list[str],
                   fields: tuple[str, ...] | None = None) -> tuple[list[Layer], bool]:
    """The layers named, in the order named, in one query; 404 naming the first one unknown
    or invisible. The flag says whether a staff-only layer was involved, so the response must
    not be shared between users."""
    qs = Layer.objects.filter(slug__in=slugs)
    if fields:
        qs = qs.only(*fields)
    return _check_visible(request, slugs, {layer.slug: layer for layer in qs})


def _check_visible(request, slugs, by_slug):
    restricted = any(la.visibility != Layer.Visibility.PUBLIC for la in by_slug.values())
    # Only look at the user when it matters: touching the session adds "Vary: Cookie", which
    # would keep shared caches from storing public tiles.
    staff = restricted and is_staff(request)
    for slug in slugs:
        layer = by_slug.get(slug)
        if layer is None or (layer.visibility != Layer.Visibility.PUBLIC and not staff):
            raise TileRequestError(404, f"unknown layer {slug!r}", depends_on_user=restricted)
    return [by_slug[s] for s in slugs], restricted
