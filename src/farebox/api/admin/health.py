"""GET /admin/v1/health: every deployment's circuit and every model's status, for operators."""

from __future__ import annotations

from aiohttp import web

from farebox.api.admin.common import admin
from farebox.api.render import json_response
from farebox.runtime import Runtime


@admin
async def health(request: web.Request, rt: Runtime) -> web.Response:
    models = {model.id: {"status": rt.health.status(model.deployments), "deployments": model.deployments}
              for model in rt.catalog.models.values()}
    known = [name for model in rt.catalog.models.values() for name in model.deployments]
    circuit = rt.config.circuit
    return json_response({
        "object": "health",
        "circuit_policy": {"consecutive_failures": circuit.consecutive_failures, "error_rate": circuit.error_rate,
                           "window": circuit.window, "cooldown_s": circuit.cooldown},
        "models": models,
        "deployments": rt.health.snapshot(known),
    })
