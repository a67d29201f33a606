"""Fill the tile cache for layers over their extent and a zoom range, reporting tiles/s.

    python manage.py seed_tiles okregi-wyborcze,obwody-glosowania --minzoom 10 --maxzoom 15

Tiles are cached under the layers' current versions, exactly as the endpoint would cache them,
so a seeded tile is served as is until the next edit makes a new key. Tiles already cached are
counted and skipped. Seeding is useful with a cache the server shares (Redis: REDIS_URL); with
the local memory cache it only fills this command's own process.
"""

import math
import threading
import time

from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from tqdm import tqdm

from layers.models import Layer
from tiles import build, tilejson
from tiles.caching import cached_tile
from tiles.options import NO_OPTIONS
from tiles.params import MAX_ZOOM, TileCoord, TileRequestError, parse_layer_list

# Refuse to start more than this without --force: a typo in --maxzoom must not mean a week.
MAX_TILES = 1_000_000


def tile_range(bounds: tilejson.queries.Bounds, z: int) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (inclusive) of the tiles at zoom z covering lon/lat bounds."""
    n = 2**z

    def tx(lon):
        return min(n - 1, max(0, int((lon + 180) / 360 * n)))

    def ty(lat):
        lat = max(-85.0511287798066, min(85.0511287798066, lat))
        return min(n - 1, max(0, int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi)
                                     / 2 * n)))

    return tx(bounds.west), ty(bounds.north), tx(bounds.east), ty(bounds.south)


def tiles_covering(bounds, minzoom: int, maxzoom: int):
    for z in range(minzoom, maxzoom + 1):
        x0, y0, x1, y1 = tile_range(bounds, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                yield TileCoord(z, x, y)


def count_tiles(bounds, minzoom: int, maxzoom: int) -> int:
    total = 0
    for z in range(minzoom, maxzoom + 1):
        x0, y0, x1, y1 = tile_range(bounds, z)
        total += (x1 - x0 + 1) * (y1 - y0 + 1)
    return total


class Command(BaseCommand):
    help = "Seed the tile cache for layers (comma-separated, as in the tile URL)."

    def add_arguments(self, parser):
        parser.add_argument("layers", help="layer slug, or several joined by commas")
        parser.add_argument("--minzoom", type=int, default=None,
                            help="default: the smallest tile_minzoom of the layers")
        parser.add_argument("--maxzoom", type=int, default=None,
                            help="default: 14, or less when the layers stop earlier")
        parser.add_argument("--bbox", default=None,
                            help="west,south,east,north in degrees (default: the layers' extent)")
        parser.add_argument("--workers", type=int, default=2,
                            help="tiles built at the same time (database connections)")
        parser.add_argument("--force", action="store_true",
                            help=f"allow more than {MAX_TILES:,} tiles")

    def handle(self, *args, **opts):
        try:
            slugs = parse_layer_list(opts["layers"])
        except TileRequestError as e:
            raise CommandError(e.detail) from None
        by_slug = {la.slug: la for la in Layer.objects.filter(slug__in=slugs)}
        missing = [s for s in slugs if s not in by_slug]
        if missing:
            raise CommandError(f"unknown layer(s): {', '.join(missing)}")
        layers = [by_slug[s] for s in slugs]

        minzoom = opts["minzoom"] if opts["minzoom"] is not None else min(
            la.tile_minzoom for la in layers)
        maxzoom = opts["maxzoom"] if opts["maxzoom"] is not None else min(
            14, max(la.tile_maxzoom for la in layers))
        if not 0 <= minzoom <= maxzoom <= MAX_ZOOM:
            raise CommandError(f"zooms must satisfy 0 <= minzoom <= maxzoom <= {MAX_ZOOM}, "
                               f"got {minzoom}..{maxzoom}")
        bounds = self._bounds(opts["bbox"], layers)
        if bounds is None:
            self.stdout.write("The layers have no features: nothing to seed.")
            return
        total = count_tiles(bounds, minzoom, maxzoom)
        if total > MAX_TILES and not opts["force"]:
            raise CommandError(f"{total:,} tiles at zooms {minzoom}-{maxzoom}: more than "
                               f"{MAX_TILES:,}; lower --maxzoom, give --bbox, or add --force")
        if "LocMemCache" in type(cache).__name__:
            self.stderr.write("warning: the cache is this process's memory (no REDIS_URL); "
                              "the server will not see these tiles")

        self.stdout.write(f"Seeding {total:,} tiles of {', '.join(slugs)} at zooms "
                          f"{minzoom}-{maxzoom}, {opts['workers']} at a time")
        counts = {"built": 0, "cached": 0, "empty": 0, "bytes": 0}
        lock = threading.Lock()

        def seed(tile: TileCoord) -> None:
            fresh = []
            builder = build.builder(layers, NO_OPTIONS, tile)

            def counted():
                fresh.append(True)
                return builder()

            data = cached_tile(build.key(layers, NO_OPTIONS, tile), counted)
            with lock:
                counts["built" if fresh else "cached"] += 1
                counts["empty"] += not data
                counts["bytes"] += len(data)

        tiles = tiles_covering(bounds, minzoom, maxzoom)
        errors: list[BaseException] = []

        def work(bar) -> None:
            try:
                while not errors:
                    with lock:
                        tile = next(tiles, None)
                    if tile is None:
                        return
                    seed(tile)
                    with lock:
                        bar.update(1)
            except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
                errors.append(e)
            finally:
                # Each thread has its own database connection.
                connections.close_all()

        start = time.perf_counter()
        with tqdm(total=total, unit="tile", file=self.stderr, dynamic_ncols=True) as bar:
            threads = [threading.Thread(target=work, args=(bar,))
                       for _ in range(max(1, opts["workers"]))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if errors:
            raise errors[0]
        elapsed = time.perf_counter() - start
        rate = total / elapsed if elapsed > 0 else float("inf")
        self.stdout.write(
            f"{total:,} tiles in {elapsed:.1f} s: {rate:,.0f} tiles/s "
            f"({counts['built']:,} built, {counts['cached']:,} already cached, "
            f"{counts['empty']:,} empty, {counts['bytes'] / 1e6:.1f} MB)")

    def _bounds(self, bbox: str | None, layers):
        if not bbox:
            return tilejson.bounds(layers)
        try:
            west, south, east, north = (float(v) for v in bbox.split(","))
        except ValueError:
            raise CommandError(f"--bbox must be west,south,east,north in degrees, got "
                               f"{bbox!r}") from None
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise CommandError(f"--bbox {bbox!r} is not a valid west,south,east,north box")
        return tilejson.queries.Bounds(west, south, east, north)
