"""/health (the process is alive) and /ready (the store answers, the config is loaded)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from farebox.api.render import json_response
from farebox.api.state import runtime


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    rt = runtime(request)
    try:
        async with asyncio.timeout(2):
            await rt.repo.state_version()
    except Exception as exc:
        return json_response({"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}, 503)
    return json_response({"status": "ready", "database": "ok", "models": len(rt.catalog.models)})
