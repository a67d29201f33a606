"""pygeoapi feature provider over the layer registry's feature table.

pygeoapi instantiates a provider per request from the collection's provider definition, which
`ogc.config` fills with the layer's slug, version and a snapshot of its schema (`fields`:
name -> type); the snapshot is as fresh as the config, which is rebuilt whenever any layer row
changes. `ogc.items` calls `query` with everything already checked; pygeoapi calls it too (for
queryables, schema and OpenAPI it only needs `get_fields`).
"""

import json

from django.conf import settings
from django.core.cache import cache
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from layers.models import Layer
from ogc import cql, queries
from ogc import crs as crsmod
from ogc.queries import ID, FeatureQuery, QueryError

JSON_SCHEMA_TYPES = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "decimal": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
}

# Counting is exact up to this many matches (a count that stops after COUNT_CAP + 1 rows); past
# it the planner's estimate is given instead, marked as such. Counts are cached per layer version
# and selection, so paging through a result counts once.
COUNT_CAP = 100_000
COUNT_CACHE_SECONDS = 3600

# How `numberMatched` was obtained, given in the response member `numberMatchedMethod`.
COUNTED, CACHED, ESTIMATED = "counted", "cached", "estimated"


class LayerProvider(BaseProvider):
    def __init__(self, provider_def):
        super().__init__(provider_def)
        self.slug = self.data
        self.version = provider_def.get("version", 0)
        self.schema_fields: dict[str, str] = dict(provider_def.get("fields", {}))
        self.time_field = provider_def.get("time_field")
        self.visibility = provider_def.get("visibility", Layer.Visibility.PUBLIC)
        self._fields = self.get_fields()

    def get_fields(self) -> dict:
        fields = {}
        if ID not in self.schema_fields:
            fields[ID] = {"type": "integer"}
        for name, ftype in self.schema_fields.items():
            fields[name] = dict(JSON_SCHEMA_TYPES.get(ftype, {"type": "string"}))
        return fields

    def query(self, offset=0, limit=10, resulttype="results", bbox=None, datetime_=None,
              properties=None, sortby=None, select_properties=None, skip_geometry=False,
              q=None, filterq=None, crs_transform_spec=None, *, bbox_crs=crsmod.DEFAULT,
              crs=crsmod.DEFAULT, filter_crs=crsmod.DEFAULT, **kwargs):
        """A FeatureCollection page. `datetime_` is (start, end) as ISO dates (None = open) or
        None; `filterq` a pygeofilter AST. One row more than `limit` is read, so `next` links
        are exact even when the count is an estimate (`has_more` in the result)."""
        try:
            query = self._filtered(bbox, bbox_crs, datetime_, properties, q, filterq, filter_crs)
            matched = self._matched(query)
            rows = []
            if resulttype != "hits":
                for sort in sortby or []:
                    query.order_by(sort["property"], descending=sort.get("order") == "-")
                rows = query.fetch(offset, limit + 1, geometry=not skip_geometry, crs=crs)
        except (QueryError, cql.FilterError) as exc:
            raise ProviderInvalidQueryError(user_msg=str(exc)) from exc

        features = [self._feature(row, select_properties) for row in rows[:limit]]
        result = {"type": "FeatureCollection", "features": features}
        value, method = matched
        if method == ESTIMATED:
            result["numberMatchedEstimate"] = value
        else:
            result["numberMatched"] = value
        result["numberMatchedMethod"] = method
        result["numberReturned"] = len(features)
        result["has_more"] = len(rows) > limit
        return result

    def _filtered(self, bbox, bbox_crs, datetime_, properties, q, filterq,
                  filter_crs) -> FeatureQuery:
        query = FeatureQuery(self.slug, self.schema_fields, self.visibility)
        if bbox:
            # pygeoapi passes 6 numbers for a 3D bbox: minx, miny, minz, maxx, maxy, maxz.
            box = [bbox[0], bbox[1], bbox[3], bbox[4]] if len(bbox) == 6 else list(bbox)
            query.bbox(*crsmod.bbox_xy(box, bbox_crs), srid=bbox_crs.srid)
        if datetime_ and self.time_field:
            query.during(self.time_field, *datetime_)
        for name, value in properties or []:
            query.equals(name, value)
        if q:
            query.search(q.split(","))
        if filterq is not None:
            query.where(*cql.to_sql(filterq, self.schema_fields, filter_crs, self.slug))
        return query

    def _matched(self, query: FeatureQuery) -> tuple[int, str]:
        seconds = getattr(settings, "OGC_COUNT_CACHE_SECONDS", COUNT_CACHE_SECONDS)
        key = f"ogc:count:{self.slug}:{self.version}:{query.signature()}"
        cached = cache.get(key) if seconds else None
        if cached is not None:
            return cached[0], CACHED if cached[1] == COUNTED else cached[1]
        if query.is_whole_layer():
            # A whole layer is counted exactly, whatever its size: once per layer version.
            found = (query.count(), COUNTED)
        else:
            exact = query.count_upto(COUNT_CAP)
            found = (exact, COUNTED) if exact <= COUNT_CAP else (
                max(query.estimate(), COUNT_CAP + 1), ESTIMATED)
        if seconds:
            cache.set(key, found, seconds)
        return found

    def get(self, identifier, crs=crsmod.DEFAULT, **kwargs):
        try:
            feature_id = queries.parse_feature_id(identifier)
        except QueryError:
            # A non-numeric id names no feature: that is "not found", not a malformed request.
            raise ProviderItemNotFoundError(
                user_msg=f"no feature {identifier!r} in {self.slug}") from None
        row = queries.fetch_feature(self.slug, feature_id, crs=crs, visibility=self.visibility)
        if row is None:
            raise ProviderItemNotFoundError(user_msg=f"no feature {identifier!r} in {self.slug}")
        feature = self._feature(row[:3])
        feature["version"] = row[3]
        return feature

    @staticmethod
    def _feature(row, select_properties=None) -> dict:
        feature_id, properties, geometry = row
        # Django's psycopg2 set-up hands jsonb over undecoded (its JSONField decodes itself).
        if isinstance(properties, str):
            properties = json.loads(properties)
        if isinstance(geometry, str):
            geometry = json.loads(geometry)
        if select_properties:
            properties = {k: v for k, v in properties.items() if k in select_properties}
        return {"type": "Feature", "id": feature_id, "geometry": geometry,
                "properties": properties}

    def __repr__(self):
        return f"<LayerProvider> {self.slug}"
