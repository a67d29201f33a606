from django.apps import AppConfig


class IndicatorsConfig(AppConfig):
    name = "indicators"
    verbose_name = "Wskaźniki / Indicators"

    def ready(self):
        # layers announces committed feature edits; indicators reacts without layers
        # importing it (see layers/signals.py).
        from indicators.stale import on_layer_changed
        from layers.signals import layer_changed
        layer_changed.connect(on_layer_changed, dispatch_uid="indicators-mark-stale")

        # Indicator values per area as an OGC API collection, through ogc.config's hook for
        # collections of other apps.
        from ogc import config as ogc_config
        ogc_config.register_collections(_ogc_collections)


def _ogc_collections() -> dict:
    # Imported when the OGC config is built, not at start-up: the provider subclasses
    # pygeoapi's, and pygeoapi is large for a process that never serves /ogc.
    from indicators.ogc_provider import collections

    return collections()
