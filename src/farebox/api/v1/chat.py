"""POST /v1/chat/completions: parse strictly, run the pipeline, render JSON or SSE."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from farebox.api.admission import authenticate_and_rate_limit
from farebox.api.render import json_response
from farebox.api.state import EXTRA_HEADERS, REQUEST_ID, SHOWN_REQUEST_ID, runtime
from farebox.api.v1.chat_body import read_chat_body
from farebox.errors import GatewayError
from farebox.pipeline.call import Call
from farebox.pipeline.chat import ChatService, log_call
from farebox.pipeline.rate_limit import NO_SLOT

DROPPED_PARAMS_HEADER = "x-farebox-dropped-params"
# The names are the client's: only plain ones go in a header (a control byte there makes aiohttp
# drop the connection), and a few, so a body of 2,000 made-up fields does not become a 200 KB header.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_MAX_NAMED = 16


async def chat_completions(request: web.Request) -> web.StreamResponse:
    rt = runtime(request)
    principal = await authenticate_and_rate_limit(request)
    headers: dict[str, str] = request[EXTRA_HEADERS]  # on every answer from here on, errors included
    body: dict[str, Any] = {}
    call: Call | None = None
    slot = NO_SLOT  # held until the JSON is sent or the stream ends (or the client goes away)
    try:
        body, needs = await read_chat_body(request, rt.config)
        slot = await rt.rate_gate.acquire(principal)
        call = await rt.chat.admit(principal, body, request[REQUEST_ID], headers, needs=needs)
        headers["x-request-id"] = request[SHOWN_REQUEST_ID]
        if call.stream:
            return await _stream(request, call, headers)
        doc = await rt.chat.complete(call)
        headers["x-farebox-model-used"] = call.model_used or ""
        _name_dropped(headers, call)
        log_call(call, 200)
        return json_response(doc, headers=headers)
    except GatewayError as exc:  # a refusal leaves its access-log line too, then becomes the answer
        log_call(call, exc.status, request_id=request[REQUEST_ID], key_prefix=principal.key_prefix,
                 model=str(body.get("model") or ""))
        raise
    finally:
        if slot.held:  # shielded: a client that went away cancels this handler
            await asyncio.shield(slot.release())


async def _stream(request: web.Request, call: Call, headers: dict[str, str]) -> web.StreamResponse:
    """Refusals up to the first byte raise (and fail over inside open_stream); after it, failures
    end the stream with an error event."""
    rt = runtime(request)
    opened = await rt.chat.open_stream(call)
    headers = dict(headers, **{"x-farebox-model-used": call.model_used or "", "Cache-Control": "no-cache"})
    _name_dropped(headers, call)
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    frames = rt.chat.relay(call, opened)
    try:
        first = await anext(frames)  # started before anything can fail, so closing it settles
        await response.prepare(request)
        if first:
            await response.write(first)
        async for frame in frames:
            await response.write(frame)
    finally:
        await frames.aclose()
    if call.settled:
        log_call(call, 200)
    await response.write_eof()
    return response


def _name_dropped(headers: dict[str, str], call: Call) -> None:
    """Every request field that did not reach the upstream, so a client can see it was ignored."""
    dropped = ChatService.dropped_params(call)
    if dropped:
        named = [name for name in dropped if _PLAIN_NAME.fullmatch(name)][:_MAX_NAMED]
        others = len(dropped) - len(named)
        headers[DROPPED_PARAMS_HEADER] = ",".join(named + ([f"{others} more"] if others else []))
