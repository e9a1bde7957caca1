"""POST /admin/v1/route/explain {"tier": ..., "request": {chat body}}: smart-route's candidates
for a request, with the running gateway's live health and latency."""

from __future__ import annotations

from aiohttp import web

from farebox.api.admin.common import admin, read_body, required_text
from farebox.api.render import json_response
from farebox.routing.explain import explain_request
from farebox.runtime import Runtime


@admin
async def route_explain(request: web.Request, rt: Runtime) -> web.Response:
    body = await read_body(request)
    tier = required_text(body, "tier")
    return json_response(explain_request(rt.catalog, rt.health, tier, body.get("request")))
