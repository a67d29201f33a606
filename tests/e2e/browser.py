"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, kept on 127.0.0.1."""

import tempfile
from contextlib import contextmanager
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--run-all-compositor-stages-before-draw"]


@contextmanager
def page(base_url: str, width: int = 1280, height: int = 800, **options):
    """A page whose every request outside `base_url`'s origin is blocked and recorded in
    `page.foreign_requests`. `options` go to the browser context (e.g. has_touch, is_mobile,
    geolocation and permissions for a phone)."""
    origin = urlsplit(base_url).netloc
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": width, "height": height}, **options)
        # Chromium keeps 250 resource timings by default; a map loads more (tiles), and the
        # tests measure page weight from these entries.
        context.add_init_script("performance.setResourceTimingBufferSize(10000)")
        pg = context.new_page()
        pg.foreign_requests = []

        def guard(route):
            if urlsplit(route.request.url).netloc == origin or route.request.url.startswith(
                    ("data:", "blob:")):
                route.continue_()
            else:
                pg.foreign_requests.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        try:
            yield pg
        finally:
            context.close()
