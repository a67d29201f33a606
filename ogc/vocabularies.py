"""The controlled vocabularies DCAT-AP asks for, and how the layer metadata (free text typed in
the admin or a city's city.yaml) maps onto them.

Only codes of the published tables are used here (EU Vocabularies' authority tables, ADMS, IANA);
a theme, frequency or licence this module does not recognise is left out of the DCAT graph, or
(licences) described by its own text, rather than guessed.
"""

import re

EU = "http://publications.europa.eu/resource/authority/"
DATA_THEME = EU + "data-theme"
FREQUENCY = EU + "frequency"
LANGUAGE = EU + "language"
FILE_TYPE = EU + "file-type"
DATASET_TYPE = EU + "dataset-type"
ACCESS_RIGHT = EU + "access-right"
ADMS_PUBLISHER_TYPE = "http://purl.org/adms/publishertype/"
IANA_MEDIA_TYPE = "http://www.iana.org/assignments/media-types/"

# The EU data themes (DCAT-AP's dcat:theme vocabulary) and their English labels.
THEMES = {
    "AGRI": "Agriculture, fisheries, forestry and food",
    "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport",
    "ENER": "Energy",
    "ENVI": "Environment",
    "GOVE": "Government and public sector",
    "HEAL": "Health",
    "INTR": "International issues",
    "JUST": "Justice, legal system and public safety",
    "REGI": "Regions and cities",
    "SOCI": "Population and society",
    "TECH": "Science and technology",
    "TRAN": "Transport",
}
# Theme names cities use for their layers (English or Polish, lower case) -> EU data theme.
THEME_NAMES = {
    "urban planning": "REGI", "planning": "REGI", "spatial planning": "REGI",
    "boundaries": "REGI", "regions and cities": "REGI", "planowanie przestrzenne": "REGI",
    "governance": "GOVE", "government": "GOVE", "public sector": "GOVE", "elections": "GOVE",
    "administration": "GOVE", "administracja": "GOVE", "wybory": "GOVE",
    "culture": "EDUC", "education": "EDUC", "sport": "EDUC", "kultura": "EDUC",
    "edukacja": "EDUC", "oświata": "EDUC",
    "health": "HEAL", "zdrowie": "HEAL",
    "environment": "ENVI", "nature": "ENVI", "climate": "ENVI", "greenery": "ENVI",
    "środowisko": "ENVI", "zieleń": "ENVI",
    "transport": "TRAN", "mobility": "TRAN", "traffic": "TRAN",
    "economy": "ECON", "finance": "ECON", "budget": "ECON", "gospodarka": "ECON",
    "finanse": "ECON",
    "energy": "ENER", "energia": "ENER",
    "society": "SOCI", "population": "SOCI", "social": "SOCI", "demography": "SOCI",
    "społeczeństwo": "SOCI", "ludność": "SOCI",
    "safety": "JUST", "public safety": "JUST", "security": "JUST", "justice": "JUST",
    "bezpieczeństwo": "JUST",
    "science": "TECH", "technology": "TECH", "nauka": "TECH",
    "agriculture": "AGRI", "food": "AGRI", "forestry": "AGRI", "rolnictwo": "AGRI",
    "international": "INTR",
}

# Update frequencies layers declare -> EU frequency table.
FREQUENCIES = {
    "continuous": "UPDATE_CONT", "continual": "UPDATE_CONT", "continuously": "UPDATE_CONT",
    "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY", "quarterly": "QUARTERLY",
    "annual": "ANNUAL", "annually": "ANNUAL", "yearly": "ANNUAL", "biennial": "BIENNIAL",
    "irregular": "IRREG", "never": "NEVER", "unknown": "UNKNOWN", "as needed": "IRREG",
}

LANGUAGES = {"pl": "POL", "en": "ENG"}

# ADMS publisher types (the choices of Layer.publisher_type) and their English labels.
PUBLISHER_TYPES = {
    "LocalAuthority": "Local authority",
    "RegionalAuthority": "Regional authority",
    "NationalAuthority": "National authority",
    "SupraNationalAuthority": "Supra-national authority",
    "Academia-ScientificOrganisation": "Academia/Scientific organisation",
    "Company": "Company",
    "IndustryConsortium": "Industry consortium",
    "NonProfitOrganisation": "Non-profit organisation",
    "NonGovernmentalOrganisation": "Non-governmental organisation",
    "PrivateIndividual(s)": "Private individual(s)",
    "StandardisationBody": "Standardisation body",
}

SYNTHETIC_DATA = DATASET_TYPE + "/SYNTHETIC_DATA"
PUBLIC_ACCESS = ACCESS_RIGHT + "/PUBLIC"

# Licences by their canonical IRIs (the licensors' own addresses), recognised in the free text of
# a layer's `licence`. Order matters: the share-alike and public-domain variants come first.
LICENCES = (
    (re.compile(r"\bCC[- ]?BY[- ]SA[- ]?4\.0\b|creativecommons\.org/licenses/by-sa/4\.0", re.I),
     "https://creativecommons.org/licenses/by-sa/4.0/", "CC BY-SA 4.0"),
    (re.compile(r"\bCC0\b|creativecommons\.org/publicdomain/zero/1\.0", re.I),
     "https://creativecommons.org/publicdomain/zero/1.0/", "CC0 1.0"),
    (re.compile(r"\bCC[- ]?BY[- ]?4\.0\b|creativecommons\.org/licenses/by/4\.0"
                r"|Creative Commons Attribution 4\.0(?! *[-–]? *Share)", re.I),
     "https://creativecommons.org/licenses/by/4.0/", "CC BY 4.0"),
    (re.compile(r"\bODbL\b|Open Database Licen[cs]e|opendatacommons\.org/licenses/odbl", re.I),
     "https://opendatacommons.org/licenses/odbl/1-0/", "ODbL 1.0"),
    (re.compile(r"\bODC[- ]By\b|opendatacommons\.org/licenses/by/", re.I),
     "https://opendatacommons.org/licenses/by/1-0/", "ODC-By 1.0"),
    (re.compile(r"\bPDDL\b|opendatacommons\.org/licenses/pddl", re.I),
     "https://opendatacommons.org/licenses/pddl/1-0/", "PDDL 1.0"),
)


def theme_code(theme: str) -> str | None:
    """The EU data theme of a layer's theme: a theme name, a code (GOVE) or its IRI."""
    value = (theme or "").strip()
    if value.startswith(DATA_THEME + "/"):
        value = value.removeprefix(DATA_THEME + "/")
    if value.upper() in THEMES:
        return value.upper()
    return THEME_NAMES.get(value.lower())


def frequency_code(frequency: str) -> str | None:
    return FREQUENCIES.get((frequency or "").strip().lower())


def licence(text: str) -> tuple[str, str] | None:
    """(canonical IRI, short name) of a licence named in `text`, if it is one of LICENCES."""
    for pattern, iri, name in LICENCES:
        if pattern.search(text or ""):
            return iri, name
    return None
