"""GET /admin/v1/health: every deployment's circuit and every model's status, for operators.

The admin-key check here is deliberately tiny and local (constant-time compare against the
runtime's admin key); it gives way to the shared /admin/v1 authentication on merge."""

from __future__ import annotations

import hmac

from aiohttp import web

from farebox.api.render import json_response
from farebox.api.state import runtime
from farebox.errors import InvalidApiKey


def _check_admin(request: web.Request) -> None:
    expected = runtime(request).admin_key
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise InvalidApiKey("A valid admin key is required (Authorization: Bearer $FAREBOX_ADMIN_KEY).")


async def health(request: web.Request) -> web.Response:
    _check_admin(request)
    rt = runtime(request)
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
