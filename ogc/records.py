"""The dataset catalogue as an OGC API – Records collection (`/ogc/collections/catalogue`), from
the layer metadata the admin edits (`ogc.dcat` serves the same catalogue as DCAT-AP).

pygeoapi has no records provider over PostgreSQL tables; this one is built with the config:
`catalogue_resource` turns every public layer into a record (the config is rebuilt whenever a
layer row changes, so records are never staler than the collections beside them), and
`CatalogueProvider` searches those records in memory (q, bbox, datetime, properties, sortby): a
city has tens to hundreds of datasets, not millions.
"""

import datetime
import math

from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

CATALOGUE = "catalogue"
PROVIDER = "ogc.records.CatalogueProvider"
RECORD_CORE = "http://www.opengis.net/spec/ogcapi-records-1/1.0/req/record-core"
DOWNLOADS = (("geojson", "application/geo+json", "GeoJSON"), ("csv", "text/csv", "CSV"),
             ("gpkg", "application/geopackage+sqlite3", "GeoPackage"))
# Queryable record properties (besides q, bbox and datetime) and their JSON types.
RECORD_FIELDS = {
    "title": {"type": "string"}, "description": {"type": "string"},
    "type": {"type": "string"}, "publisher": {"type": "string"},
    "license": {"type": "string"}, "theme": {"type": "string"},
    "updateFrequency": {"type": "string"}, "keywords": {"type": "string"},
    "synthetic": {"type": "boolean"}, "updated": {"type": "string", "format": "date-time"},
}


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def record(layer, extent) -> dict:
    """One layer's catalogue record (OGC API Records core record, GeoJSON encoding). Links are
    site-relative; `ogc.config.with_base_url` makes them absolute."""
    bbox, interval = extent
    geometry = None  # a layer without features covers no place
    if bbox:
        minx, miny, maxx, maxy = bbox
        geometry = {"type": "Polygon", "coordinates": [[[minx, miny], [maxx, miny], [maxx, maxy],
                                                        [minx, maxy], [minx, miny]]]}
    if interval:
        time = {"interval": list(interval)}
    elif layer.data_date:
        time = {"date": layer.data_date.isoformat()}
    else:
        time = None
    slug = layer.slug
    links = [
        {"rel": "collection", "type": "application/json", "title": layer.title_pl,
         "href": f"/ogc/collections/{slug}"},
        {"rel": "items", "type": "application/geo+json", "title": "OGC API – Features",
         "href": f"/ogc/collections/{slug}/items"},
        {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
         "type": "application/json", "title": "OGC API – Tiles",
         "href": f"/ogc/collections/{slug}/tiles"},
        {"rel": "alternate", "type": "text/html", "title": "Karta zbioru danych / dataset page",
         "href": f"/data/{slug}/"},
        *({"rel": "enclosure", "type": mime, "title": f"{name} download",
           "href": f"/data/{slug}.{ext}"} for ext, mime, name in DOWNLOADS),
    ]
    if layer.source_url:
        links.append({"rel": "via", "type": "text/html", "title": layer.source or "source",
                      "href": layer.source_url})
    updated = layer.last_updated or layer.updated_at
    properties = {
        "type": "dataset",
        "title": layer.title_pl,
        "title_en": layer.title_en or layer.title_pl,
        "description": layer.description_pl or layer.title_pl,
        "description_en": layer.description_en or layer.description_pl or layer.title_pl,
        "keywords": list(layer.keywords),
        "themes": [{"concepts": [{"id": layer.theme}], "scheme": "local"}]
        if layer.theme else [],
        "theme": layer.theme,
        "language": {"code": "pl"},
        "languages": [{"code": "pl"}, {"code": "en"}],
        "created": _iso(layer.created_at),
        "updated": _iso(updated),
        "publisher": layer.publisher,
        "contacts": [{"name": layer.publisher, "roles": ["publisher"]}] if layer.publisher
        else [],
        "license": layer.licence,
        "rights": layer.attribution,
        "updateFrequency": layer.update_frequency,
        "dataDate": _iso(layer.data_date),
        "qualityNotes": layer.quality_notes,
        "source": layer.source,
        "nativeCrs": layer.native_crs,
        "geometryType": layer.geometry_type,
        "synthetic": layer.synthetic,
        "formats": [{"name": name, "mediaType": mime} for _, mime, name in DOWNLOADS],
    }
    return {"id": slug, "type": "Feature", "conformsTo": [RECORD_CORE], "geometry": geometry,
            "time": time, "properties": properties, "links": links}


def catalogue_resource(layers, extents: dict) -> dict:
    records = [record(layer, extents[layer.id]) for layer in layers]
    boxes = [extents[layer.id][0] for layer in layers if extents[layer.id][0]]
    bbox = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes)] if boxes else [-180.0, -90.0, 180.0, 90.0]
    return {
        "type": "collection",
        "title": {"pl": "Katalog zbiorów danych", "en": "Dataset catalogue"},
        "description": {
            "pl": "Metadane wszystkich publicznych zbiorów danych (OGC API – Records). "
                  "Wyszukiwanie: q, bbox, datetime.",
            "en": "Metadata of every public dataset (OGC API – Records). Search with q, bbox "
                  "and datetime."},
        "keywords": ["catalogue", "metadata", "katalog", "metadane"],
        # No temporal extent here on purpose: pygeoapi would reject `datetime` values outside
        # it instead of returning no records.
        "extents": {"spatial": {"bbox": bbox,
                                "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
        "links": [{"type": "application/ld+json", "rel": "alternate",
                   "title": "DCAT-AP (JSON-LD)", "href": "/ogc/dcat"},
                  {"type": "text/turtle", "rel": "alternate",
                   "title": "DCAT-AP (Turtle)", "href": "/ogc/dcat?f=ttl"}],
        "providers": [{"type": "record", "name": PROVIDER, "data": CATALOGUE,
                       "id_field": "id", "title_field": "title", "time_field": "updated",
                       "records": records}],
    }


def _intersects(a, b) -> bool:
    return not (a[2] < b[0] or a[0] > b[2] or a[3] < b[1] or a[1] > b[3])


def _record_interval(rec) -> tuple[str, str] | None:
    time = rec.get("time") or {}
    if "interval" in time:
        return time["interval"][0], time["interval"][1]
    if "date" in time:
        return time["date"], time["date"]
    return None


def _parse_when(raw: str) -> tuple[str | None, str | None]:
    def instant(value):
        value = value.strip()
        if value in ("", ".."):
            return None
        try:
            if len(value) == 10:
                return datetime.date.fromisoformat(value).isoformat()
            return datetime.datetime.fromisoformat(value).date().isoformat()
        except ValueError:
            raise ProviderInvalidQueryError(
                user_msg=f"datetime: {value!r} is not an RFC 3339 date or date-time") from None
    if "/" in raw:
        start, _, end = raw.partition("/")
        return instant(start), instant(end)
    day = instant(raw)
    return day, day


class CatalogueProvider(BaseProvider):
    def __init__(self, provider_def):
        super().__init__(provider_def)
        self.records = provider_def.get("records", [])
        self._fields = dict(RECORD_FIELDS)

    def get_fields(self) -> dict:
        return self._fields

    def _value(self, rec, name):
        if name == "id":
            return rec["id"]
        return rec["properties"].get(name)

    def query(self, offset=0, limit=10, resulttype="results", bbox=None, datetime_=None,
              properties=None, sortby=None, select_properties=None, skip_geometry=False,
              q=None, filterq=None, **kwargs):
        if filterq is not None:
            raise ProviderInvalidQueryError(
                user_msg="the catalogue is searched with q, bbox, datetime and properties; "
                         "filter is not supported here")
        found = list(self.records)
        if q:
            terms = [t.strip().lower() for t in q.replace(",", " ").split() if t.strip()]
            found = [r for r in found if all(t in _search_text(r) for t in terms)]
        if bbox:
            box = [bbox[0], bbox[1], bbox[3], bbox[4]] if len(bbox) == 6 else list(bbox)
            if not all(math.isfinite(v) for v in box):
                raise ProviderInvalidQueryError(user_msg="bbox values must be finite")
            found = [r for r in found if r["geometry"] and _intersects(_record_box(r), box)]
        if datetime_:
            start, end = _parse_when(datetime_)
            found = [r for r in found if (iv := _record_interval(r)) and
                     (end is None or iv[0] <= end) and (start is None or iv[1] >= start)]
        for name, value in properties or []:
            if name not in self._fields and name != "id":
                continue
            wanted = str(value).lower()
            found = [r for r in found if _matches(self._value(r, name), wanted)]
        for sort in reversed(sortby or []):
            name = sort["property"]
            found.sort(key=lambda r: (self._value(r, name) is None, str(self._value(r, name))),
                       reverse=sort.get("order") == "-")
        matched = len(found)
        if offset > 0 and offset >= matched and resulttype != "hits":
            raise ProviderInvalidQueryError(
                user_msg=f"offset {offset} is beyond the end: {matched} records match this "
                         f"query (offsets 0 to {max(0, matched - 1)})")
        page = [] if resulttype == "hits" else found[offset:offset + limit]
        features = []
        for rec in page:
            rec = dict(rec)
            if select_properties:
                rec["properties"] = {k: v for k, v in rec["properties"].items()
                                     if k in select_properties}
            if skip_geometry:
                rec["geometry"] = None
            features.append(rec)
        return {"type": "FeatureCollection", "features": features, "numberMatched": matched,
                "numberReturned": len(features)}

    def get(self, identifier, **kwargs):
        for rec in self.records:
            if rec["id"] == identifier:
                return dict(rec)
        raise ProviderItemNotFoundError(user_msg=f"no record {identifier!r} in the catalogue")

    def __repr__(self):
        return "<CatalogueProvider>"


def _matches(value, wanted: str) -> bool:
    if isinstance(value, list):
        return any(str(v).lower() == wanted for v in value)
    if isinstance(value, bool):
        return str(value).lower() == wanted
    return value is not None and str(value).lower() == wanted


def _record_box(rec) -> list[float]:
    ring = rec["geometry"]["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    return [min(xs), min(ys), max(xs), max(ys)]


def _search_text(rec) -> str:
    p = rec["properties"]
    parts = [rec["id"], p.get("title"), p.get("title_en"), p.get("description"),
             p.get("description_en"), p.get("publisher"), p.get("theme"), p.get("source"),
             " ".join(p.get("keywords") or [])]
    return " ".join(str(x) for x in parts if x).lower()
