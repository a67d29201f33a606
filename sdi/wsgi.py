"""The WSGI application: Django, with tile requests sent through a shorter middleware chain
(settings.TILES_MIDDLEWARE) than pages and APIs get, behind tiles.wsgi.PlainTiles, which
answers plain public layer tiles without Django's request cycle."""

import os

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sdi.settings")
TILES_PREFIX = "/tiles/"


class TilesHandler(WSGIHandler):
    """Django's own handler, built from TILES_MIDDLEWARE instead of MIDDLEWARE."""

    def load_middleware(self, is_async=False):
        # BaseHandler reads settings.MIDDLEWARE and nothing else; this runs once, at start-up,
        # before any request thread exists.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.TILES_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


class Application:
    def __init__(self):
        self.django = get_wsgi_application()
        from tiles.wsgi import PlainTiles  # needs the apps loaded: after django.setup()

        self.tiles = PlainTiles(TilesHandler())

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(TILES_PREFIX):
            return self.tiles(environ, start_response)
        return self.django(environ, start_response)


application = Application()
