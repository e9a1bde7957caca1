"""GET /v1/models and /v1/models/{id}: OpenAI's list and object shapes, filtered by tier."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from farebox.api.limits import authorize
from farebox.api.render import json_response
from farebox.api.state import runtime
from farebox.errors import ModelNotFound
from farebox.routing.catalog import SMART_ROUTE, CatalogModel

CREATED = 1747526400  # 2025-05-18: a fixed date, so listings are stable


def model_object(model_id: str, owned_by: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": owned_by}


def owner(model: CatalogModel) -> str:
    if model.config.owned_by:
        return model.config.owned_by
    return model.targets[0].provider_name if model.targets else "farebox"


async def list_models(request: web.Request) -> web.Response:
    rt = runtime(request)
    principal = await authorize(request, read=True)
    models = rt.catalog.visible(principal.tier_name)
    data = [model_object(SMART_ROUTE, "farebox")] + [model_object(m.id, owner(m)) for m in models]
    return json_response({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.Response:
    rt = runtime(request)
    principal = await authorize(request, read=True)
    model_id = request.match_info["model"]
    if model_id == SMART_ROUTE:
        return json_response(model_object(SMART_ROUTE, "farebox"))
    model = rt.catalog.get(model_id)
    if not rt.catalog.allows(principal.tier_name, model):
        raise ModelNotFound(f"The model `{model_id}` does not exist or you do not have access to it.",
                            param="model")
    return json_response(model_object(model_id, owner(model)))
