"""A scriptable fake of Anthropic's Messages API (POST /v1/messages), on loopback.

It speaks the real wire format: the same Reply answers as a Message JSON or, when the request has
`stream: true`, as the real event sequence (message_start, content blocks with their deltas, pings,
message_delta, message_stop). It checks requests the way Anthropic does where it matters to us
(x-api-key, anthropic-version, required fields, alternating roles, thinking rules, no fields
Anthropic does not know) and answers 4xx like Anthropic when they are wrong. Every request is
recorded in `fake.requests`.

    base_url, fake = await start_fake_anthropic([Reply.text("Hi")])
    ...
    await fake.close()
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

API_KEY = "sk-ant-test"

# Top-level request fields the Messages API knows; anything else means a field leaked through.
KNOWN_FIELDS = frozenset({
    "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "top_p",
    "top_k", "metadata", "tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers",
    "context_management", "output_config",
})
BLOCK_TYPES = frozenset({"text", "image", "document", "tool_use", "tool_result", "thinking",
                         "redacted_thinking"})


@dataclass
class Reply:
    """One scripted answer. `content` holds Anthropic content blocks."""

    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "end_turn"
    input_tokens: int = 12
    output_tokens: int = 7
    cache_read: int = 0
    cache_write: int = 0
    status: int = 200  # not 200: answer `error` with this status instead
    error: tuple[str, str] | None = None  # (type, message)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    chunk_delay: float = 0.0  # seconds between stream events
    fail_after: int | None = None  # stream: send an `error` event after this many events
    fail_with: tuple[str, str] = ("overloaded_error", "Overloaded")
    drop_after: int | None = None  # stream: close the connection after this many events

    @classmethod
    def text(cls, text: str, **kw: Any) -> Reply:
        return cls(content=[{"type": "text", "text": text}], **kw)

    @classmethod
    def tool_calls(cls, *calls: tuple[str, dict[str, Any]], text: str | None = None, **kw: Any) -> Reply:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        blocks += [{"type": "tool_use", "id": f"toolu_{i:02d}fake", "name": name, "input": args}
                   for i, (name, args) in enumerate(calls)]
        return cls(content=blocks, stop_reason="tool_use", **kw)

    @classmethod
    def thinking(cls, thinking: str, text: str, **kw: Any) -> Reply:
        return cls(content=[{"type": "thinking", "thinking": thinking, "signature": "EqQBCgIYAhIMfake"},
                            {"type": "text", "text": text}], **kw)

    @classmethod
    def failure(cls, status: int, kind: str, message: str, **kw: Any) -> Reply:
        return cls(status=status, error=(kind, message), **kw)

    def usage(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "cache_creation_input_tokens": self.cache_write,
                "cache_read_input_tokens": self.cache_read, "output_tokens": self.output_tokens}


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeAnthropic:
    def __init__(self, script: list[Reply] | None = None, *, api_key: str = API_KEY) -> None:
        self.script = list(script or [])
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.server: TestServer | None = None
        self.base_url = ""  # set once started
        self._served = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/messages", self.messages)
        return app

    def next_reply(self) -> Reply:
        """Script entries are used in order; the last one repeats (a default text reply if none)."""
        if not self.script:
            return Reply.text("Hello from the fake.")
        reply = self.script[min(self._served, len(self.script) - 1)]
        self._served += 1
        return reply

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return error_response(400, "invalid_request_error", "request body is not valid JSON")
        self.requests.append(Recorded(request.path, dict(request.headers), body))
        if request.headers.get("x-api-key") != self.api_key:
            return error_response(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return error_response(400, "invalid_request_error", "anthropic-version: header is required")
        problem = check_body(body)
        if problem:
            return error_response(400, "invalid_request_error", problem)
        reply = self.next_reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            kind, message = reply.error or ("api_error", "Internal server error")
            return error_response(reply.status, kind, message, reply.headers)
        msg_id = f"msg_fake{len(self.requests):04d}"
        if body.get("stream"):
            return await self.stream(request, reply, msg_id, body["model"])
        return web.json_response(message_json(reply, msg_id, body["model"]), headers=reply.headers)

    async def stream(self, request: web.Request, reply: Reply, msg_id: str, model: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8",
                                               "cache-control": "no-cache", **reply.headers})
        await response.prepare(request)
        for n, event in enumerate(stream_events(reply, msg_id, model)):
            if reply.drop_after is not None and n >= reply.drop_after:
                assert request.transport is not None
                request.transport.close()  # a dropped connection: no message_stop, no clean end
                return response
            if reply.fail_after is not None and n >= reply.fail_after:
                kind, message = reply.fail_with
                event = {"type": "error", "error": {"type": kind, "message": message}}
            await response.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            if event["type"] == "error":
                break
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
        await response.write_eof()
        return response


def error_response(status: int, kind: str, message: str,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake01"}
    return web.json_response(body, status=status, headers=headers)


def message_json(reply: Reply, msg_id: str, model: str) -> dict[str, Any]:
    return {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": reply.content,
            "stop_reason": reply.stop_reason, "stop_sequence": None, "usage": reply.usage()}


def stream_events(reply: Reply, msg_id: str, model: str) -> list[dict[str, Any]]:
    """The event sequence Anthropic sends for this reply, with deltas cut the way it cuts them."""
    start_usage = {**reply.usage(), "output_tokens": 1}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": start_usage}}]
    for index, block in enumerate(reply.content):
        events.append({"type": "content_block_start", "index": index, "content_block": _empty(block)})
        if index == 0:
            events.append({"type": "ping"})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in _deltas(block)]
        events.append({"type": "content_block_stop", "index": index})
    events.append({"type": "message_delta", "usage": {"output_tokens": reply.output_tokens},
                   "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None}})
    events.append({"type": "message_stop"})
    return events


def _empty(block: dict[str, Any]) -> dict[str, Any]:
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": ""}
    if kind == "thinking":
        return {"type": "thinking", "thinking": ""}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
    return block


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def _deltas(block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block["type"]
    if kind == "text":
        return [{"type": "text_delta", "text": p} for p in _pieces(block["text"], 5)]
    if kind == "thinking":
        return [{"type": "thinking_delta", "thinking": p} for p in _pieces(block["thinking"], 16)] + \
            [{"type": "signature_delta", "signature": block.get("signature", "sig")}]
    if kind == "tool_use":
        # Anthropic opens with an empty fragment, then cuts the JSON text anywhere.
        fragments = [""] + _pieces(json.dumps(block["input"]), 7)
        return [{"type": "input_json_delta", "partial_json": p} for p in fragments]
    return []


def check_body(body: Any) -> str | None:
    """What Anthropic would refuse in this body, phrased like Anthropic; None when it is fine."""
    if not isinstance(body, dict):
        return "body must be an object"
    unknown = set(body) - KNOWN_FIELDS
    if unknown:
        return f"{sorted(unknown)[0]}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i and message["role"] == messages[i - 1]["role"]:
            return f"messages.{i}: roles must alternate between user and assistant"  # we merge them
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not blocks:
            return f"messages.{i}: content must be non-empty"
        for block in blocks:
            if block.get("type") not in BLOCK_TYPES:
                return f"messages.{i}.content: unknown block type {block.get('type')!r}"
            if block["type"] == "text" and not block.get("text"):
                return f"messages.{i}.content: text content blocks must be non-empty"
    return _check_tools(body) or _check_thinking(body)


def _check_tools(body: dict[str, Any]) -> str | None:
    names = {t.get("name") for t in body.get("tools") or []}
    for tool in body.get("tools") or []:
        if not isinstance(tool.get("input_schema"), dict) or tool["input_schema"].get("type") != "object":
            return f"tools: input_schema of {tool.get('name')!r} must be a JSON schema of type object"
    choice = body.get("tool_choice")
    if choice is not None:
        if not names:
            return "tool_choice may only be specified while providing tools"
        if choice.get("type") == "tool" and choice.get("name") not in names:
            return f"tool_choice: tool {choice.get('name')!r} not found in tools"
    return None


def _check_thinking(body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking")
    if not thinking or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    budget = thinking.get("budget_tokens")
    if thinking["type"] == "adaptive":
        if budget is not None:
            return "thinking.adaptive.budget_tokens: Extra inputs are not permitted"
    elif not isinstance(budget, int) or budget < 1024:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    elif budget >= body["max_tokens"]:
        return "`max_tokens` must be greater than `thinking.budget_tokens`"
    if "temperature" in body or "top_k" in body:
        return "temperature and top_k may not be set when thinking is enabled"
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    messages = body["messages"]
    if len(messages) >= 2 and messages[-2]["role"] == "assistant":
        blocks = messages[-2]["content"]
        if isinstance(blocks, list) and any(b["type"] == "tool_use" for b in blocks) \
                and blocks[0]["type"] not in ("thinking", "redacted_thinking"):
            return ("Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is "
                    "enabled, a final `assistant` message must start with a thinking block.")
    return None


async def start_fake_anthropic(script: list[Reply] | None = None, *,
                               api_key: str = API_KEY) -> tuple[str, FakeAnthropic]:
    """Start the fake on 127.0.0.1 (a free port). Returns (base_url, fake); `await fake.close()`."""
    fake = FakeAnthropic(script, api_key=api_key)
    fake.server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await fake.server.start_server()
    fake.base_url = str(fake.server.make_url("")).rstrip("/")
    return fake.base_url, fake
