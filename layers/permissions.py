"""Who may see and who may change a layer: the one rule every channel asks.

- Anybody (anonymous included) reads public layers.
- Staff users (`is_staff`) also read staff-only layers. For everybody else a staff-only layer
  does not exist: channels answer 404 for it, exactly as for an unknown slug.
- Writing a layer's features (and its metadata and schema) needs membership of one of the
  layer's editor groups, or superuser. Staff status alone grants reading, not writing.
- Creating, deleting and restoring layers, and choosing a layer's visibility, editor groups and
  tile settings (REGISTRY_FIELDS), need the Django model permissions (`layers.add_layer`,
  `layers.delete_layer`, `layers.change_layer`), which superusers have.

A deleted layer is invisible to all of them (`Layer.objects` leaves it out).

What is computed from layers (an indicator's values) is seen by exactly those who may read every
layer it is computed from: `can_view_all` / `unreadable_slugs`.
"""

from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import Http404
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from layers.models import Layer


def request_user(request):
    """The user of a plain Django request: its session, or a DRF token (`Authorization: Token
    <key>`, how QGIS and scripts authenticate). A bad token counts as anonymous."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    try:
        found = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        found = None
    return found[0] if found else (user or AnonymousUser())


def is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def visible_layers(user) -> QuerySet:
    """The layers `user` may read."""
    return layers_for_audience(staff=is_staff(user))


def layers_for_audience(*, staff: bool) -> QuerySet:
    """The layers staff (all) or everyone else (public only) may read; for channels that serve
    one cached answer per audience rather than per user (the OGC API's config)."""
    if staff:
        return Layer.objects.all()
    return Layer.objects.filter(visibility=Layer.Visibility.PUBLIC)


def can_view(user, layer: Layer) -> bool:
    if layer.deleted_at is not None:
        return False
    return layer.visibility == Layer.Visibility.PUBLIC or is_staff(user)


def unreadable_slugs(user) -> frozenset[str]:
    """The slugs of every layer `user` may not read, deleted ones included (a deleted layer
    keeps the visibility it had: what was computed from it does not surface when it goes)."""
    return unreadable_slugs_for_audience(staff=is_staff(user))


def unreadable_slugs_for_audience(*, staff: bool) -> frozenset[str]:
    if staff:
        return frozenset()
    return frozenset(Layer.all_objects.exclude(visibility=Layer.Visibility.PUBLIC)
                     .values_list("slug", flat=True))


def can_view_all(user, slugs: Iterable[str]) -> bool:
    """May `user` read every layer named? A slug that names no layer hides nothing (a dataset
    the city does not hold yet)."""
    slugs = set(slugs)
    return not slugs or not (slugs & unreadable_slugs(user))


def get_visible_layer(user, slug: str, queryset: QuerySet | None = None) -> Layer:
    """The layer, or Http404 whether it is unknown, deleted or hidden from `user`."""
    qs = queryset if queryset is not None else visible_layers(user)
    layer = qs.filter(slug=slug).first()
    if layer is None or not can_view(user, layer):
        raise Http404(f"no layer {slug!r}")
    return layer


def can_edit(user, layer: Layer) -> bool:
    """May `user` create, change and delete features of `layer` (and edit its schema)?"""
    if not (user and user.is_authenticated and user.is_active) or not can_view(user, layer):
        return False
    if user.is_superuser:
        return True
    group_ids = {g.pk for g in user.groups.all()}
    return layer.editor_groups.filter(pk__in=group_ids).exists() if group_ids else False


def editable_layers(user) -> QuerySet:
    """The layers `user` may edit (see can_edit)."""
    if not (user and user.is_authenticated and user.is_active):
        return Layer.objects.none()
    qs = visible_layers(user)
    if user.is_superuser:
        return qs
    return qs.filter(editor_groups__in=user.groups.all()).distinct()


# Layer settings only users with `layers.change_layer` choose (admin form, REST create and update):
# who sees the layer, who edits it, and what the tile service spends on it.
REGISTRY_FIELDS = ("visibility", "editor_groups", "tile_minzoom", "tile_maxzoom",
                   "tile_feature_limit")


def can_manage(user, action: str = "change") -> bool:
    """Registry-level rights: create (`add`), delete/restore (`delete`) layers, or set their
    visibility and editor groups (`change`)."""
    return bool(user and user.is_authenticated and user.is_active
                and user.has_perm(f"layers.{action}_layer"))
