"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, kept on 127.0.0.1."""

import tempfile
import time
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
        pg.wait_for_function = _polling_wait(pg)

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


def _polling_wait(pg):
    """page.wait_for_function that works under the site's Content-Security-Policy: Playwright
    compiles a string predicate inside the page with eval, which a policy without
    'unsafe-eval' refuses; page.evaluate goes through the DevTools protocol instead, so the
    predicate is polled from here."""

    def wait_for_function(expression, arg=None, *, timeout=30_000, polling=None):
        deadline = time.monotonic() + timeout / 1000
        while True:
            value = pg.evaluate(expression) if arg is None else pg.evaluate(expression, arg)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true after {timeout} ms: {expression}")
            pg.wait_for_timeout(polling if isinstance(polling, int | float) else 50)

    return wait_for_function
