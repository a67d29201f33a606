"""Settings for City SDI. Everything that differs between machines comes from the environment."""

import os
from pathlib import Path

import dj_database_url

from sdi.dbdriver import keep_django_on_psycopg2

keep_django_on_psycopg2()  # before anything imports Django's PostgreSQL backend

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
# A fixed key is only acceptable while the site answers to loopback names alone (make run,
# tests); a server reachable under any other host name refuses to start without its own key.
DEV_SECRET_KEY = "dev-only-insecure-key-change-me"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or DEV_SECRET_KEY
if SECRET_KEY == DEV_SECRET_KEY and not DEBUG and any(
        h not in ("127.0.0.1", "localhost", "testserver", "::1", "[::1]") for h in ALLOWED_HOSTS):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_ALLOWED_HOSTS names a "
                               "public host (the built-in key is for local development only)")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# The site's public address (scheme, host, port; no trailing slash), for what outlives a request
# and must not depend on the host a request came in by: the IRIs of the DCAT-AP catalogue that
# national portals harvest, links in mails. `make run`'s address by default.
PUBLIC_BASE_URL = (os.environ.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_gis",
    "drf_spectacular",
    "leaflet",
    "corsheaders",
    "csp",
    # The job queue (procrastinate on this database) before the apps that declare tasks.
    "procrastinate.contrib.django",
    "jobs",
    "ops",
    "layers",
    "tiles",
    "ogc",
    "indicators",
    "portal",
    "reports",
]

MIDDLEWARE = [
    # Request id, JSON request log and latency metrics: outermost, to see every response.
    "sdi.observability.RequestObservabilityMiddleware",
    # /healthz, /readyz, /metrics for probes and scrapers, whatever the Host (sdi/health.py).
    "sdi.health.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (policy below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Decides primary or replica before anything (sessions, auth) reads the database.
    "sdi.routers.ReplicaRoutingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "sdi.language.CityLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # A NUL in the path, a parameter, header, cookie or form: 400 (PostgreSQL text cannot hold
    # one). After the CSRF check, whose reading of a form it relies on; before any view.
    "sdi.input_guard.NulGuardMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sdi.security.LoginRateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# /tiles/ is most of the traffic and only ever answers GET with a tile or JSON: sdi.wsgi runs it
# through this shorter chain (no CSRF, messages, language, login limits or frame options, which
# only pages and forms need), which nearly halves Django's per-tile cost (bench/tiles.py). Its
# sessions and auth are kept for staff-only layers. Plain public layer tiles skip even this:
# tiles.wsgi answers them as this chain would (and stands aside if the chain is changed).
TILES_MIDDLEWARE = [
    "sdi.observability.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "sdi.routers.ReplicaRoutingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "sdi.input_guard.NulGuardMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "sdi.urls"
WSGI_APPLICATION = "sdi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "sdi" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The site menu and name of every resident page (sdi/navigation.py).
                "sdi.navigation.site",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default="postgres://sdi:sdi@127.0.0.1:5433/sdi",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
DATABASES["default"]["ENGINE"] = "django.contrib.gis.db.backends.postgis"
# A read replica by configuration alone (sdi/routers.py): without it, everything as before.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"], conn_max_age=DATABASES["default"]["CONN_MAX_AGE"],
        conn_health_checks=True)
    DATABASES["replica"]["ENGINE"] = DATABASES["default"]["ENGINE"]
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
for _db in DATABASES.values():
    # A database host that vanishes must fail a request in seconds, not hang a worker.
    _db.setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
    # The password on its own (docker-compose.yml), so that no character of it needs URL encoding.
    if os.environ.get("DATABASE_PASSWORD"):
        _db["PASSWORD"] = os.environ["DATABASE_PASSWORD"]
DATABASE_ROUTERS = ["sdi.routers.PrimaryReplicaRouter"]
DATABASE_STICKY_SECONDS = int(os.environ.get("DATABASE_STICKY_SECONDS", "10"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": (
        # Fails open (sdi/cache.py): with Redis down the site runs uncached, never 500.
        {"BACKEND": "sdi.cache.FailOpenRedisCache",
         "LOCATION": os.environ["REDIS_URL"],
         "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0}}
        if os.environ.get("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
              "OPTIONS": {"MAX_ENTRIES": 20000}}
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Polish first: the residents' language. English is the second.
LANGUAGE_CODE = "pl"
LANGUAGES = [("pl", "Polski"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Warsaw"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# The site-wide stylesheet of base.html (header, menu, error pages) lives with the project.
STATICFILES_DIRS = [BASE_DIR / "sdi" / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    # Never leaves a partial file on a full disk (sdi/storage.py).
    "default": {"BACKEND": "sdi.storage.AtomicFileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
# Where `manage.py backup` writes its archives (the `backups` volume in docker-compose.yml).
BACKUP_DIR = Path(os.environ.get("BACKUP_DIR", BASE_DIR / "var" / "backups"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    # The browsable API's answers relax the Content-Security-Policy for style attributes only.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer",
                                 "sdi.renderers.CSPBrowsableAPIRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DRF's own, refusing NUL, NaN / Infinity and over-deep JSON with a 400 (sdi.input_guard).
    "DEFAULT_PARSER_CLASSES": ["sdi.input_guard.JSONParser", "sdi.input_guard.FormParser",
                               "sdi.input_guard.MultiPartParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "City SDI API",
    "DESCRIPTION": "Layers and features (GeoJSON, ETag / If-Match), history, import; "
                   "indicators. Writes need `Authorization: Token <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}
# Uploads for layer import above this size are refused before the body is read (413).
LAYER_IMPORT_MAX_BYTES = int(os.environ.get("LAYER_IMPORT_MAX_MB", "200")) * 1024 * 1024
# A zipped upload is refused, before anything is unpacked, over this total unpacked size, this
# many files and folders, or with one member compressed more than this many times (a zip bomb).
LAYER_IMPORT_ZIP_MAX_BYTES = int(os.environ.get("LAYER_IMPORT_ZIP_MAX_MB", "400")) * 1024 * 1024
LAYER_IMPORT_ZIP_MAX_FILES = int(os.environ.get("LAYER_IMPORT_ZIP_MAX_FILES", "100"))
LAYER_IMPORT_ZIP_MAX_RATIO = int(os.environ.get("LAYER_IMPORT_ZIP_MAX_RATIO", "200"))
# GDAL reads each imported file in a child process (layers.importing.gdal_sandbox), stopped
# after this.
LAYER_IMPORT_READ_TIMEOUT = int(os.environ.get("LAYER_IMPORT_READ_TIMEOUT", "300"))

# Long work as jobs (jobs app: procrastinate on the same database; `manage.py procrastinate
# worker` runs them). A job whose worker has sent no heartbeat for JOBS_STALLED_SECONDS is
# recorded as failed; progress is written at most every JOBS_PROGRESS_SECONDS.
JOBS_STALLED_SECONDS = float(os.environ.get("JOBS_STALLED_SECONDS", "60"))
JOBS_SETTLE_EVERY_SECONDS = max(1, min(30, int(JOBS_STALLED_SECONDS // 2)))
JOBS_PROGRESS_SECONDS = float(os.environ.get("JOBS_PROGRESS_SECONDS", "1"))
JOBS_KEEP_DAYS = int(os.environ.get("JOBS_KEEP_DAYS", "90"))
JOBS_MAIL_ATTEMPTS = int(os.environ.get("JOBS_MAIL_ATTEMPTS", "8"))
JOBS_MAIL_RETRY_SECONDS = float(os.environ.get("JOBS_MAIL_RETRY_SECONDS", "60"))
PROCRASTINATE_WORKER_DEFAULTS = {
    "concurrency": int(os.environ.get("JOBS_WORKER_CONCURRENCY", "2")),
    "update_heartbeat_interval": max(0.5, JOBS_STALLED_SECONDS / 6),
    "stalled_worker_timeout": JOBS_STALLED_SECONDS,
    # On SIGTERM/SIGINT running jobs get this long to finish, then stop at their next progress
    # update (rolled back, recorded as interrupted).
    "shutdown_graceful_timeout": float(os.environ.get("JOBS_SHUTDOWN_SECONDS", "20")),
    # Our Job records keep the history; procrastinate's rows of succeeded jobs are not needed.
    "delete_jobs": "successful",
}
# Exports to files (POST /api/layers/<slug>/exports/) are kept this many days.
EXPORT_KEEP_DAYS = int(os.environ.get("EXPORT_KEEP_DAYS", "7"))
# /data/<layer>.gpkg of a larger layer is built by a job (503 + Retry-After until it is ready)
# rather than within the request (about 15 s per 200,000 points on a small server).
EXPORT_GPKG_SYNC_MAX_FEATURES = int(os.environ.get("EXPORT_GPKG_SYNC_MAX_FEATURES", "200000"))

# Basemap for every map (portal and admin). Empty = no basemap: tests and offline use.
BASEMAP_URL = os.environ.get("BASEMAP_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
BASEMAP_ATTRIBUTION = os.environ.get(
    "BASEMAP_ATTRIBUTION",
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
)



def _basemap_source(url: str) -> list[str]:
    """The basemap's origin for img-src: "https://tile.openstreetmap.org" from its tile URL
    template ({s} subdomains become a wildcard)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.replace("{s}", "*"))
    return [f"{parts.scheme}://{parts.netloc}"] if parts.scheme in ("http", "https") else []


# Content-Security-Policy (django-csp) on every response Django makes: pages, admin, OGC HTML,
# API. Scripts and styles come from our own static files only (no inline <script>, no on*=
# handlers, no style attributes or <style> elements: data reach scripts through json_script and
# data- attributes); images also from data:/blob: URLs (Leaflet, Chart.js) and the basemap's
# tile server. A route may override a directive with csp.decorators.csp_replace (e.g.
# frame-ancestors for pages meant to be embedded). docs/security.md explains each choice.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:", *_basemap_source(BASEMAP_URL)],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (50.8536, 20.6286),
    "DEFAULT_ZOOM": 12,
    "MIN_ZOOM": 3,
    "MAX_ZOOM": 19,
    "TILES": [("OSM", BASEMAP_URL, {"attribution": BASEMAP_ATTRIBUTION})] if BASEMAP_URL else [],
    "RESET_VIEW": False,
}

# Where the city fixtures (declarative config + data files) are looked up. The repository's own
# fixtures/ carries every file a city needs, so a clone alone runs; CITY_DATA_DIRS adds others.
CITY_DATA_DIRS = env_list("CITY_DATA_DIRS") or [BASE_DIR / "fixtures"]

# pygeoapi calls logging.basicConfig; a Django LOGGING dict keeps one configuration in charge.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # LOG_FORMAT=json in production: one JSON object per line, with the request id.
    "filters": {"request_id": {"()": "sdi.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "sdi.observability.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["request_id"],
                             "formatter": os.environ.get("LOG_FORMAT", "plain")}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {
        # One line per request (the access log with request ids) in JSON mode only: in dev
        # gunicorn's access log already prints it.
        "sdi.request": {"level": os.environ.get(
            "ACCESS_LOG_LEVEL", "INFO" if os.environ.get("LOG_FORMAT") == "json" else "WARNING")},
        "sdi": {"level": os.environ.get("SDI_LOG_LEVEL", "INFO")},
        "pygeoapi": {"level": os.environ.get("PYGEOAPI_LOG_LEVEL", "ERROR")},
        # The worker's job start/end lines (INFO); failures are logged by sdi.jobs as well.
        "procrastinate": {"level": os.environ.get("JOBS_LOG_LEVEL", "WARNING")},
        # pygeoapi logs every client error (4xx) at ERROR with a traceback; ogc.views logs
        # the real server errors itself.
        "pygeoapi.api": {"level": os.environ.get("PYGEOAPI_LOG_LEVEL", "CRITICAL")},
    },
}

if not DEBUG:
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HTTPS settings, all from the environment: TLS usually ends at the city's load balancer or
# nginx, which says so in X-Forwarded-Proto. Off by default: `make run` is plain HTTP.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
# Trusted proxies in front that add to X-Forwarded-For (nginx alone: 1; the city's balancer and
# nginx, as in docker-compose.yml: 2): client address and scheme come from their headers.
SDI_NUM_PROXIES = int(os.environ.get("DJANGO_NUM_PROXIES", "0"))
if SDI_NUM_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Admin login brute-force protection (sdi/security.py).
LOGIN_FAILURES_PER_IP = int(os.environ.get("LOGIN_FAILURES_PER_IP", "5"))
LOGIN_FAILURES_PER_USER = int(os.environ.get("LOGIN_FAILURES_PER_USER", "20"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "900"))

# Read-only CORS on the public APIs, so other sites' web apps can use the open data; no
# credentials, and only safe methods: cross-origin writes stay impossible from a browser.
CORS_URLS_REGEX = r"^/(api|ogc|tiles|data|open311)(/|$).*"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ["GET", "HEAD", "OPTIONS"]
CORS_EXPOSE_HEADERS = ["ETag", "Content-Crs", "Link", "X-Request-ID"]

# Debian 12 ships GDAL 3.6; Django's GDAL is used for geometry I/O, not to open untrusted files
# (uploads are read through pyogrio's bundled, newer GDAL).
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# Serve static files straight from the apps (no collectstatic) when asked: tests and dev.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)

# OGC API: how long a matched-feature count is cached (per layer version and selection); 0 = count
# on every request (bench/ogc_items.py measures both).
OGC_COUNT_CACHE_SECONDS = int(os.environ.get("OGC_COUNT_CACHE_SECONDS", "3600"))

# Resident pages that are the same for every anonymous visitor (sdi/language.py) may be kept this
# long by nginx's micro-cache, a CDN and browsers: seconds of staleness for a spike's worth of load.
PAGE_CACHE_SECONDS = int(os.environ.get("PAGE_CACHE_SECONDS", "10"))
