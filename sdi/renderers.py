"""DRF's browsable API under the site's Content-Security-Policy.

Its templates (rest_framework/base.html) load every script from static files, but place two
buttons with style="" attributes. Those answers alone allow inline style attributes
(`style-src-attr 'unsafe-inline'`): no inline script, no <style> element, and only on the
browsable API's own pages (a developer's tool; what it shows is escaped by Django's templates).
"""

from rest_framework.renderers import BrowsableAPIRenderer


class CSPBrowsableAPIRenderer(BrowsableAPIRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_update = {"style-src-attr": ["'unsafe-inline'"]}
        return super().render(data, accepted_media_type, renderer_context)
