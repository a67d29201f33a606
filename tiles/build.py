"""What a layer tile is made of and what it is cached under; shared by the view and seed_tiles."""

from collections.abc import Callable

from layers.models import Layer
from tiles import queries
from tiles.caching import tile_key
from tiles.options import NO_OPTIONS, Options, for_layer
from tiles.params import TileCoord


def shown(layers: list[Layer], tile: TileCoord) -> list[Layer]:
    """The layers whose zoom range includes the tile's zoom; the others are left out of it."""
    return [la for la in layers if la.tile_minzoom <= tile.z <= la.tile_maxzoom]


def key(layers: list[Layer], options: Options, tile: TileCoord) -> str:
    # id as well as slug: a layer deleted and re-created under the same slug restarts at
    # version 1 and must not meet the old layer's tiles. The tile settings are in the key too:
    # changing them in the admin does not bump the version.
    return tile_key("layer", options.key(), *(
        f"{la.slug}#{la.id}@{la.version}:{la.geometry_type}:{la.tile_minzoom}-"
        f"{la.tile_maxzoom}:{la.tile_feature_limit}" for la in layers), tile)


def _layer_query(layer: Layer, options: Options) -> queries.LayerQuery:
    part = for_layer(options, set(layer.field_names())) if options is not NO_OPTIONS else {}
    return queries.LayerQuery(
        id=layer.id, slug=layer.slug, buffer=queries.buffer_for(layer.geometry_type),
        keep=part.get("keep"), filter=part.get("filter"), vars=part.get("vars"),
        limit=layer.tile_feature_limit, points=layer.geometry_type in queries.POINT_TYPES)


def builder(layers: list[Layer], options: Options, tile: TileCoord) -> Callable[[], bytes]:
    def build() -> bytes:
        return queries.layer_tile([_layer_query(la, options) for la in shown(layers, tile)],
                                  tile)

    return build
