"""Who is calling the OGC API, and may they write to a layer (Part 4).

Machine clients send a DRF token (`Authorization: Token <key>`, the same token as the REST API).
Such calls carry no cookies a browser would add on its own, so they are exempt from CSRF; a
session (cookie) caller writing through the OGC API must pass Django's CSRF check like any form.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.middleware.csrf import CsrfViewMiddleware
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from layers import permissions
from layers.models import Layer


@dataclass
class Caller:
    user: object
    by_token: bool
    problem: str | None = None  # why authentication failed, for the 401 message


def identify(request) -> Caller:
    header = get_authorization_header(request)
    if header:
        try:
            found = TokenAuthentication().authenticate(request)
        except AuthenticationFailed:
            # DRF's own message is translated to the site language; API messages are English.
            return Caller(AnonymousUser(), False, "invalid token, or its user is inactive")
        if found is None:
            return Caller(AnonymousUser(), False,
                          "the Authorization header must be 'Token <key>'")
        return Caller(found[0], True)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Caller(user, False)
    return Caller(AnonymousUser(), False)


def _reject(request, reason):
    return reason


def csrf_problem(request) -> str | None:
    """None if the (session) request passes Django's CSRF check, else the reason."""
    checker = CsrfViewMiddleware(lambda req: None)
    checker._reject = _reject  # return the reason rather than a 403 page
    checker.process_request(request)
    result = checker.process_view(request, None, (), {})
    return result if isinstance(result, str) else None


def can_edit(user, layer: Layer) -> bool:
    """Superusers, and members of one of the layer's editor groups (staff status alone is not
    enough): the one rule of layers.permissions."""
    return permissions.can_edit(user, layer)
