"""Language choice: Polish unless the visitor picked another language.

Django's LocaleMiddleware follows the browser's Accept-Language, which would show most
residents' phones (often set to English) an English page. The city's pages are Polish by
default; the language switch (Django's set_language view) stores the choice in a cookie.
"""

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers


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
        return response
