"""OGC API routes, mounted at `ogc` (no trailing slash) by sdi.urls: the landing page is `/ogc`,
everything else hangs off `/ogc/`. A trailing slash is accepted everywhere, since clients differ
in whether they add one. Path segments are `[^/]+` rather than slugs so that an unknown or
malformed collection or item id still gets a JSON 404 in OGC format, not Django's HTML one."""

from django.urls import include, path, re_path

app_name = "ogc"


class _View:
    """Stands for a view of ogc.views, importing that module on the first OGC request instead of
    when the URLconf loads: it brings in pygeoapi (some 40 MB), which a web process serving only
    tiles, pages or downloads never needs."""

    def __init__(self, name: str):
        self.name = self.__name__ = self.__qualname__ = name
        self.__module__ = "ogc.views"

    @property
    def real(self):
        from ogc import views

        return getattr(views, self.name)

    @property
    def csrf_exempt(self) -> bool:
        # The CSRF middleware reads this from the URLconf's callable, before calling it.
        return getattr(self.real, "csrf_exempt", False)

    def __call__(self, request, *args, **kwargs):
        return self.real(request, *args, **kwargs)


class _Views:
    def __getattr__(self, name: str) -> _View:
        return _View(name)


views = _Views()

COLLECTION = r"collections/(?P<collection_id>[^/]+)"
TMS = r"(?P<tms>[^/]+)"

api_patterns = [
    re_path(r"^$", views.landing_page),
    re_path(r"^conformance/?$", views.conformance, name="conformance"),
    re_path(r"^openapi/?$", views.openapi, name="openapi"),
    re_path(r"^dcat/?$", views.dcat, name="dcat"),
    re_path(r"^tileMatrixSets/?$", views.tile_matrix_sets, name="tile-matrix-sets"),
    re_path(rf"^tileMatrixSets/{TMS}/?$", views.tile_matrix_set, name="tile-matrix-set"),
    re_path(r"^collections/?$", views.collections, name="collections"),
    re_path(rf"^{COLLECTION}/?$", views.collections, name="collection"),
    re_path(rf"^{COLLECTION}/schema/?$", views.collection_schema, name="schema"),
    re_path(rf"^{COLLECTION}/queryables/?$", views.collection_queryables, name="queryables"),
    re_path(rf"^{COLLECTION}/items/?$", views.collection_items, name="items"),
    re_path(rf"^{COLLECTION}/items/(?P<item_id>[^/]+)/?$", views.collection_item, name="item"),
    re_path(rf"^{COLLECTION}/tiles/?$", views.collection_tilesets, name="tilesets"),
    re_path(rf"^{COLLECTION}/tiles/{TMS}/?$", views.collection_tileset, name="tileset"),
    re_path(rf"^{COLLECTION}/tiles/{TMS}/(?P<z>[^/]+)/(?P<y>[^/]+)/(?P<x>[^/]+)/?$",
            views.collection_tile, name="tile"),
    # Anything else under /ogc/ is an OGC API client's mistake: answer in its format.
    re_path(r"^.*$", views.not_found),
]

urlpatterns = [
    path("", views.landing_page, name="landing"),
    path("/", include(api_patterns)),
]
