"""The dataset catalogue as DCAT-AP 2.1 (`/ogc/dcat`), for national portals to harvest
(dane.gov.pl, data.europa.eu), in JSON-LD and Turtle from one RDF graph.

Built from the same layer metadata as the OGC API Records catalogue, for the public layers only
(staff-only and deleted layers never appear, whoever asks). Every IRI is built on the
`PUBLIC_BASE_URL` setting, never on the host a request came in by: a harvester keeps these IRIs
as the datasets' identities. Controlled values come from `ogc.vocabularies`; what a layer's free
text cannot be mapped to with certainty is left out rather than guessed, and literals carry a
language tag only where `ogc.language` is sure of it.

The shapes of DCAT-AP 2.1.1 (mandatory properties, cardinalities and the classes of objects)
are checked in tests/test_ogc_dcat.py with pyshacl; for the range shapes every vocabulary IRI
used is typed here (a frequency as dct:Frequency, a theme as skos:Concept with its label...).
"""

import threading
from dataclasses import dataclass

from django.conf import settings
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD

from layers import permissions
from ogc import config, language, queries
from ogc import vocabularies as voc

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
DQV = Namespace("http://www.w3.org/ns/dqv#")
OA = Namespace("http://www.w3.org/ns/oa#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
PREFIXES = {"dcat": DCAT, "dct": DCTERMS, "foaf": FOAF, "rdfs": RDFS, "skos": SKOS,
            "xsd": XSD, "vcard": VCARD, "dqv": DQV, "oa": OA, "gsp": GSP}

JSON_LD, TURTLE = "jsonld", "ttl"
MEDIA_TYPES = {JSON_LD: "application/ld+json", TURTLE: "text/turtle; charset=utf-8"}
# ?f= values and what they ask for; Accept: is read when there is no f.
FORMATS = {"jsonld": JSON_LD, "json": JSON_LD, "ttl": TURTLE, "turtle": TURTLE}
ACCEPTED = {"application/ld+json": JSON_LD, "application/json": JSON_LD, "text/turtle": TURTLE}

OGC_STANDARDS = {
    "features": "http://www.opengis.net/spec/ogcapi-features-1/1.0",
    "tiles": "http://www.opengis.net/spec/ogcapi-tiles-1/1.0",
}
# Files at /data/<slug>.<ext>: key, title, path, IANA media type, EU file type, descriptions.
DOWNLOADS = (
    ("geojson", "GeoJSON", "{slug}.geojson", "application/geo+json", "GEOJSON",
     "Plik GeoJSON (RFC 7946), współrzędne WGS 84.",
     "GeoJSON file (RFC 7946), WGS 84 coordinates."),
    ("csv", "CSV", "{slug}.csv", "text/csv", "CSV",
     "Tabela CSV (UTF-8, przecinki, kropka dziesiętna), geometria jako WKT.",
     "CSV table (UTF-8, commas, decimal point), geometry as WKT."),
    ("csv-excel", "CSV (Excel)", "{slug}.csv?excel=1", "text/csv", "CSV",
     "Tabela CSV dla Excela w polskiej wersji (średniki, przecinek dziesiętny, BOM).",
     "CSV table for Excel set to Polish (semicolons, decimal comma, BOM)."),
    ("gpkg", "GeoPackage", "{slug}.gpkg", "application/geopackage+sqlite3", "GPKG",
     "Plik GeoPackage (OGC), do QGIS i innych programów GIS.",
     "GeoPackage file (OGC), for QGIS and other GIS software."),
)


class FormatError(ValueError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def negotiate(request) -> str:
    """The format asked for: `?f=` if given (400 for an unknown one), else the Accept header
    (406 when it accepts neither JSON-LD nor Turtle); JSON-LD by default."""
    asked = request.GET.get("f")
    if asked is not None:
        found = FORMATS.get(asked.strip().lower())
        if found is None:
            raise FormatError(400, f"f={asked!r} is not offered here; use f=jsonld (JSON-LD) "
                                   f"or f=ttl (Turtle)")
        return found
    preferred = request.get_preferred_type(list(ACCEPTED))
    if preferred is None:
        raise FormatError(406, "the catalogue is offered as application/ld+json and "
                               "text/turtle; the Accept header allows neither")
    return ACCEPTED[preferred]


# --- the document, cached per registry state ---------------------------------------------------

@dataclass
class _Cached:
    key: tuple
    documents: dict
    graph: Graph | None = None


_cache: _Cached | None = None
_lock = threading.Lock()


def document(fmt: str) -> bytes:
    """The catalogue in `fmt`, built once per registry state (any layer change makes a new
    stamp) and base URL."""
    global _cache
    key = (queries.registry_stamp(), settings.PUBLIC_BASE_URL)
    cached = _cache
    if cached is None or cached.key != key:
        cached = _Cached(key, {})
    body = cached.documents.get(fmt)
    if body is None:
        if cached.graph is None:
            cached.graph = catalogue_graph(settings.PUBLIC_BASE_URL)
        body = serialize(cached.graph, fmt)
        with _lock:
            cached.documents[fmt] = body
    _cache = cached
    return body


def serialize(graph: Graph, fmt: str) -> bytes:
    if fmt == TURTLE:
        return graph.serialize(format="turtle", encoding="utf-8")
    context = {prefix: str(ns) for prefix, ns in PREFIXES.items()}
    return graph.serialize(format="json-ld", context=context, auto_compact=True,
                           encoding="utf-8")


def public_layers() -> list:
    # The anonymous audience whoever asks: a harvester copies what it reads to other portals.
    return list(permissions.layers_for_audience(staff=False).order_by("slug"))


def catalogue_graph(base_url: str, layers: list | None = None) -> Graph:
    layers = public_layers() if layers is None else layers
    extents = config.extents_of(layers)
    builder = _Builder(base_url.rstrip("/"), config.catalogue_metadata())
    builder.catalogue(layers)
    for layer in layers:
        builder.dataset(layer, extents[layer.id])
    return builder.graph


# --- the graph -----------------------------------------------------------------------------------

def _localized(value) -> dict[str, str]:
    """{language or "": text} of a metadata value given as a string or a {pl, en} dict."""
    if isinstance(value, dict):
        return {lang: text for lang, text in value.items() if text}
    return {"": value} if value else {}


class _Builder:
    def __init__(self, base: str, metadata: dict):
        self.base = base
        self.metadata = metadata
        self.graph = Graph()
        for prefix, namespace in PREFIXES.items():
            self.graph.bind(prefix, namespace)
        self.catalog = URIRef(f"{base}/ogc/dcat")
        self.service = URIRef(f"{base}/ogc")
        self._typed: set[tuple[URIRef, URIRef]] = set()
        self._agents: dict[tuple[str, str], BNode | URIRef] = {}
        self.publisher = self._catalogue_publisher()
        self.contact = self._contact()

    # helpers

    def add(self, subject, predicate, obj):
        self.graph.add((subject, predicate, obj))

    def text(self, subject, predicate, value: str, lang: str | None):
        if value:
            self.add(subject, predicate, Literal(value, lang=lang or None))

    def guessed(self, subject, predicate, value: str, layer=None):
        """A free text of unknown language, tagged where the language is certain."""
        context_pl = context_en = ""
        if layer is not None:
            context_pl = f"{layer.title_pl} {layer.description_pl}"
            context_en = f"{layer.title_en} {layer.description_en}"
        self.text(subject, predicate, value, language.guess(value, context_pl, context_en))

    def typed(self, iri: str, cls: URIRef) -> URIRef:
        ref = URIRef(iri)
        if (ref, cls) not in self._typed:
            self._typed.add((ref, cls))
            self.add(ref, RDF.type, cls)
        return ref

    def concept(self, iri: str, label: str, scheme: str) -> URIRef:
        ref = URIRef(iri)
        if (ref, SKOS.Concept) not in self._typed:
            self.typed(iri, SKOS.Concept)
            self.add(ref, SKOS.prefLabel, Literal(label, lang="en"))
            self.add(ref, SKOS.inScheme, URIRef(scheme))
        return ref

    def agent(self, name: str, kind: str) -> BNode:
        key = (name, kind)
        if key not in self._agents:
            node = self._agents[key] = BNode()
            self.add(node, RDF.type, FOAF.Agent)
            self.add(node, FOAF.name, Literal(name))
            self.publisher_type(node, kind)
        return self._agents[key]

    def publisher_type(self, agent, kind: str):
        if kind in voc.PUBLISHER_TYPES:
            self.add(agent, DCTERMS.type, self.concept(
                voc.ADMS_PUBLISHER_TYPE + kind, voc.PUBLISHER_TYPES[kind],
                voc.ADMS_PUBLISHER_TYPE + "1.0"))

    def document_page(self, url: str) -> URIRef:
        return self.typed(url, FOAF.Document)

    def language(self, code: str) -> URIRef:
        return self.typed(f"{voc.LANGUAGE}/{voc.LANGUAGES[code]}", DCTERMS.LinguisticSystem)

    # the catalogue, its publisher, contact point and service

    def _catalogue_publisher(self) -> URIRef:
        provider = self.metadata.get("provider", {})
        node = URIRef(f"{self.base}/ogc/dcat#publisher")
        self.add(node, RDF.type, FOAF.Agent)
        self.add(node, FOAF.name, Literal(provider.get("name") or self.base))
        # A city's catalogue is published by its local authority unless the metadata say
        # otherwise (OGC_METADATA provider.type, an ADMS publisher type).
        self.publisher_type(node, provider.get("type") or "LocalAuthority")
        if provider.get("url"):
            self.add(node, FOAF.homepage, self.document_page(provider["url"]))
        return node

    def _contact(self) -> URIRef:
        contact = self.metadata.get("contact", {})
        provider = self.metadata.get("provider", {})
        node = URIRef(f"{self.base}/ogc/dcat#contact")
        self.add(node, RDF.type, VCARD.Kind)
        self.add(node, RDF.type, VCARD.Organization)
        name = contact.get("name") or provider.get("name") or self.base
        if contact.get("position"):
            name = f"{name} – {contact['position']}"
        self.add(node, VCARD.fn, Literal(name))
        if contact.get("email"):
            self.add(node, VCARD.hasEmail, URIRef(f"mailto:{contact['email']}"))
        url = contact.get("url") or provider.get("url") or f"{self.base}/data/"
        self.add(node, VCARD.hasURL, URIRef(url))
        return node

    def catalogue(self, layers: list):
        ident = self.metadata.get("identification", {})
        node = self.catalog
        self.add(node, RDF.type, DCAT.Catalog)
        for lang, text in _localized(ident.get("title")).items():
            if lang:
                self.text(node, DCTERMS.title, text, lang)
            else:
                self.guessed(node, DCTERMS.title, text)
        for lang, text in _localized(ident.get("description")).items():
            if lang:
                self.text(node, DCTERMS.description, text, lang)
            else:
                self.guessed(node, DCTERMS.description, text)
        self.add(node, DCTERMS.publisher, self.publisher)
        self.add(node, FOAF.homepage, self.document_page(f"{self.base}/data/"))
        for code in ("pl", "en"):
            self.add(node, DCTERMS.language, self.language(code))
        themes = URIRef(voc.DATA_THEME)
        self.add(node, DCAT.themeTaxonomy, themes)
        self.add(themes, RDF.type, SKOS.ConceptScheme)
        self.add(themes, DCTERMS.title, Literal("Data theme", lang="en"))
        if layers:
            latest = max(layer.updated_at for layer in layers)
            self.add(node, DCTERMS.modified, Literal(latest.isoformat(timespec="seconds"),
                                                     datatype=XSD.dateTime))
        service = self.service
        self.add(node, DCAT.service, service)
        self.add(service, RDF.type, DCAT.DataService)
        self.text(service, DCTERMS.title, "OGC API", None)
        self.text(service, DCTERMS.description, "Warstwy jako OGC API – Features i Tiles, "
                  "katalog jako OGC API – Records.", "pl")
        self.text(service, DCTERMS.description, "The layers as OGC API – Features and Tiles, "
                  "the catalogue as OGC API – Records.", "en")
        self.add(service, DCAT.endpointURL, URIRef(f"{self.base}/ogc"))
        self.add(service, DCAT.endpointDescription, URIRef(f"{self.base}/ogc/openapi"))
        for standard in OGC_STANDARDS.values():
            self.add(service, DCTERMS.conformsTo, self.typed(standard, DCTERMS.Standard))

    # one dataset per layer

    def dataset(self, layer, extent):
        bbox, interval = extent
        page = f"{self.base}/data/{layer.slug}/"
        node = URIRef(f"{page}#dataset")
        self.add(self.catalog, DCAT.dataset, node)
        self.add(self.service, DCAT.servesDataset, node)
        self.add(node, RDF.type, DCAT.Dataset)
        self.add(node, DCTERMS.identifier, Literal(str(node)))
        self.text(node, DCTERMS.title, layer.title_pl, "pl")
        self.text(node, DCTERMS.title, layer.title_en, "en")
        description_pl = layer.description_pl or layer.title_pl
        description_en = layer.description_en or (layer.title_en if layer.title_en else "")
        if layer.synthetic:
            description_pl = f"{description_pl} Dane syntetyczne (wygenerowane, nieprawdziwe)."
            description_en = (f"{description_en} " if description_en else "") + \
                "Synthetic data (generated, not real)."
            self.text(node, DCAT.keyword, "dane syntetyczne", "pl")
            self.text(node, DCAT.keyword, "synthetic data", "en")
            self.add(node, DCTERMS.type, self.concept(voc.SYNTHETIC_DATA, "Synthetic data",
                                                      voc.DATASET_TYPE))
        self.text(node, DCTERMS.description, description_pl, "pl")
        self.text(node, DCTERMS.description, description_en, "en")
        for keyword in layer.keywords:
            self.guessed(node, DCAT.keyword, keyword, layer)
        theme = voc.theme_code(layer.theme)
        if theme:
            self.add(node, DCAT.theme, self.concept(f"{voc.DATA_THEME}/{theme}",
                                                    voc.THEMES[theme], voc.DATA_THEME))
        self.add(node, DCTERMS.publisher, self.agent(layer.publisher, layer.publisher_type)
                 if layer.publisher else self.publisher)
        self.add(node, DCAT.contactPoint, self.contact)
        self.add(node, DCAT.landingPage, self.document_page(page))
        self.add(node, DCTERMS.language, self.language("pl"))
        self.add(node, DCTERMS.accessRights, self.typed(voc.PUBLIC_ACCESS,
                                                        DCTERMS.RightsStatement))
        # The data's own dates, as their source states them; never when they were loaded here.
        if layer.issued:
            self.add(node, DCTERMS.issued, Literal(layer.issued.isoformat(), datatype=XSD.date))
        if layer.data_date:
            self.add(node, DCTERMS.modified, Literal(layer.data_date.isoformat(),
                                                     datatype=XSD.date))
        frequency = voc.frequency_code(layer.update_frequency)
        if frequency:
            self.add(node, DCTERMS.accrualPeriodicity,
                     self.typed(f"{voc.FREQUENCY}/{frequency}", DCTERMS.Frequency))
        if bbox:
            self.add(node, DCTERMS.spatial, self._location(bbox))
        if interval:
            period = BNode()
            self.add(node, DCTERMS.temporal, period)
            self.add(period, RDF.type, DCTERMS.PeriodOfTime)
            self.add(period, DCAT.startDate, Literal(interval[0], datatype=XSD.date))
            self.add(period, DCAT.endDate, Literal(interval[1], datatype=XSD.date))
        self._provenance(node, layer)
        if layer.quality_notes:
            note = BNode()
            self.add(node, DQV.hasQualityAnnotation, note)
            self.add(note, RDF.type, DQV.QualityAnnotation)
            self.add(note, OA.motivatedBy, DQV.qualityAssessment)
            self.guessed(note, OA.bodyValue, layer.quality_notes)
        if layer.source_url:
            self.add(node, FOAF.page, self.document_page(layer.source_url))
        self._distributions(node, layer, page)

    def _location(self, bbox) -> BNode:
        minx, miny, maxx, maxy = bbox
        ring = [(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy), (minx, miny)]
        wkt = "POLYGON((" + ", ".join(f"{x} {y}" for x, y in ring) + "))"
        location = BNode()
        self.add(location, RDF.type, DCTERMS.Location)
        self.add(location, DCAT.bbox, Literal(wkt, datatype=GSP.wktLiteral))
        return location

    def _provenance(self, node, layer):
        """Where the data came from and what was done to them, in words (dct:source would name a
        dataset; the sources here are files and repositories)."""
        pl, en = [], []
        if layer.source:
            pl.append(f"Wczytano z: {layer.source}.")
            en.append(f"Loaded from: {layer.source}.")
        crs = [c.strip() for c in (layer.native_crs or "").split(",") if c.strip()]
        moved = [c for c in crs if c not in ("EPSG:4326", "OGC:CRS84")]
        if moved:
            pl.append(f"Współrzędne przeliczone z {', '.join(moved)} do WGS 84 (EPSG:4326).")
            en.append(f"Coordinates converted from {', '.join(moved)} to WGS 84 (EPSG:4326).")
        if layer.source_url:
            pl.append(f"Pochodzenie: {layer.source_url}")
            en.append(f"Origin: {layer.source_url}")
        if layer.synthetic:
            pl.append("Dane wygenerowane (syntetyczne), nie pomiary ani rejestry.")
            en.append("Generated (synthetic) data, not measurements or records.")
        if not pl:
            return
        statement = BNode()
        self.add(node, DCTERMS.provenance, statement)
        self.add(statement, RDF.type, DCTERMS.ProvenanceStatement)
        self.text(statement, RDFS.label, " ".join(pl), "pl")
        self.text(statement, RDFS.label, " ".join(en), "en")

    def _licence(self, layer) -> URIRef | None:
        if not layer.licence:
            return None
        known = voc.licence(layer.licence)
        if known:
            iri, name = known
            ref = self.typed(iri, DCTERMS.LicenseDocument)
            if (ref, RDFS.label, Literal(name)) not in self.graph:
                self.add(ref, RDFS.label, Literal(name))
            return ref
        # A licence without an IRI of its own (e.g. the Polish re-use act's terms): its text,
        # served as the layer's licence sheet, is the licence document.
        ref = self.typed(f"{self.base}/data/{layer.slug}.licence.txt", DCTERMS.LicenseDocument)
        self.guessed(ref, RDFS.label, layer.licence)
        return ref

    def _distributions(self, node, layer, page: str):
        licence = self._licence(layer)
        rights = None
        if layer.attribution:
            rights = BNode()
            self.add(rights, RDF.type, DCTERMS.RightsStatement)
            self.guessed(rights, RDFS.label, layer.attribution)

        def distribution(key, title, media_type, file_type, description_pl, description_en):
            dist = URIRef(f"{page}#{key}")
            self.add(node, DCAT.distribution, dist)
            self.add(dist, RDF.type, DCAT.Distribution)
            self.text(dist, DCTERMS.title, title, None)
            self.text(dist, DCTERMS.description, description_pl, "pl")
            self.text(dist, DCTERMS.description, description_en, "en")
            self.add(dist, DCAT.mediaType,
                     self.typed(voc.IANA_MEDIA_TYPE + media_type, DCTERMS.MediaType))
            if file_type:
                self.add(dist, DCTERMS.format, self.typed(f"{voc.FILE_TYPE}/{file_type}",
                                                          DCTERMS.MediaTypeOrExtent))
            if licence is not None:
                self.add(dist, DCTERMS.license, licence)
            if rights is not None:
                self.add(dist, DCTERMS.rights, rights)
            return dist

        for key, title, path, media_type, file_type, description_pl, description_en in DOWNLOADS:
            dist = distribution(key, title, media_type, file_type, description_pl,
                                description_en)
            url = URIRef(f"{self.base}/data/{path.format(slug=layer.slug)}")
            self.add(dist, DCAT.accessURL, url)
            self.add(dist, DCAT.downloadURL, url)
        collection = f"{self.base}/ogc/collections/{layer.slug}"
        dist = distribution(
            "ogc-features", "OGC API – Features", "application/geo+json", "GEOJSON",
            "Obiekty warstwy przez OGC API – Features (filtry bbox, CQL2, stronicowanie).",
            "The layer's features through OGC API – Features (bbox and CQL2 filters, paging).")
        self.add(dist, DCAT.accessURL, URIRef(collection))
        self.add(dist, DCAT.accessService, self.service)
        self.add(dist, DCTERMS.conformsTo, self.typed(OGC_STANDARDS["features"],
                                                      DCTERMS.Standard))
        dist = distribution(
            "vector-tiles", "Vector tiles (Mapbox Vector Tile)",
            "application/vnd.mapbox-vector-tile", None,
            f"Kafle wektorowe przez OGC API – Tiles (WebMercatorQuad); TileJSON: "
            f"{self.base}/tiles/{layer.slug}.json",
            f"Vector tiles through OGC API – Tiles (WebMercatorQuad); TileJSON: "
            f"{self.base}/tiles/{layer.slug}.json")
        self.add(dist, DCAT.accessURL, URIRef(f"{collection}/tiles"))
        self.add(dist, DCAT.accessService, self.service)
        self.add(dist, DCTERMS.conformsTo, self.typed(OGC_STANDARDS["tiles"], DCTERMS.Standard))
