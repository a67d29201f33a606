"""The city's reports config (fixtures/<city>/reports.yaml): layer metadata and categories."""

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from layers.city import find_city_dir
from reports import layer
from reports.models import Category

CATEGORY_FIELDS = ("name_pl", "name_en", "description_pl", "description_en", "questions",
                   "photo_required", "duplicate_radius_m", "trusted", "active", "order")
LAYER_FIELDS = ("title_pl", "title_en", "description_pl", "description_en", "publisher",
                "publisher_type", "licence", "attribution", "quality_notes", "quality_notes_en",
                "keywords", "theme",
                "update_frequency")


class ConfigError(ValueError):
    pass


@transaction.atomic
def load(city: str) -> dict:
    path = find_city_dir(city) / "reports.yaml"
    if not path.exists():
        return {"categories": 0, "layer": None}
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(config.get("layer") or {}) - set(LAYER_FIELDS)
    if unknown:
        raise ConfigError(f"{path.name}: layer: unknown keys {sorted(unknown)}")
    reports_layer = layer.ensure_layer(config.get("layer") or {})
    for order, entry in enumerate(config.get("categories") or []):
        unknown = set(entry) - {"slug", *CATEGORY_FIELDS}
        if unknown:
            raise ConfigError(f"{path.name}: category {entry.get('slug')!r}: unknown keys "
                              f"{sorted(unknown)}")
        category = Category.objects.filter(slug=entry["slug"]).first() or \
            Category(slug=entry["slug"])
        category.order = order
        for name in CATEGORY_FIELDS:
            if name in entry:
                setattr(category, name, entry[name])
        try:
            category.full_clean()
        except ValidationError as exc:
            raise ConfigError(f"{path.name}: category {entry['slug']!r}: "
                              f"{exc.message_dict}") from exc
        category.save()
    return {"categories": len(config.get("categories") or []), "layer": reports_layer.slug}
