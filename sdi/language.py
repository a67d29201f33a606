"""Language choice (Polish unless the visitor picked another language) and the cache policy of
the resident pages, which differ by language only.

Django's LocaleMiddleware follows the browser's Accept-Language, which would show most
residents' phones (often set to English) an English page. The city's pages are Polish by
default; the language switch (`switch_language`, a plain link) stores the choice in a cookie.

Caching: when a news story links the map, thousands of anonymous visitors ask for the same few
pages. A page that is the same for everybody (given the language cookie) says so with
`Cache-Control: public, max-age=PAGE_CACHE_SECONDS`, so that nginx (deploy/nginx, keyed on the
address and the language cookie) and browsers can serve it without Django. Such a page must not
set a cookie: a response with Set-Cookie is never stored by a shared cache, which is why the
language switch is a link and not Django's set_language form (its CSRF token set a cookie on
every page). Views opt in with `@shared_page`; the middleware decides at the end of the request,
after the inner middleware (CSRF, messages) had their say, and falls back to `private`
whenever the response turned out personal.
"""

from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponseRedirect
from django.utils import translation
from django.utils.cache import add_never_cache_headers, patch_cache_control, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_safe

from sdi.routers import STICKY_COOKIE

_SHARED = "_sdi_shared_page"


def lang() -> str:
    """The visitor's language: "pl" or "en"."""
    return (translation.get_language() or "pl")[:2]


def localized(obj, field_name: str) -> str:
    """obj.<field_name>_<visitor's language>, falling back to the Polish text."""
    return (getattr(obj, f"{field_name}_{lang()}", "") or getattr(obj, f"{field_name}_pl", "")
            or "")


def page_cache_seconds() -> int:
    return int(getattr(settings, "PAGE_CACHE_SECONDS", 10))


def shared_page(view):
    """Marks a view's pages as the same for every anonymous visitor of one language."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        setattr(response, _SHARED, True)
        return response

    return wrapped


def _personal(request, response) -> bool:
    """Whether this response may hold, or be meant for, one visitor only."""
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return True
    # A cookie on the way out (a CSRF token, a consumed message, a new session) makes it
    # personal, and shared caches would refuse it anyway.
    if response.cookies or getattr(getattr(request, "session", None), "modified", False):
        return True
    if "HTTP_AUTHORIZATION" in request.META:
        return True
    # An editor (a session) or someone who just saved (read-your-writes cookie): their page may
    # be fresher than everybody else's and must not be handed to others.
    if settings.SESSION_COOKIE_NAME in request.COOKIES or STICKY_COOKIE in request.COOKIES:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


def apply_page_cache_policy(request, response) -> None:
    if not getattr(response, _SHARED, False):
        return
    if _personal(request, response):
        patch_cache_control(response, private=True, max_age=0)
    else:
        patch_cache_control(response, public=True, max_age=page_cache_seconds())


class CityLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.supported = dict(settings.LANGUAGES)

    def __call__(self, request):
        lang = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if lang not in self.supported:
            lang = settings.LANGUAGE_CODE
        translation.activate(lang)
        request.LANGUAGE_CODE = lang
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", lang)
        if response.get("Content-Type", "").startswith("text/html"):
            patch_vary_headers(response, ("Cookie",))
        apply_page_cache_policy(request, response)
        return response


def safe_next(request, target: str) -> str:
    """`target` when it is a page of this site, else the home page (no open redirect)."""
    if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"


@require_safe
def switch_language(request, code: str):
    """GET /language/<code>/?next=<page>: remember the language, go back to the page.

    A GET, so that the switch is a plain link and pages need no CSRF token (no cookie); it
    only sets a display preference to a fixed value, so repeating it changes nothing more.
    """
    if code not in dict(settings.LANGUAGES):
        raise Http404(f"unknown language {code!r}")
    response = HttpResponseRedirect(safe_next(request, request.GET.get("next", "")))
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, code, max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE)
    add_never_cache_headers(response)
    return response
