"""The one place where a change to a layer's features is announced to other apps.

`layers` imports none of the apps that react (tiles key on Layer.version; indicators mark
their values stale): they connect a receiver to `layer_changed` in their AppConfig.ready().
"""

from django.dispatch import Signal

# sent with: layer (Layer, version already bumped)
layer_changed = Signal()
