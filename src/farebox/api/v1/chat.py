"""POST /v1/chat/completions: parse strictly, run the pipeline, render JSON or SSE."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import web

from farebox.api.body import decode_json, read_raw
from farebox.api.limits import authorize
from farebox.api.render import JSON_TYPE, json_response
from farebox.api.state import EXTRA_HEADERS, REQUEST_ID, SHOWN_REQUEST_ID, runtime
from farebox.config import Config
from farebox.errors import GatewayError, InvalidRequest, RequestTooLarge, UnsupportedMediaType, shown
from farebox.pipeline.call import Call
from farebox.pipeline.chat import log_call
from farebox.pipeline.rate_limit import NO_SLOT
from farebox.protocol.openai import RequestError, json_depth_exceeds, validate_chat_request

_decoder = msgspec.json.Decoder()


async def chat_completions(request: web.Request) -> web.StreamResponse:
    rt = runtime(request)
    principal = await authorize(request)
    headers: dict[str, str] = request[EXTRA_HEADERS]  # on every answer from here on, errors included
    body: dict[str, Any] = {}
    call: Call | None = None
    slot = NO_SLOT  # held until the JSON is sent or the stream ends (or the client goes away)
    try:
        body = await _read_json(request, rt.config)
        slot = await rt.limits.acquire(principal)
        call = await rt.chat.admit(principal, body, request[REQUEST_ID], headers)
        headers["x-request-id"] = request[SHOWN_REQUEST_ID]
        if call.stream:
            return await _stream(request, call, headers)
        doc = await rt.chat.complete(call)
        headers["x-farebox-model-used"] = call.model_used or ""
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


async def _read_json(request: web.Request, config: Config) -> dict[str, Any]:
    content_type = request.headers.get("Content-Type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type != JSON_TYPE and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json; got {shown(content_type or 'none', 80)!r}.")
    limits = config.limits
    raw = await read_raw(request, limits.read_limit(config.models), limits.client_timeout)
    doc = decode_json(raw, _decoder)
    if isinstance(doc, dict):
        limit = limits.body_limit(config.models, doc.get("model"))
        if len(raw) > limit:
            raise RequestTooLarge(f"The request body is over the {limit} byte limit for this model.")
        check_sizes(doc, limits.max_messages, limits.max_content_parts)
    # Nesting needs an opening bracket per level: a body with fewer than the limit cannot exceed it.
    if raw.count(b"{") + raw.count(b"[") > limits.max_json_depth and json_depth_exceeds(doc, limits.max_json_depth):
        raise InvalidRequest(f"The JSON body nests deeper than {limits.max_json_depth} levels.")
    try:
        validate_chat_request(doc)
    except RequestError as exc:
        raise InvalidRequest(exc.message, param=exc.param) from None
    return doc  # type: ignore[no-any-return]  # validated: a dict


def check_sizes(doc: dict[str, Any], max_messages: int, max_parts: int) -> None:
    """Counts first, before any walk of the body: a request of a million tiny messages is refused
    in microseconds instead of costing seconds of the event loop."""
    messages = doc.get("messages")
    if not isinstance(messages, list):
        return
    if len(messages) > max_messages:
        raise InvalidRequest(f"'messages' may hold at most {max_messages} messages; got {len(messages)}.",
                             param="messages")
    parts = sum(len(m["content"]) for m in messages if isinstance(m, dict) and isinstance(m.get("content"), list))
    if parts > max_parts:
        raise InvalidRequest(f"The messages may hold at most {max_parts} content parts in all; got {parts}.",
                             param="messages")
