"""GET /v1/usage and /v1/balance for the caller's own account."""

from __future__ import annotations

from aiohttp import web

from farebox.api.admission import authenticate_and_rate_limit
from farebox.api.render import json_response
from farebox.api.state import runtime
from farebox.money import nano_to_usd
from farebox.services.operator import usage_report


async def usage(request: web.Request) -> web.Response:
    rt = runtime(request)
    principal = await authenticate_and_rate_limit(request, read=True)
    account = await rt.operator.account(principal.account_id)
    return json_response(await usage_report(rt.repo, account, await rt.held(principal.account_id)))


async def balance(request: web.Request) -> web.Response:
    rt = runtime(request)
    principal = await authenticate_and_rate_limit(request, read=True)
    # From the wallet's source of truth (Redis, when shared), so every process answers alike.
    balance_nano, held = await rt.wallet.snapshot(principal.account_id)
    return json_response({"object": "balance", "balance_usd": nano_to_usd(balance_nano),
                          "held_usd": nano_to_usd(held), "available_usd": nano_to_usd(balance_nano - held),
                          "currency": "USD", "account": principal.account_name, "tier": principal.tier_name})
