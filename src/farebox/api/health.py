"""/health (the process is alive) and /ready (the store answers, the config is loaded; and how
many charges are waiting to be committed)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from farebox.api.render import json_response
from farebox.api.state import runtime
from farebox.money import nano_to_usd


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Also the charges not committed yet (spooled, retried): their accounts are refused meanwhile."""
    rt = runtime(request)
    count, nano = rt.ledger.pending()
    pending = {"pending_charges": count, "pending_charges_usd": nano_to_usd(nano)}
    try:
        async with asyncio.timeout(2):
            await rt.repo.state_version()
    except Exception as exc:
        return json_response({"status": "unavailable", "database": f"unreachable: {type(exc).__name__}",
                              **pending}, 503)
    return json_response({"status": "ready", "database": "ok", "models": len(rt.catalog.models), **pending})
