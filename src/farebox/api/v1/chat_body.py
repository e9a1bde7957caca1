"""A chat request's body: read, decoded, bounded, validated, and what it needs from a model.

Small bodies (the usual case) are handled inline. A large one is handled in a worker thread,
one at a time per process: the work is the same, but the event loop keeps taking turns with
it (the GIL changes hands every few milliseconds) instead of stalling every other customer's
request for the whole parse, and two large bodies never take two shares of the loop."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import web

from farebox.api.body import decode_json, read_raw
from farebox.api.render import JSON_TYPE
from farebox.config import Config
from farebox.errors import InvalidRequest, RequestTooLarge, UnsupportedMediaType, shown
from farebox.protocol.openai import RequestError, json_depth_exceeds, validate_chat_request
from farebox.routing.needs import Needs, request_needs

OFF_LOOP_BYTES = 256 * 1024
_decoder = msgspec.json.Decoder()
READ_LIMIT = web.AppKey("read_limit", int)  # the largest body any model allows, computed once
LARGE_BODIES = web.AppKey("large_bodies", asyncio.Semaphore)  # one large body parsed at a time


async def read_chat_body(request: web.Request, config: Config) -> tuple[dict[str, Any], Needs]:
    content_type = request.headers.get("Content-Type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type != JSON_TYPE and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json; got {shown(content_type or 'none', 80)!r}.")
    limits = config.limits
    raw = await read_raw(request, request.app[READ_LIMIT], limits.client_timeout)
    if len(raw) < OFF_LOOP_BYTES:
        return parse_chat_body(raw, config)
    async with request.app[LARGE_BODIES]:
        return await asyncio.to_thread(parse_chat_body, raw, config)


def parse_chat_body(raw: bytes, config: Config) -> tuple[dict[str, Any], Needs]:
    limits = config.limits
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
    return doc, request_needs(doc)


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
