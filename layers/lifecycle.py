"""Deleting a layer is soft: it disappears from every channel at once (Layer.objects leaves it
out) but its features and history stay, and it can be restored for LAYER_RETENTION_DAYS days.
After that `manage.py purge_deleted_layers` (run daily) removes it for good."""

import datetime

from django.db import transaction
from django.utils import timezone

from layers.models import LAYER_RETENTION_DAYS, Layer
from layers.signals import layer_changed


def _announce(layer: Layer) -> None:
    # Caches key on the layer version; a bump makes sure nothing keeps serving it.
    layer.bump_version()
    transaction.on_commit(lambda: layer_changed.send(sender=Layer, layer=layer))


@transaction.atomic
def delete_layer(layer: Layer, user=None) -> None:
    layer.deleted_at = timezone.now()
    layer.deleted_by = user if user is not None and user.is_authenticated else None
    layer.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    _announce(layer)


@transaction.atomic
def restore_layer(layer: Layer) -> None:
    layer.deleted_at = None
    layer.deleted_by = None
    layer.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    _announce(layer)


def purge_until(layer: Layer) -> datetime.datetime | None:
    if layer.deleted_at is None:
        return None
    return layer.deleted_at + datetime.timedelta(days=LAYER_RETENTION_DAYS)


def purge_deleted_layers(now: datetime.datetime | None = None) -> list[str]:
    """Remove for good the layers deleted more than LAYER_RETENTION_DAYS ago."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=LAYER_RETENTION_DAYS)
    expired = Layer.all_objects.filter(deleted_at__lt=cutoff)
    slugs = list(expired.values_list("slug", flat=True))
    expired.delete()
    return slugs
