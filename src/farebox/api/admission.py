"""Authenticate, then count the request against the caller's limit, before anything else: every
answer to an authenticated request (success or error) then carries the decision's headers."""

from __future__ import annotations

from aiohttp import web

from farebox.accounts.authenticate import authenticate
from farebox.accounts.directory import Principal
from farebox.api.state import EXTRA_HEADERS, REQUEST_ID, runtime
from farebox.errors import RateLimited
from farebox.pipeline.chat import log_call


async def authenticate_and_rate_limit(request: web.Request, *, read: bool = False) -> Principal:
    """`read`: the GET endpoints (models, usage, balance), counted in a bucket of their own."""
    rt = runtime(request)
    principal = authenticate(rt.directory, request.headers.get("Authorization"))
    try:
        request[EXTRA_HEADERS] = await rt.rate_gate.admit(principal, read=read)
    except RateLimited as exc:  # it carries its own headers
        log_call(None, exc.status, request_id=request[REQUEST_ID], key_prefix=principal.key_prefix)
        raise
    return principal
