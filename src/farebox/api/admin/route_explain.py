"""POST /admin/v1/route/explain {"tier": ..., "request": {chat body}}: smart-route's candidates
for a request, with the running gateway's live health and latency.

The admin-key check here is deliberately local and tiny (the shared admin auth lives on another
branch; it replaces `_require_admin` on merge)."""

from __future__ import annotations

import hmac

import msgspec
from aiohttp import web

from farebox.api.render import json_response
from farebox.api.state import runtime
from farebox.errors import InvalidApiKey, InvalidRequest
from farebox.routing.explain import explain_request

_decode = msgspec.json.Decoder().decode


def _require_admin(request: web.Request) -> None:
    expected = runtime(request).admin_key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                                             expected.encode()):
        raise InvalidApiKey("This route needs the admin key: Authorization: Bearer $FAREBOX_ADMIN_KEY.")


async def route_explain(request: web.Request) -> web.Response:
    _require_admin(request)
    try:
        doc = _decode(await request.read())
    except msgspec.DecodeError:
        raise InvalidRequest("The body must be JSON: {\"tier\": ..., \"request\": {...}}.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tier"), str):
        raise InvalidRequest("`tier` (a string) is required.", param="tier")
    rt = runtime(request)
    return json_response(explain_request(rt.catalog, rt.health, doc["tier"], doc.get("request")))
