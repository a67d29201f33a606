"""Settings of the reports app, each with a default; a deployment overrides any in settings.py
(or a test with pytest-django's `settings` fixture). Read at call time, never cached."""

from django.conf import settings

DEFAULTS = {
    # The layer mirroring published reports (OGC API, tiles, downloads read it).
    "REPORTS_LAYER": "zgloszenia",
    # Areas layer for the district filter and the statistics.
    "REPORTS_DISTRICTS_LAYER": "okregi-wyborcze",
    # A report must lie inside the features of this layer (skipped when the layer is absent).
    "REPORTS_BOUNDARY_LAYER": "granica-miasta",
    # Photos: how many per report, bytes per file, pixels per image (checked from the header,
    # before decoding: a decompression bomb is refused without being expanded), and the longest
    # side of the stored, re-encoded JPEG.
    "REPORTS_MAX_PHOTOS": 3,
    "REPORTS_MAX_PHOTO_BYTES": 8 * 1024 * 1024,
    "REPORTS_MAX_PHOTO_PIXELS": 40_000_000,
    "REPORTS_PHOTO_MAX_SIDE": 1600,
    # Room in a request body for everything but the photos (text fields, multipart overhead).
    "REPORTS_MAX_FORM_BYTES": 256 * 1024,
    # (attempts, seconds). `ip` counts the reports and "me too"s one address gets accepted
    # (web form and Open311); `email` the same per email address. A form refused for its
    # content (a missing place, a short title) counts for neither: the resident corrects it
    # and sends again. `attempts` counts every form sent from one address, valid or not: a
    # flood guard well above what a person needs.
    "REPORTS_RATE_LIMITS": {"ip": (20, 3600), "email": (5, 3600), "attempts": (200, 3600)},
    # WSGI environ key holding the client address. Behind a reverse proxy set it to the header
    # the proxy overwrites (e.g. "HTTP_X_REAL_IP"); never to one a client can forge.
    "REPORTS_CLIENT_IP_KEY": "REMOTE_ADDR",
    "REPORTS_FROM_EMAIL": None,  # None: settings.DEFAULT_FROM_EMAIL
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])


def max_body_bytes() -> int:
    """The largest request body a report can need; anything larger is refused unread."""
    return get("REPORTS_MAX_PHOTOS") * get("REPORTS_MAX_PHOTO_BYTES") + get(
        "REPORTS_MAX_FORM_BYTES")


def body_too_large(request, limit: int | None = None) -> bool:
    """Whether the declared body is over `limit` (by default what a report can need); a
    malformed Content-Length counts as too large."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > (max_body_bytes() if limit is None else limit)
