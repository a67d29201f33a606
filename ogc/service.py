"""pygeoapi `API` objects, cached per process on the registry stamp, the audience (everyone, or
staff, who also see staff-only layers) and the base URL.

Every request asks the database for the stamp (one sub-millisecond query), so a layer created,
renamed or hidden in any worker shows in every worker on the next request, without a restart
and without rebuilding the config on every request.
"""

import threading
from dataclasses import dataclass, field

from pygeoapi import l10n
from pygeoapi.api import API
from pygeoapi.openapi import get_oas

from ogc import config, openapi, queries


class _NeverKept(dict):
    def __setitem__(self, key, value):
        pass


# pygeoapi keeps the config it hands to HTML templates translated per language in a module-wide
# cache that is never refreshed: a layer created after the first English page was missing from
# every later one (a 500), and the first audience to ask (staff or anonymous) decided what every
# other one's templates got. Our configs change with the registry and differ by audience, so
# pygeoapi may translate them (a copy per HTML page) but never keep one.
l10n._cfg_cache = _NeverKept()

# Hosts are limited by ALLOWED_HOSTS, so few base URLs exist; the cap only guards memory.
MAX_BASE_URLS = 16
SERVED_METHODS = ("get", "head", "parameters", "summary", "description", "servers")


@dataclass
class _State:
    stamp: str
    configs: dict[bool, dict] = field(default_factory=dict)  # staff? -> config
    apis: dict[tuple[bool, str], API] = field(default_factory=dict)


_state: _State | None = None
_lock = threading.Lock()


def _current() -> _State:
    global _state
    stamp = queries.registry_stamp()
    state = _state
    if state is None or state.stamp != stamp:
        state = _State(stamp)
        _state = state
    return state


def api_for(base_url: str, *, staff: bool = False) -> API:
    """The API as anonymous users see it, or with `staff` as staff see it (staff-only layers
    too): two configs per registry stamp, each built on first use."""
    state = _current()
    api = state.apis.get((staff, base_url))
    if api is None:
        base = state.configs.get(staff)
        if base is None:
            base = state.configs[staff] = config.build_config(staff=staff)
        # The OpenAPI document is built on first use (see `openapi_document`): most requests
        # never need it and it is the costly part.
        api = API(config.with_base_url(base, base_url), openapi={})
        with _lock:
            if len(state.apis) < MAX_BASE_URLS:
                state.apis[(staff, base_url)] = api
    return api


def openapi_document(api: API) -> dict:
    if not api.openapi:
        # fail_on_invalid_collection=False: one broken layer must not take the document down.
        document = get_oas(api.config, fail_on_invalid_collection=False)
        # pygeoapi's own write and search operations are dropped: `ogc.openapi` describes the
        # ones the views actually serve (for layer collections only).
        for operations in document["paths"].values():
            for method in [m for m in operations if m not in SERVED_METHODS]:
                del operations[method]
        layer_ids = [key for key, resource in api.config["resources"].items()
                     if any(p.get("name") == config.PROVIDER for p in resource["providers"])]
        api.openapi = openapi.complete(document, api.config, layer_ids)
    return api.openapi
