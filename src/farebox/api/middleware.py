"""The one middleware: request ids, and every failure rendered as the OpenAI error envelope."""

from __future__ import annotations

import logging
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from farebox.api.render import error_response
from farebox.api.state import EXTRA_HEADERS, REQUEST_ID, SHOWN_REQUEST_ID
from farebox.errors import (
    GatewayError,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    RequestTooLarge,
    envelope,
    shown,
)

log = logging.getLogger("farebox.api")
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


_random = random.Random(secrets.randbits(128))  # seeded per process from the OS


def new_request_id() -> str:
    """24 hex characters: the time in microseconds (13), then 44 random bits (11). Unique, not
    secret (it is shown to the client), so a fast seeded generator does instead of an OS call.
    Time first, so ids sort by time and the ledger's unique index on them grows at its right
    edge instead of dirtying a random page per insert."""
    return f"{time.time_ns() // 1000:013x}{_random.getrandbits(44):011x}"


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = new_request_id()
    request[REQUEST_ID] = request_id
    client_id = request.headers.get("x-request-id")
    shown_id = client_id if client_id and _SANE_ID.fullmatch(client_id) else request_id
    request[SHOWN_REQUEST_ID] = shown_id
    try:
        response = await handler(request)
    except GatewayError as exc:
        response = error_response(exc, request.get(EXTRA_HEADERS))
    except web.HTTPException as exc:
        response = error_response(_from_http(exc, request))
    except Exception:
        log.exception("unhandled error in %s %s (request %s)", request.method, request.path, request_id)
        response = error_response(InternalError(
            f"The server had an error processing your request (request id {shown_id})."))
    if not response.prepared:
        response.headers["x-request-id"] = shown_id
        for name, value in (request.get(EXTRA_HEADERS) or {}).items():  # rate limits, on every answer
            response.headers.setdefault(name, value)
    return response


async def plain_server_header(_request: web.Request, response: web.StreamResponse) -> None:
    """No `Server: Python/3.x aiohttp/3.y` banner: versions only help an attacker. And the
    envelope on errors aiohttp raises before any middleware runs (an unknown `Expect`)."""
    response.headers["Server"] = "farebox"
    if isinstance(response, web.HTTPException) and response.status >= 400:  # the middleware converts the rest
        response.body = msgspec.json.encode(envelope(InvalidRequest(f"{response.reason}.")))
        response.content_type = "application/json"


def _from_http(exc: web.HTTPException, request: web.Request) -> GatewayError:
    if exc.status == 404:
        return NotFound(f"Unknown route: {request.method} {request.path}.")
    if exc.status == 405:
        return MethodNotAllowed(f"Method {request.method} is not allowed on {request.path}.")
    if exc.status == 413:
        return RequestTooLarge("The request body is too large.")
    return InvalidRequest(shown(exc.reason or "Bad request."))
