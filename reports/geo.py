"""Spatial questions about reports, answered by PostGIS."""

from django.contrib.gis.db.models.functions import Distance
from django.contrib.gis.geos import Point
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

from layers.models import Feature, Layer
from reports import conf
from reports.models import Category, Report


def point(lon: float, lat: float) -> Point:
    return Point(float(lon), float(lat), srid=4326)


def inside_city(p: Point) -> bool | None:
    """Whether the point lies in the city boundary layer; None when there is no such layer."""
    slug = conf.get("REPORTS_BOUNDARY_LAYER")
    if not slug or not Layer.objects.filter(slug=slug).exists():
        return None
    return Feature.objects.filter(layer__slug=slug, geom__intersects=p).exists()


def duplicates(category: Category, p: Point, limit: int = 10) -> list[Report]:
    """Open public reports of `category` within its duplicate radius, nearest first. Distances
    on the spheroid (geography), so the radius is in true metres anywhere."""
    return list(
        Report.public().filter(category=category, status__in=Report.OPEN_STATUSES)
        .alias(near=within_metres(p, category.duplicate_radius_m)).filter(near=True)
        .annotate(distance=Distance("geom", p))
        .order_by("distance", "-created_at")[:limit])


def within_metres(p: Point, metres: float) -> RawSQL:
    # Django's dwithin on a geographic geometry column only takes degrees; the geography cast
    # makes the radius metres.
    return RawSQL(
        f"ST_DWithin({Report._meta.db_table}.geom::geography, "
        "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s)",
        (p.x, p.y, float(metres)), output_field=BooleanField())


def districts() -> list[Feature]:
    slug = conf.get("REPORTS_DISTRICTS_LAYER")
    layer = Layer.objects.filter(slug=slug, visibility=Layer.Visibility.PUBLIC).first()
    if layer is None:
        return []
    return list(Feature.objects.filter(layer=layer).select_related("layer").order_by("id"))


def district_of(p: Point) -> Feature | None:
    slug = conf.get("REPORTS_DISTRICTS_LAYER")
    return (Feature.objects.filter(layer__slug=slug, geom__intersects=p)
            .select_related("layer").order_by("id").first())
