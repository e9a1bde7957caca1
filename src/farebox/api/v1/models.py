"""GET /v1/models and /v1/models/{id}: OpenAI's list and object shapes, filtered by tier;
with ?metadata=true (or GET /v1/model-metadata) the richer objects of routing/metadata.py."""

from __future__ import annotations

from aiohttp import web

from farebox.api.admission import authenticate_and_rate_limit
from farebox.api.render import json_response
from farebox.api.state import runtime
from farebox.errors import InvalidRequest, ModelNotFound, shown
from farebox.routing.catalog import SMART_ROUTE
from farebox.routing.metadata import (
    FILTERS,
    list_metadata,
    model_metadata,
    model_object,
    owner,
    smart_route_metadata,
)
from farebox.routing.policy import pool

_TRUE, _FALSE = ("true", "1"), ("false", "0", "")


async def list_models(request: web.Request) -> web.Response:
    return await _listing(request, metadata=_flag(request, "metadata"))


async def model_metadata_list(request: web.Request) -> web.Response:
    """GET /v1/model-metadata: LLMBase's name for /v1/models?metadata=true."""
    return await _listing(request, metadata=True)


async def _listing(request: web.Request, *, metadata: bool) -> web.Response:
    rt = runtime(request)
    principal = await authenticate_and_rate_limit(request, read=True)
    filter_name = _filter(request)
    tier = principal.tier_name
    if metadata or filter_name:
        entries = list_metadata(rt.catalog, rt.health, tier, filter_name)
        data = entries if metadata else [model_object(e["id"], e["owned_by"]) for e in entries
                                          if e["kind"] != "wildcard"]
    else:
        data = [model_object(SMART_ROUTE, "farebox")] + [model_object(m.id, owner(m))
                                                         for m in rt.catalog.visible(tier)]
    return json_response({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    rt = runtime(request)
    principal = await authenticate_and_rate_limit(request, read=True)
    model_id = request.match_info["model"]
    metadata = _flag(request, "metadata")
    tier = principal.tier_name
    if model_id == SMART_ROUTE:
        routed = [m for m in pool(rt.catalog, tier) if rt.catalog.allows(tier, m)]
        if metadata and routed:
            return json_response(smart_route_metadata(rt.catalog, rt.health, routed))
        return json_response(model_object(SMART_ROUTE, "farebox"))
    model = rt.catalog.get(model_id)
    if not rt.catalog.allows(tier, model):
        raise ModelNotFound(f"The model `{shown(model_id)}` does not exist or you do not have access to it.",
                            param="model")
    if metadata:
        return json_response(model_metadata(rt.catalog, rt.health, model))
    return json_response(model_object(model_id, owner(model)))


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "").lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise InvalidRequest(f"Invalid value for {name}: {value!r}; use true or false.", param=name)


def _filter(request: web.Request) -> str | None:
    value = request.query.get("filter")
    if value is None or value == "":
        return None
    if value not in FILTERS:
        raise InvalidRequest(f"Unknown filter {value!r}; known filters: {', '.join(FILTERS)}.", param="filter")
    return value

