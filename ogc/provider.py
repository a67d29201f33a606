"""pygeoapi feature provider over the layer registry's feature table.

pygeoapi instantiates a provider per request from the collection's provider definition, which
`ogc.config` fills with the layer's slug and a snapshot of its schema (`fields`: name -> type);
the snapshot is as fresh as the config, which is rebuilt whenever any layer row changes.
"""

import json

from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from ogc import queries
from ogc.queries import ID, FeatureQuery, QueryError

JSON_SCHEMA_TYPES = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "decimal": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
}


class LayerProvider(BaseProvider):
    def __init__(self, provider_def):
        super().__init__(provider_def)
        self.slug = self.data
        self.schema_fields: dict[str, str] = dict(provider_def.get("fields", {}))
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
              q=None, filterq=None, crs_transform_spec=None, **kwargs):
        # datetime_ is accepted and ignored: layers carry no temporal property yet, and OGC API
        # Features lets a server ignore it for features without temporal information.
        # crs_transform_spec is always None: the only CRS offered is the storage CRS (CRS84).
        try:
            query = self._filtered(bbox, properties, q, filterq)
            for sort in sortby or []:
                query.order_by(sort["property"], descending=sort.get("order") == "-")
            matched = query.count()
            rows = [] if resulttype == "hits" else query.fetch(
                offset, limit, geometry=not skip_geometry)
        except QueryError as exc:
            raise ProviderInvalidQueryError(user_msg=str(exc)) from exc

        features = [self._feature(row, select_properties) for row in rows]
        return {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": matched,
            "numberReturned": len(features),
        }

    def _filtered(self, bbox, properties, q, filterq) -> FeatureQuery:
        query = FeatureQuery(self.slug, self.schema_fields)
        if bbox:
            # pygeoapi passes 6 numbers for a 3D bbox: minx, miny, minz, maxx, maxy, maxz.
            minx, miny, maxx, maxy = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 \
                else bbox
            query.bbox(minx, miny, maxx, maxy)
        for name, value in properties or []:
            query.equals(name, value)
        if q:
            query.search(q.split(","))
        if filterq is not None:
            raise QueryError("filter (CQL2) is not supported yet; use property=value parameters")
        return query

    def get(self, identifier, **kwargs):
        try:
            feature_id = queries.parse_feature_id(identifier)
        except QueryError:
            # A non-numeric id names no feature: that is "not found", not a malformed request.
            raise ProviderItemNotFoundError(
                user_msg=f"no feature {identifier!r} in {self.slug}") from None
        row = queries.fetch_feature(self.slug, feature_id)
        if row is None:
            raise ProviderItemNotFoundError(user_msg=f"no feature {identifier!r} in {self.slug}")
        return self._feature(row)

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
