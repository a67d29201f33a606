"""Indicator values per area as an OGC API Features collection, `indicator-values`.

Each item is one value (indicator, area, period, source) with the area's polygon as geometry,
so a GIS client gets a ready-to-map choropleth layer: e.g.
/ogc/collections/indicator-values/items?indicator=schools-per-km2&areas=okregi-wyborcze&period=2022
Only what indicators.access lets the config's audience see is served: values over readable
areas layers, of indicators computed from readable layers (the staff config's provider
definition says `"staff": true`; everyone else's config leaves out staff-only layers and every
indicator computed from one). The collection is registered with ogc.config's
hook for plugged-in collections (IndicatorsConfig.ready) and served by pygeoapi's handlers
through this provider; every request reads the database, so values are never stale here.
"""

import json

from django.db import connection
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from indicators import access
from indicators.models import Indicator, IndicatorValue
from layers.models import Feature, Layer

COLLECTION = "indicator-values"
PROVIDER = "indicators.ogc_provider.IndicatorValuesProvider"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

# name -> (SQL expression, JSON schema type)
FIELDS = {
    "indicator": ("i.code", "string"),
    "indicator_name": ("i.name_pl", "string"),
    "unit": ("i.unit", "string"),
    "areas": ("l.slug", "string"),
    "area_id": ("v.area_id", "integer"),
    "area_name": ("coalesce(a.properties ->> l.name_field, a.id::text)", "string"),
    "period": ("v.period", "string"),
    "value": ("v.value", "number"),
    "source": ("v.source", "string"),
    "status": ("v.status", "string"),
    "origin": ("v.origin", "string"),
    "note": ("v.note", "string"),
    "computed_at": ("to_char(v.computed_at AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", "string"),
}
FROM = f"""
    FROM {IndicatorValue._meta.db_table} v
    JOIN {Indicator._meta.db_table} i ON i.id = v.indicator_id
    JOIN {Feature._meta.db_table} a ON a.id = v.area_id
    JOIN {Layer._meta.db_table} l ON l.id = a.layer_id
    WHERE l.deleted_at IS NULL"""
PUBLIC_ONLY = " AND l.visibility = 'public'"


def collections() -> dict:
    """{collection id: pygeoapi resource} for ogc.config.register_collections."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                    f"(SELECT ST_Extent(a.geom) AS e {FROM}{PUBLIC_ONLY}) x")
        bbox = cur.fetchone()
    return {COLLECTION: {
        "type": "collection",
        "title": {"pl": "Wskaźniki miejskie według obszarów",
                  "en": "City indicators by area"},
        "description": {
            "pl": "Wartości wskaźników audytu miejskiego dla okręgów, obwodów i całego miasta: "
                  "jeden obiekt na zapisaną wartość (wskaźnik, obszar, okres i źródło), z "
                  "geometrią obszaru. Filtry: indicator, areas, area_id, period, source, "
                  "status. Wskaźnik czekający na dane nie ma tu obiektów; jego braki: "
                  "/api/audit/gaps/ i /api/indicators/<kod>/values/ (wiersz na obszar).",
            "en": "Urban-audit indicator values for districts, precincts and the whole city: "
                  "one feature per stored value (indicator, area, period and source), with "
                  "the area's geometry. Filters: indicator, areas, area_id, period, source, "
                  "status. An indicator waiting for data has no features here; its gaps are "
                  "in /api/audit/gaps/ and /api/indicators/<code>/values/ (a row per area)."},
        "keywords": ["wskaźniki", "indicators", "ISO 37120", "audyt miejski", "urban audit"],
        "extents": {"spatial": {"bbox": list(bbox) if bbox and bbox[0] is not None
                                else [-180.0, -90.0, 180.0, 90.0], "crs": CRS84}},
        "links": [{"type": "application/json", "rel": "describedby",
                   "title": "Indicator definitions", "href": "/api/indicators/"}],
        "providers": [{"type": "feature", "name": PROVIDER, "data": COLLECTION,
                       "id_field": "id", "title_field": "area_name", "storage_crs": CRS84,
                       "fields": {k: t for k, (_, t) in FIELDS.items()}}],
    }}


class IndicatorValuesProvider(BaseProvider):
    def __init__(self, provider_def):
        super().__init__(provider_def)
        self._fields = self.get_fields()
        self.staff = bool(provider_def.get("staff"))

    def _from(self) -> tuple[str, list]:
        """FROM ... WHERE, limited to what the config's audience may see (asked on every
        query: an indicator's definition can change without a new config)."""
        if self.staff:
            return FROM, []
        hidden = sorted(access.hidden_ids(staff=False))
        return f"{FROM}{PUBLIC_ONLY} AND NOT (i.id = ANY(%s))", [hidden]

    def get_fields(self) -> dict:
        return {name: {"type": kind} for name, (_, kind) in FIELDS.items()}

    def _where(self, bbox, properties) -> tuple[str, list]:
        sql, params = "", []
        for name, value in properties or []:
            if name not in FIELDS:
                raise ProviderInvalidQueryError(user_msg=f"unknown property {name!r}")
            expr, kind = FIELDS[name]
            if kind in ("integer", "number"):
                try:
                    value = int(value) if kind == "integer" else float(value)
                except ValueError:
                    raise ProviderInvalidQueryError(
                        user_msg=f"{name} must be a {kind}, not {value!r}") from None
            sql += f" AND {expr} = %s"
            params.append(value)
        if bbox:
            minx, miny, maxx, maxy = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 \
                else bbox
            sql += " AND ST_Intersects(a.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))"
            params += [float(minx), float(miny), float(maxx), float(maxy)]
        return sql, params

    def query(self, offset=0, limit=10, resulttype="results", bbox=None, datetime_=None,
              properties=None, sortby=None, select_properties=None, skip_geometry=False,
              q=None, filterq=None, **kwargs):
        if filterq is not None:
            raise ProviderInvalidQueryError(user_msg="filter is not supported on this "
                                                     "collection; use property=value")
        source, params = self._from()
        where, where_params = self._where(bbox, properties)
        params += where_params
        order = []
        for sort in sortby or []:
            if sort["property"] not in FIELDS:
                raise ProviderInvalidQueryError(user_msg=f"cannot sort by {sort['property']!r}")
            order.append(f"{FIELDS[sort['property']][0]} "
                         f"{'DESC' if sort.get('order') == '-' else 'ASC'}")
        order.append("v.id")
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*) {source}{where}", params)
            matched = cur.fetchone()[0]
            features = []
            if resulttype != "hits":
                columns = ", ".join(f"{expr} AS {name}" for name, (expr, _) in FIELDS.items())
                geometry = "NULL" if skip_geometry else "ST_AsGeoJSON(a.geom, 7)"
                cur.execute(f"SELECT v.id, {columns}, {geometry} {source}{where} "
                            f"ORDER BY {', '.join(order)} LIMIT %s OFFSET %s",
                            [*params, int(limit), int(offset)])
                features = [self._feature(row, select_properties) for row in cur.fetchall()]
        return {"type": "FeatureCollection", "features": features, "numberMatched": matched,
                "numberReturned": len(features)}

    def get(self, identifier, **kwargs):
        try:
            value_id = int(identifier)
        except (TypeError, ValueError):
            raise ProviderItemNotFoundError(user_msg=f"no item {identifier!r}") from None
        columns = ", ".join(f"{expr} AS {name}" for name, (expr, _) in FIELDS.items())
        source, params = self._from()
        with connection.cursor() as cur:
            cur.execute(f"SELECT v.id, {columns}, ST_AsGeoJSON(a.geom, 7) {source} AND v.id = %s",
                        [*params, value_id])
            row = cur.fetchone()
        if row is None:
            raise ProviderItemNotFoundError(user_msg=f"no item {identifier!r}")
        return self._feature(row)

    @staticmethod
    def _feature(row, select_properties=None) -> dict:
        names = list(FIELDS)
        props = dict(zip(names, row[1:1 + len(names)], strict=True))
        if select_properties:
            props = {k: v for k, v in props.items() if k in select_properties}
        geometry = row[-1]
        return {"type": "Feature", "id": row[0],
                "geometry": json.loads(geometry) if geometry else None, "properties": props}

    def __repr__(self):
        return f"<IndicatorValuesProvider> {COLLECTION}"
