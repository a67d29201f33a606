"""pygeoapi `API` objects, cached per process on the registry stamp and the base URL.

Every request asks the database for the stamp (one sub-millisecond query), so a layer created,
renamed or hidden in any worker shows in every worker on the next request, without a restart
and without rebuilding the config on every request.
"""

import threading
from dataclasses import dataclass, field

from pygeoapi.api import API
from pygeoapi.openapi import get_oas

from ogc import config, openapi, queries

# Hosts are limited by ALLOWED_HOSTS, so few base URLs exist; the cap only guards memory.
MAX_BASE_URLS = 16
SERVED_METHODS = ("get", "head", "parameters", "summary", "description", "servers")


@dataclass
class _State:
    stamp: str
    config: dict
    apis: dict[str, API] = field(default_factory=dict)


_state: _State | None = None
_lock = threading.Lock()


def _current() -> _State:
    global _state
    stamp = queries.registry_stamp()
    state = _state
    if state is None or state.stamp != stamp:
        state = _State(stamp, config.build_config())
        _state = state
    return state


def api_for(base_url: str) -> API:
    state = _current()
    api = state.apis.get(base_url)
    if api is None:
        # The OpenAPI document is built on first use (see `openapi_document`): most requests
        # never need it and it is the costly part.
        api = API(config.with_base_url(state.config, base_url), openapi={})
        with _lock:
            if len(state.apis) < MAX_BASE_URLS:
                state.apis[base_url] = api
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
