"""The open data catalogue: every public layer with its metadata, searchable with or without
Polish diacritics ("szkoły" and "szkoly" find the same layer).

Metadata come from the layer registry (one source of truth for the admin, this page, the OGC
Records catalogue and the downloads); feature counts and extents are computed by PostGIS in
one grouped query.
"""

from dataclasses import dataclass, field

from django.contrib.gis.db.models import Extent
from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy

from layers import licences
from layers.csvfile import EXCEL_PARAM
from layers.models import Feature, Layer
from portal import text
from sdi.language import lang, localized

# The layer checks take about a second per 100,000 features; bigger layers are only scored
# when a score for their current version is already cached.
QUALITY_LIVE_MAX_FEATURES = 20_000
# Every CSV link on the pages comes in the two forms of layers.csvfile, side by side:
# (query added to the plain address, label, tooltip).
CSV_FORMS = [
    ("", "CSV", gettext_lazy("Commas and decimal points: for scripts, GIS and most programs")),
    (f"?{EXCEL_PARAM}=1", gettext_lazy("CSV (Excel)"),
     gettext_lazy("Semicolons and decimal commas: opens straight in Excel set to Polish")),
]
# (what follows /data/<layer>. in the address, label, tooltip)
DOWNLOAD_FORMATS = [("geojson", "GeoJSON", ""),
                    *((f"csv{query}", label, title) for query, label, title in CSV_FORMS),
                    ("gpkg", "GeoPackage", "")]


def csv_links(path: str) -> list[dict]:
    """Both forms of the CSV at `path` (which may have a query string already)."""
    return [{"href": path + (query.replace("?", "&") if "?" in path else query),
             "label": label, "title": title} for query, label, title in CSV_FORMS]


@dataclass
class Dataset:
    layer: Layer
    title: str
    description: str
    feature_count: int
    extent: tuple[float, float, float, float] | None
    quality: dict | None
    theme_label: str
    frequency_label: str
    keywords: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.layer.slug

    @property
    def licence(self) -> dict:
        """{"text", "name", "url"}: the licence named in the visitor's language, linked."""
        return licences.describe(self.layer.licence, lang())

    @property
    def quality_notes(self) -> str:
        la = self.layer
        return (la.quality_notes_en if lang() == "en" and la.quality_notes_en
                else la.quality_notes)


def _quality(layer: Layer, boundary: Layer | None, feature_count: int) -> dict | None:
    """The layer's quality score from the indicators app's checks (PostGIS), cached per layer
    version: every edit bumps the version, so a cached score is never out of date. None when
    the checks are unavailable or the layer has no features to score."""
    try:
        from indicators.quality import check_layer
    except ImportError:
        return None
    city = f"{boundary.pk}@{boundary.version}" if boundary else "-"
    # The day is in the key too: freshness changes with the date, not only with edits.
    key = (f"portal:quality:{layer.pk}@{layer.version}:{city}:{layer.data_date}:"
           f"{timezone.localdate().isoformat()}")
    found = cache.get(key)
    if found is None and feature_count > QUALITY_LIVE_MAX_FEATURES:
        return None  # too big to check while a visitor waits; shown as "not assessed yet"
    if found is None:
        result = check_layer(layer, boundary)
        found = {"score": result["score"],
                 "flagged": [(c["check"], c["flagged"]) for c in result["checks"]
                             if c["flagged"]]}
        cache.set(key, found, 24 * 3600)
    if found["score"] is None:
        return None
    return {"score": found["score"],
            "flagged": [text.quality_flag(name, n, layer.data_date)
                        for name, n in found["flagged"]]}


def _boundary() -> Layer | None:
    return (Layer.objects.filter(role=Layer.Role.BOUNDARY, visibility=Layer.Visibility.PUBLIC)
            .order_by("id").first())


def datasets(public_only: bool = True) -> list[Dataset]:
    layers = Layer.objects.all()
    if public_only:
        layers = layers.filter(visibility=Layer.Visibility.PUBLIC)
    stats = {row["layer_id"]: row for row in (
        Feature.objects.filter(layer__in=layers).values("layer_id")
        .annotate(n=Count("id"), extent=Extent("geom")))}
    result = []
    boundary = _boundary()
    for la in layers.order_by("title_pl"):
        st = stats.get(la.id, {})
        result.append(Dataset(
            layer=la, title=localized(la, "title") or la.slug,
            description=localized(la, "description"), feature_count=st.get("n", 0),
            extent=st.get("extent"), quality=_quality(la, boundary, st.get("n", 0)),
            theme_label=text.theme(la.theme),
            frequency_label=text.frequency(la.update_frequency), keywords=list(la.keywords)))
    return result


def get(slug: str) -> Dataset | None:
    return next((d for d in datasets() if d.slug == slug), None)


def _haystack(d: Dataset) -> str:
    la = d.layer
    parts = [la.slug, la.title_pl, la.title_en, la.description_pl, la.description_en,
             la.publisher, la.theme, d.theme_label, la.licence, d.licence["name"],
             la.attribution, " ".join(la.keywords)]
    return text.fold(" ".join(p for p in parts if p))


def search(items: list[Dataset], q: str = "", theme: str = "", keyword: str = "",
           licence: str = "") -> list[Dataset]:
    """Datasets matching every word of `q` (diacritics and case ignored) and the filters."""
    words = text.fold(q).split()
    found = []
    for d in items:
        hay = _haystack(d)
        if words and not all(w in hay for w in words):
            continue
        if theme and d.layer.theme != theme:
            continue
        if keyword and text.fold(keyword) not in {text.fold(k) for k in d.keywords}:
            continue
        if licence and d.layer.licence != licence:
            continue
        found.append(d)
    return found


def facets(items: list[Dataset]) -> dict[str, list[tuple[str, str, int]]]:
    """(value, label, count) for each filter, over all public datasets."""
    def count(values):
        tally: dict[str, int] = {}
        for v in values:
            if v:
                tally[v] = tally.get(v, 0) + 1
        return tally

    themes = count(d.layer.theme for d in items)
    keywords = count(k for d in items for k in d.keywords)
    licence_counts = count(d.layer.licence for d in items)
    return {
        "theme": sorted(((v, text.theme(v), n) for v, n in themes.items()),
                        key=lambda t: text.fold(t[1])),
        "keyword": sorted(((v, v, n) for v, n in keywords.items()),
                          key=lambda t: text.fold(t[1])),
        "licence": sorted(((v, licences.describe(v, lang())["name"], n)
                           for v, n in licence_counts.items()),
                          key=lambda t: text.fold(t[1])),
    }


def json_ld(d: Dataset, page_url: str, base_url: str) -> dict:
    """schema.org Dataset markup, for search engines and data portals that harvest it."""
    la = d.layer
    doc = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "@id": page_url,
        "url": page_url,
        "identifier": la.slug,
        "name": la.title_pl,
        "alternateName": la.title_en or None,
        "description": la.description_pl or la.title_pl,
        "keywords": list(la.keywords) + ([la.theme] if la.theme else []),
        # schema.org wants the licence's address where there is one.
        "license": d.licence["url"] or la.licence or None,
        "creditText": la.attribution or None,
        "isAccessibleForFree": True,
        "publisher": {"@type": "Organization", "name": la.publisher} if la.publisher else None,
        "isBasedOn": la.source_url or None,
        "dateModified": la.last_updated.isoformat() if la.last_updated else None,
        "temporalCoverage": la.data_date.isoformat() if la.data_date else None,
        "inLanguage": ["pl", "en"],
        "distribution": [
            {"@type": "DataDownload", "encodingFormat": fmt_type,
             "contentUrl": f"{base_url}/data/{la.slug}.{ext}"}
            for ext, fmt_type in (("geojson", "application/geo+json"), ("csv", "text/csv"),
                                  ("gpkg", "application/geopackage+sqlite3"))
        ] + [{"@type": "DataDownload", "encodingFormat": "application/geo+json",
              "contentUrl": f"{base_url}/ogc/collections/{la.slug}/items?f=json",
              "name": "OGC API - Features"}],
    }
    if la.synthetic:
        doc["description"] = "[SYNTHETIC DATA] " + doc["description"]
    if d.extent:
        w, s, e, n = d.extent
        doc["spatialCoverage"] = {"@type": "Place", "geo": {
            "@type": "GeoShape", "box": f"{s:.6f} {w:.6f} {n:.6f} {e:.6f}"}}
    if d.feature_count:
        doc["size"] = f"{d.feature_count} features"
    return {k: v for k, v in doc.items() if v not in (None, [], "")}
